"""`heymarket-bridge demo`: every sample webhook in events/ through the whole local stack, then a summary.

It starts the local stack in this process on free ports (Heymarket sandbox included), configures the
demo webhook secrets (events/webhook_secrets.json, whose tokens the sample events carry; `demo-<name>-secret` for
a source it does not name), posts each
HTTP API sample event (events/<source>/*.json) to the local API as the sender would (signatures made
afresh for this address and moment with those secrets), waits until the
queue is drained and the event source idle, then prints what happened: contacts received, accepted
and rejected (with reasons), delivered to the sandbox, dead-lettered (with reasons), the lists and
tags they ended on (events/generic/open_house_signups.json names them), and the Heymarket requests it took.

The exit status is 0 when every accepted contact ended delivered or dead-lettered; 1 when anything
went wrong (the stack did not start, a webhook got a 5xx, the queue did not drain, a contact got
lost, or no contact was accepted at all). While the stack runs, everything the handlers write (their
JSON logs, the EMF metric lines, warnings) goes to a file (.local/demo/handlers.log by default), so
the terminal keeps only the summary. Metrics stay on: Powertools with metrics disabled never clears
its buffers, which warns on every invocation and still prints once 100 values pile up.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Final
from urllib.parse import urlsplit

import urllib3

from heymarket_bridge_tools.demo_report import (
    DemoReport,
    Ledger,
    SampleWebhook,
    WebhookOutcome,
    read_dead_letter,
    read_reply,
    refusal_letter,
)
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_bridge_tools.signing import demo_webhook_secrets, resign_event
from heymarket_local.activity import BatchTotals
from heymarket_local.stack import LocalStack, LocalStackConfig, LocalStackError
from heymarket_local.template import TEMPLATE_PATH
from heymarket_sandbox import SandboxConfig

EVENTS_DIR: Final = TEMPLATE_PATH.parent / "events"
# Under the folder the demo runs in, as `local`'s logs are (never inside an installed package).
DEFAULT_LOG_FILE: Final = Path(".local") / "demo" / "handlers.log"
DEFAULT_DRAIN_TIMEOUT_S: Final = 45.0
# Headers a client sets itself (or that API Gateway added to the recorded event).
_HOP_HEADERS: Final = frozenset(
    {"host", "content-length", "connection", "transfer-encoding", "x-forwarded-for", "x-forwarded-port"}
)
_HOP_HEADERS_PREFIXES: Final = ("x-forwarded-", "x-amzn-")


@dataclass(frozen=True)
class SampleEvent:
    name: str  # "generic/mixed_contacts.json"
    event: dict[str, Any]


def sample_events(events_dir: Path) -> list[SampleEvent]:
    """Every events/<source>/*.json that is an API Gateway HTTP API (payload 2.0) event, sorted by name."""
    samples: list[SampleEvent] = []
    for path in sorted(events_dir.glob("*/*.json")):
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _is_http_api_event(event):
            samples.append(SampleEvent(f"{path.parent.name}/{path.name}", event))
    return samples


def as_request(sample: SampleEvent, *, api_url: str, secrets: Mapping[str, Any], now: datetime) -> SampleWebhook:
    """The request the sample's sender would make to the local API at `now`, signed afresh with the demo secret.

    Signatures that cover a timestamp (HubSpot, Calendly) or the URL (HubSpot) cannot be replayed as
    recorded, so each sample is re-signed for this API's address (the URL the local stack serves, which it checks
    such signatures against: its PublicBaseUrl) and this moment.
    """
    event = copy.deepcopy(sample.event)
    event["requestContext"]["domainName"] = urlsplit(api_url).netloc
    source = str((event.get("pathParameters") or {}).get("source", ""))
    secret = secrets.get(source)
    if isinstance(secret, str) and secret:
        with contextlib.suppress(ValueError):  # a source the signer does not know is posted as recorded
            event = resign_event(event, secret, now, url=_posted_url(api_url, event))
    return _as_request(sample.name, event)


def _posted_url(api_url: str, event: Mapping[str, Any]) -> str:
    query = event.get("rawQueryString") or ""
    return f"{api_url.rstrip('/')}{event['rawPath']}" + (f"?{query}" if query else "")


def _is_http_api_event(event: Any) -> bool:
    if not isinstance(event, dict) or event.get("version") != "2.0" or not isinstance(event.get("rawPath"), str):
        return False
    context = event.get("requestContext")
    return isinstance(context, dict) and isinstance(context.get("http"), dict)


def _as_request(name: str, event: Mapping[str, Any]) -> SampleWebhook:
    headers = {
        str(key): str(value)
        for key, value in (event.get("headers") or {}).items()
        if value != "" and key.lower() not in _HOP_HEADERS and not key.lower().startswith(_HOP_HEADERS_PREFIXES)
    }
    if event.get("cookies"):
        headers["cookie"] = "; ".join(event["cookies"])
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode("utf-8")
    query = event.get("rawQueryString") or ""
    return SampleWebhook(
        name=name,
        method=str(event["requestContext"]["http"].get("method") or "POST"),
        target=event["rawPath"] + (f"?{query}" if query else ""),
        headers=headers,
        body=body,
    )


def post_all(
    api_url: str,
    samples: Sequence[SampleEvent],
    secrets: Mapping[str, Any],
    progress: Callable[[int], None] = lambda done: None,
) -> list[WebhookOutcome]:
    """Post each sample as its sender would, signed just before it is sent; one keep-alive connection, in order."""
    outcomes = []
    with urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2.0, read=30.0)) as http:
        for sample in samples:
            webhook = as_request(sample, api_url=api_url, secrets=secrets, now=datetime.now(UTC))
            url = api_url + webhook.target
            response = http.request(webhook.method, url, body=webhook.body, headers=webhook.headers)
            outcomes.append(read_reply(webhook, response.status, response.data, dict(response.headers)))
            progress(len(outcomes))
    return outcomes


def run_demo(
    *,
    events_dir: Path = EVENTS_DIR,
    webhook_secrets_file: Path | None = None,
    log_file: Path = DEFAULT_LOG_FILE,
    parameter_overrides: Mapping[str, str | int] | None = None,
    sandbox: SandboxConfig | None = None,
    drain_timeout_s: float = DEFAULT_DRAIN_TIMEOUT_S,
    out: IO[str] | None = None,
    progress: bool = False,
    template_path: Path = TEMPLATE_PATH,
) -> int:
    """Run the demo; print the summary to `out` (default: stdout); return the exit status (0, or 1 when the summary
    names a problem). What stops it before a summary (no samples, unreadable secrets, a stack that cannot start) is
    raised as a CliError, which the command reports in its one error style.

    With `progress`, a terminal on stderr shows the webhooks being posted and the queue draining.
    """
    started = time.monotonic()
    out = out or sys.stdout  # taken before the handlers' output is redirected to the log file
    bars = _Progress(sys.stderr if progress else None)
    samples = sample_events(events_dir)
    if not samples:
        raise CliError(f"no HTTP API sample events under {events_dir}/<source>/: pass --events DIR", EXIT_USAGE)
    webhook_secrets = _webhook_secrets(webhook_secrets_file or events_dir / "webhook_secrets.json")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    ledger = Ledger()
    totals = BatchTotals()
    config = LocalStackConfig(
        sandbox=sandbox or SandboxConfig(),
        webhook_secrets=webhook_secrets,
        parameter_overrides=dict(parameter_overrides or {}),
        template_path=template_path,
    )
    print("heymarket-bridge demo: moto, the real handlers and the Heymarket sandbox, all on 127.0.0.1", file=out)
    with ExitStack() as cleanup:
        # Unwound in reverse: the stack stops while its logs still go to the file, then the file closes.
        log_stream = cleanup.enter_context(log_file.open("w", encoding="utf-8"))
        cleanup.enter_context(_logs_to(log_stream, totals))
        cleanup.enter_context(redirect_stdout(log_stream))  # EMF metrics are print()ed
        cleanup.enter_context(redirect_stderr(log_stream))  # warnings and thread tracebacks
        stack = LocalStack(config, on_batch=ledger.record)
        try:
            stack.start()
        except LocalStackError as error:
            raise CliError(str(error)) from None
        cleanup.callback(stack.stop)
        settings = _settings_text(stack)
        print(f"Stack ready in {time.monotonic() - started:.1f} s; posting webhooks...", file=out, flush=True)
        with bars.task("posting sample webhooks", total=len(samples)) as advance:
            outcomes = post_all(stack.ready_info.api_url, samples, webhook_secrets, progress=advance)
        posted = time.monotonic()
        with bars.task("waiting for the queue to drain", total=None) as advance:
            drained = _wait_until_drained(stack, drain_timeout_s, advance)
        drain_s = time.monotonic() - posted
        report = _report(stack, outcomes, ledger, totals, drained=drained, drain_s=drain_s)
    report.check()
    print(report.render(events_dir=events_dir, log_file=log_file, settings=settings), file=out)
    print(f"Done in {time.monotonic() - started:.1f} s.", file=out, flush=True)
    return 1 if report.problems else 0


def _webhook_secrets(path: Path) -> Any:
    """The demo's webhook secrets file, read, with a deterministic `demo-<name>-secret` for each source it has no
    entry for (signing.demo_webhook_secrets: a new source needs no entry); CliError when it cannot be read."""
    try:
        return demo_webhook_secrets(path)
    except (OSError, ValueError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(
            f"cannot read the webhook secrets {path}: {reason} (pass --webhook-secrets FILE)", EXIT_USAGE
        ) from None


def _report(
    stack: LocalStack,
    outcomes: list[WebhookOutcome],
    ledger: Ledger,
    totals: BatchTotals,
    *,
    drained: bool,
    drain_s: float,
) -> DemoReport:
    """What the stack, its DLQ and the sandbox hold once the queue drained (or the wait ended)."""
    status = stack.status()
    sandbox_under_test = stack.sandbox
    assert sandbox_under_test is not None  # the demo always runs the built-in sandbox
    max_receive_count = stack.resources.max_receive_count
    bodies = stack.dead_letter_bodies()
    return DemoReport(
        outcomes=outcomes,
        ledger=ledger,
        dead_letters=[read_dead_letter(body, max_receive_count) for body in bodies if not refusal_letter(body)],
        refusal_letters=sum(1 for body in bodies if refusal_letter(body)),
        sandbox_phones={str(contact["phone"]) for contact in sandbox_under_test.contacts()},
        sandbox_stats=sandbox_under_test.stats(),
        drained=drained,
        drain_s=drain_s,
        poller=status.poller,
        left_in_queue=(status.queued, status.in_flight),
        lists=sandbox_under_test.lists(),
        contacts=sandbox_under_test.contacts(),
        tags=sandbox_under_test.tags(),
        sync=totals,
    )


def _wait_until_drained(stack: LocalStack, timeout_s: float, progress: Callable[[int], None]) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        status = stack.status()
        progress(status.poller.deleted_messages)
        if status.drained:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


class _Progress:
    """Progress bars on a terminal (rich, on the real stderr), or nothing."""

    def __init__(self, stream: IO[str] | None) -> None:
        self._stream = stream if stream is not None and stream.isatty() else None

    @contextmanager
    def task(self, description: str, *, total: int | None) -> Iterator[Callable[[int], None]]:
        if self._stream is None:
            yield lambda done: None
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
        columns += (
            [BarColumn(), MofNCompleteColumn()] if total is not None else [TextColumn("{task.completed} settled")]
        )
        console = Console(file=self._stream)
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task_id = bar.add_task(description, total=total)
            yield lambda done: bar.update(task_id, completed=done)


def _settings_text(stack: LocalStack) -> str:
    from heymarket_local.template import StackTemplate

    template = StackTemplate.load(stack.config.template_path, stack.config.parameter_overrides)
    spec = template.event_source()
    return (
        f"batch size {spec.batch_size}, batching window {spec.batching_window_s} s, "
        f"max concurrency {spec.max_concurrency}, max receive count {template.max_receive_count()}"
    )


@contextmanager
def _logs_to(stream: IO[str], totals: logging.Handler) -> Iterator[None]:
    """Send the handlers' Powertools logs and the local stack's own logs to `stream` for a while; the sync function's
    batch records to `totals` as well."""
    from heymarket_bridge.observability import logger as powertools_logger

    logger: Any = powertools_logger  # Powertools hands addHandler/removeHandler to its std logger
    handler = logger.registered_handler
    previous_stream = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
    logger.addHandler(totals)
    tools_logger = logging.getLogger("heymarket_bridge_tools")
    tools_handler = logging.StreamHandler(stream)
    tools_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    tools_logger.addHandler(tools_handler)
    previous_propagate, tools_logger.propagate = tools_logger.propagate, False
    try:
        yield
    finally:
        tools_logger.propagate = previous_propagate
        tools_logger.removeHandler(tools_handler)
        logger.removeHandler(totals)
        if previous_stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous_stream)
