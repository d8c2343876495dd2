"""The whole bridge on one machine, with no AWS account and no Docker: `LocalStack`.

It composes the parts `sam local` would need Docker for, all on 127.0.0.1:

- AWS: moto in server mode (`LocalAws`); the queue, DLQ with its redrive policy, the secrets, the
  tables and the SSM parameters are created from template.yaml by `StackTemplate.provision`;
- the handlers: the real functions/<name>/app.py, run in this process, imported afresh for each execution
  environment as a Lambda cold start imports them (`LocalFunction`). Each environment's handler is made over
  its own variables (`handler_for(env)`): the function's template environment plus AWS_ENDPOINT_URL, fake
  credentials and a region, with which boto3 reaches moto exactly as it reaches AWS. Nothing of the product
  is patched and os.environ is never written;
- the API: `HttpApi`, API Gateway HTTP API's routes and payload-2.0 events;
- the event source: `SqsEventSource`, Lambda's SQS event source mapping with the template's batch
  size, batching window, MaximumConcurrency and ReportBatchItemFailures; each concurrent invocation of the
  sync function gets an execution environment of its own (`ExecutionEnvironments`): its own module object,
  settings, clients and Heymarket request budget, as on AWS;
- Heymarket: the project's `HeymarketSandbox`, or any Heymarket-compatible URL.

Because the handlers share this process's Powertools logger and metrics, and moto's patches are
process-wide, one process runs at most one `LocalStack` at a time.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, Final

from heymarket_local.api import ApiExchange, HttpApi
from heymarket_local.aws import AWS_VARIABLES_TO_CLEAR, LOCAL_HOST, LocalAws
from heymarket_local.fetching import FETCH_FUNCTION_ID, FetchParts, with_vendor_entries
from heymarket_local.lambdas import LocalFunction
from heymarket_local.poller import BatchResult, EventSourceConfig, PollerStats, SqsEventSource
from heymarket_local.stack_setup import base_url_parameter, functions_environment, generated_webhook_secrets
from heymarket_local.template import TEMPLATE_PATH, LocalResources, StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

log = logging.getLogger(__name__)

STACK_NAME: Final = "heymarket-bridge-local"
SYNC_FUNCTION_ID: Final = "SyncFunction"
DEFAULT_API_PORT: Final = 3000
# Local-only: how soon a message the sync function did not settle is received again (SQS: 390 s).
DEFAULT_RETRY_DELAY_S: Final = 2


class LocalStackError(RuntimeError):
    """The local stack cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class LocalStackConfig:
    """How to run the local stack. Ports 0 pick free ones; template parameters apply as on `sam deploy`."""

    api_port: int = 0
    aws_port: int = 0
    sandbox_port: int = 0
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    # A Heymarket-compatible server to use instead of the sandbox, and its credentials
    # ({"secret_id", "secret_key"} or {"api_key"}).
    heymarket_url: str | None = None
    heymarket_credentials: Mapping[str, str] | None = None
    # Source name -> webhook token; None generates a token for every source (an org id for Salesforce).
    webhook_secrets: Mapping[str, str] | None = None
    parameter_overrides: Mapping[str, str | int] = field(default_factory=dict)
    retry_delay_s: int | None = DEFAULT_RETRY_DELAY_S
    # Extra variables for the functions (e.g. POWERTOOLS_LOG_LEVEL), applied over the template's.
    environment: Mapping[str, str] = field(default_factory=dict)
    template_path: Path = TEMPLATE_PATH
    # How long stop() lets requests and invocations in progress finish.
    shutdown_grace_s: float = 10.0


@dataclass(frozen=True)
class ReadyInfo:
    """What a client of the running stack needs; printed as `READY {...}` by `heymarket-bridge local`."""

    api_url: str
    aws_endpoint_url: str
    queue_url: str
    dlq_url: str
    heymarket_url: str
    webhook_secrets: dict[str, str]

    def to_json(self) -> str:
        """Everything, the webhook tokens included: for the state file (mode 0600), never for a terminal."""
        return json.dumps(asdict(self), separators=(", ", ": "))

    def announced(self, state_file: str) -> str:
        """The `READY {...}` object a terminal shows: the secret entries' names only (their values stay in
        `state_file`, mode 0600, where `send --local` reads them)."""
        shown = {**asdict(self), "webhook_secrets": sorted(self.webhook_secrets), "state_file": state_file}
        return json.dumps(shown, separators=(", ", ": "))


@dataclass(frozen=True)
class StackStatus:
    """A snapshot of the pipeline: messages waiting, in flight and dead-lettered, and what got through."""

    queued: int
    in_flight: int
    dead_lettered: int
    poller: PollerStats
    sandbox_contacts_written: int | None  # None with an external Heymarket
    heymarket_requests: int | None

    @property
    def drained(self) -> bool:
        """Nothing waiting or in flight, and the event source neither filling nor processing a batch."""
        return self.queued == 0 and self.in_flight == 0 and self.poller.idle

    def line(self) -> str:
        """The one-line live status: queue depth, delivered, dead-lettered first (terminals may cut the rest)."""
        delivered = (
            f"delivered {self.sandbox_contacts_written}"
            if self.sandbox_contacts_written is not None
            else f"settled {self.poller.deleted_messages}"
        )
        parts = [
            f"queue {self.queued} ({self.in_flight} in flight)",
            delivered,
            f"dead-lettered {self.dead_lettered}",
            f"{self.poller.invocations} invocations",
        ]
        if self.heymarket_requests is not None:
            parts.append(f"{self.heymarket_requests} Heymarket requests")
        return " | ".join(parts)


class LocalStack:
    """AWS (moto), the HTTP API, the SQS event source and Heymarket (sandbox) running the real handlers."""

    _process_lock: ClassVar[threading.Lock] = threading.Lock()
    _running: ClassVar[LocalStack | None] = None

    def __init__(
        self,
        config: LocalStackConfig | None = None,
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
        on_exchange: Callable[[ApiExchange], None] | None = None,
    ) -> None:
        """`on_batch` is called after each sync invocation, `on_exchange` after each API request (in their threads)."""
        self.config = config or LocalStackConfig()
        self._on_batch = on_batch
        self._on_exchange = on_exchange
        self._parameters: dict[str, str] = {}
        self._aws: LocalAws | None = None
        self._sandbox: HeymarketSandbox | None = None
        self._api: HttpApi | None = None
        self._poller: SqsEventSource | None = None
        self.fetching: FetchParts | None = None  # FetchFunction's event source and the vendor stand-ins (issue 25)
        self._sqs: Any = None
        self._resources: LocalResources | None = None
        self._ready: ReadyInfo | None = None
        self._functions: dict[str, LocalFunction] = {}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        """Start every part, in dependency order; on any failure stop what started and raise."""
        if self._ready is not None:
            return self
        with LocalStack._process_lock:
            if LocalStack._running is not None:
                raise LocalStackError("another LocalStack is running in this process; stop it first")
            LocalStack._running = self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        config = self.config
        # Read the template (and check the overrides) before anything listens.
        StackTemplate.load(config.template_path, config.parameter_overrides)
        heymarket_url, credentials = self._start_heymarket()
        webhook_secrets = with_vendor_entries(config.webhook_secrets or generated_webhook_secrets())
        self.fetching = FetchParts.start(webhook_secrets, LOCAL_HOST)  # issue 25: the vendor stand-ins, FetchFunction
        overrides = self.fetching.overrides(config.parameter_overrides)
        template = StackTemplate.load(
            config.template_path, {**overrides, base_url_parameter(heymarket_url): heymarket_url}
        )
        routes = template.routes()
        function_ids = sorted({route.function_id for route in routes} | {SYNC_FUNCTION_ID, FETCH_FUNCTION_ID})
        # The API binds first (a busy port fails the start before anything else runs), answering only once the
        # functions exist: its URL is the PublicBaseUrl they check URL-covering signatures (HubSpot) against, unless
        # one was given (a tunnel's, `local --public-url`).
        api = HttpApi(
            routes,
            {fid: partial(self._invoke, fid) for fid in function_ids},
            LOCAL_HOST,
            config.api_port,
            on_exchange=self._on_exchange,
        )
        self._api = _listen("the local API", config.api_port, api.bind)
        public_url = str(config.parameter_overrides.get("PublicBaseUrl") or self._api.url)
        template = template.with_parameters({**template.parameters, "PublicBaseUrl": public_url})
        self._parameters = dict(template.parameters)
        self._aws = _listen("the local AWS (moto)", config.aws_port, LocalAws(config.aws_port).start)
        event_source = template.event_source(SYNC_FUNCTION_ID)
        self._sqs = self._aws.client("sqs", max_pool_connections=event_source.max_concurrency + 8)
        resources = template.provision(
            self._sqs,
            self._aws.client("secretsmanager"),
            webhook_secrets=webhook_secrets,
            heymarket_credentials=credentials,
            dynamodb=self._aws.client("dynamodb"),
            ssm=self._aws.client("ssm"),
        )
        self._resources = resources
        # The functions' variables, read here and handed to each execution environment: the process's, minus any
        # that could add credentials, a role or a profile, then those that send boto3 to moto, then the template's.
        variables = {
            **{name: value for name, value in os.environ.items() if name not in AWS_VARIABLES_TO_CLEAR},
            **self._aws.environment(),
            **functions_environment(template, function_ids, resources),
            # Contacts waiting for a configuration fix come back after the retry delay, not SQS's 15 minutes;
            # so do list writes that failed (their follow-ups), not after a minute. A contact stays leased after
            # a request of unknown outcome for the retry delay too, not 30 s: the sandbox settles a request within
            # milliseconds, and redelivered operations come back that fast.
            **(
                {
                    "WAIT_DELAY_SECONDS": str(config.retry_delay_s),
                    "LIST_RETRY_DELAY_SECONDS": str(config.retry_delay_s),
                    "CONTACT_LEASE_MARGIN_SECONDS": str(max(config.retry_delay_s, 1)),
                    # While Heymarket is down: the circuit probes again, and contacts put back come back, as fast.
                    "HEYMARKET_CIRCUIT_OPEN_SECONDS": str(max(config.retry_delay_s, 1)),
                    "OUTAGE_BASE_DELAY_SECONDS": str(config.retry_delay_s),
                    "OUTAGE_MAX_DELAY_SECONDS": str(config.retry_delay_s),
                }
                if config.retry_delay_s is not None
                else {}
            ),
            **config.environment,
        }
        # The ingest function keeps one execution environment for every request, as the local API always ran it;
        # each concurrent sync invocation gets one of its own (see LocalFunction).
        self._functions = {
            function_id: LocalFunction.load(
                template.function(function_id),
                f"{STACK_NAME}-{function_id}",
                self._aws.region,
                variables,
                shared_environment=function_id not in (SYNC_FUNCTION_ID, FETCH_FUNCTION_ID),
            )
            for function_id in function_ids
        }
        self._api.start()
        self._poller = SqsEventSource(
            self._sqs,
            EventSourceConfig.from_template(
                event_source, resources, retry_delay_s=config.retry_delay_s, region=self._aws.region
            ),
            self._functions[SYNC_FUNCTION_ID].invoke,
            on_batch=self._on_batch,
        ).start()
        fetch = self._functions[FETCH_FUNCTION_ID]
        self.fetching.run(
            self._sqs, template, resources, fetch, retry_delay_s=config.retry_delay_s, region=self._aws.region
        )
        self._ready = ReadyInfo(
            api_url=self._api.url,
            aws_endpoint_url=self._aws.endpoint_url,
            queue_url=resources.queue_url,
            dlq_url=resources.dlq_url,
            heymarket_url=heymarket_url,
            webhook_secrets=webhook_secrets,
        )

    def _invoke(self, function_id: str, event: dict[str, Any]) -> Any:
        return self._functions[function_id].invoke(event)

    def _start_heymarket(self) -> tuple[str, dict[str, str]]:
        config = self.config
        if config.heymarket_url is not None:
            if not config.heymarket_credentials:
                raise LocalStackError("an external Heymarket URL needs credentials (secret_id/secret_key or api_key)")
            return config.heymarket_url.rstrip("/"), dict(config.heymarket_credentials)
        sandbox = HeymarketSandbox(config.sandbox, LOCAL_HOST, config.sandbox_port)
        self._sandbox = _listen("the Heymarket sandbox", config.sandbox_port, sandbox.start)
        return sandbox.url, {"secret_id": config.sandbox.secret_id, "secret_key": config.sandbox.secret_key}

    def stop(self) -> None:
        """Stop every part (API first, AWS last); safe to call twice."""
        grace_s = self.config.shutdown_grace_s
        steps: list[tuple[str, Callable[[], None]]] = []
        if self._api is not None:
            steps.append(("API", partial(self._api.stop, grace_s)))
        if self._poller is not None:
            steps.append(("event source", partial(self._poller.stop, grace_s)))
        if self.fetching is not None:
            steps.append(("fetch event source and vendor stand-ins", partial(self.fetching.stop, grace_s)))
        if self._sandbox is not None:
            steps.append(("Heymarket sandbox", self._sandbox.stop))
        if self._sqs is not None:
            steps.append(("SQS client", self._sqs.close))
        if self._aws is not None:
            steps.append(("local AWS", self._aws.stop))
        for name, step in steps:
            try:
                step()
            except Exception:  # keep stopping the other parts
                log.exception("stopping the %s failed", name)
        self._api = self._poller = self._sandbox = self._aws = self._sqs = self.fetching = None
        self._ready = None
        with LocalStack._process_lock:
            if LocalStack._running is self:
                LocalStack._running = None

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ inspection

    @property
    def ready_info(self) -> ReadyInfo:
        if self._ready is None:
            raise RuntimeError("the local stack is not running: call start() first")
        return self._ready

    @property
    def resources(self) -> LocalResources:
        if self._resources is None or self._ready is None:
            raise RuntimeError("the local stack is not running: call start() first")
        return self._resources

    @property
    def template_parameters(self) -> dict[str, str]:
        """The template's parameter values this stack runs with (defaults and overrides), as `sam deploy` has them."""
        if self._ready is None:
            raise RuntimeError("the local stack is not running: call start() first")
        return dict(self._parameters)

    @property
    def sandbox(self) -> HeymarketSandbox | None:
        """The built-in Heymarket sandbox; None when an external Heymarket is used."""
        return self._sandbox

    @property
    def sqs(self) -> Any:
        """The stack's SQS client (moto)."""
        if self._sqs is None:
            raise RuntimeError("the local stack is not running: call start() first")
        return self._sqs

    @property
    def api_requests(self) -> int:
        return self._api.requests if self._api is not None else 0

    def webhook_url(self, source: str) -> str:
        return f"{self.ready_info.api_url}/webhooks/{source}"

    def status(self) -> StackStatus:
        """Queue depths, event source counters and (with the sandbox) what Heymarket received."""
        if self._poller is None:
            raise RuntimeError("the local stack is not running: call start() first")
        # Notices not yet fetched first (issue 25): a fetch finishing now puts its contact on the queue read below.
        fetching = self.fetching.pending(self._queue_counts) if self.fetching is not None else 0
        # The poller first: a message it is about to take still counts in the queue, so `drained` never lies.
        poller = self._poller.stats()
        queue = self._queue_counts(self.resources.queue_url)
        dlq = self._queue_counts(self.resources.dlq_url)
        sandbox_stats = self._sandbox.stats() if self._sandbox is not None else None
        return StackStatus(
            queued=queue[0] + fetching,
            in_flight=queue[1],
            dead_lettered=dlq[0] + dlq[1],
            poller=poller,
            sandbox_contacts_written=None if sandbox_stats is None else int(sandbox_stats["contacts_written"]),
            heymarket_requests=None if sandbox_stats is None else int(sandbox_stats["requests"]),
        )

    def _queue_counts(self, queue_url: str) -> tuple[int, int]:
        """(waiting, in flight) of a queue; delayed messages count as waiting."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesDelayed"])
        return waiting, int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_until_drained(self, timeout_s: float, poll_s: float = 0.2) -> bool:
        """Wait until the queue is empty and the event source idle; False if that did not happen in time."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.status().drained:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)

    def dead_letter_bodies(self) -> list[str]:
        """The body of every message in the DLQ, left in place (each is received once, then made visible again)."""
        handles: list[str] = []
        bodies: list[str] = []
        while True:
            messages = self.sqs.receive_message(
                QueueUrl=self.resources.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=60
            ).get("Messages", [])
            if not messages:
                break
            bodies.extend(message["Body"] for message in messages)
            handles.extend(message["ReceiptHandle"] for message in messages)
        for start in range(0, len(handles), 10):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.resources.dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                    for index, handle in enumerate(handles[start : start + 10])
                ],
            )
        return bodies


def _listen(part: str, port: int, start: Callable[[], Any]) -> Any:
    """Start a server, turning a busy or forbidden port into an error that names the part and the port."""
    try:
        return start()
    except OSError as error:
        raise LocalStackError(
            f"{part} cannot listen on {LOCAL_HOST}:{port}: {error.strerror or error}"
            + ("; choose another port or 0 for a free one" if port else "")
        ) from error
