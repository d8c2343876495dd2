"""`heymarket-bridge local`, `demo` and `sandbox`: the bridge on this machine, with no AWS account and no Docker.

`local` and `demo` need the local stack's packages (moto, PyYAML: the `local` extra); without them they say how
to install them. `sandbox` needs only the base install. The sandbox's settings are options built from
`SandboxConfig`'s fields (sandboxopts.py), so a new setting appears here without a change to this file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, Final, NoReturn

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS, PROG
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_bridge_tools.sandboxopts import apply_options, config_from_options, sandbox_options

LOCAL_EXTRA_HINT: Final = (
    "the local stack needs its packages: pip install 'heymarket-bridge[local]' "
    "(in a clone: make demo, or .venv/bin/pip install -e '.[local]')"
)
CREDENTIAL_VARIABLES: Final = ("HEYMARKET_SECRET_ID", "HEYMARKET_SECRET_KEY", "HEYMARKET_API_KEY")
LOG_DIR: Final = Path(".local/logs")
STATUS_INTERVAL_S: Final = 0.5
DEFAULT_API_PORT: Final = 3000  # local.DEFAULT_API_PORT, without importing the local stack for --help
DEFAULT_RETRY_DELAY_S: Final = 2  # local.DEFAULT_RETRY_DELAY_S
SQS_MAX_VISIBILITY_S: Final = 43_200
PORT: Final = click.IntRange(0, 65_535)


def _sandbox_config_class() -> type[Any]:
    from heymarket_sandbox import SandboxConfig

    return SandboxConfig


def _require_local_stack() -> None:
    """Fail with the install hint when the `local` extra is missing."""
    import importlib

    try:
        for module in ("moto", "yaml"):
            importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise CliError(f"{LOCAL_EXTRA_HINT} (missing: {error.name})") from None


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


_TEMPLATE_OPTION: Final = click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The SAM template to run, next to its functions/ folder  [default: the checkout's template.yaml, or the "
    "copy this installation carries]",
)


def _template_path(template: Path | None) -> Path:
    """--template, else the project's (project_files.find_project); a CliError naming --template when there is none."""
    if template is not None:
        return template.resolve()
    from heymarket_local import project_files

    project = project_files.find_project()
    if project is None:
        raise CliError(
            "this installation carries no template.yaml (nor is it a checkout of the project): pass --template "
            "path/to/heymarket-bridge/template.yaml, or reinstall from a clone with pip install '.[local]'",
            EXIT_USAGE,
        )
    return project / "template.yaml"


# ---------------------------------------------------------------------- local

_LOCAL_SANDBOX: Final = sandbox_options(_sandbox_config_class(), prefix="sandbox-")


def _parse_overrides(values: tuple[str, ...]) -> dict[str, str | int]:
    overrides: dict[str, str | int] = {}
    for item in values:
        for pair in item.split():
            name, equals, value = pair.partition("=")
            if not equals or not name:
                raise CliError(f"--parameter-overrides: expected KEY=VALUE, got {pair!r}", EXIT_USAGE)
            overrides[name] = value
    return overrides


def _retry_delay(value: str) -> int | None:
    if value.lower() == "off":
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise click.BadParameter("expected a number of seconds or 'off'") from None
    if not 0 <= seconds <= SQS_MAX_VISIBILITY_S:
        raise click.BadParameter(f"must be between 0 and {SQS_MAX_VISIBILITY_S}")
    return seconds


def _heymarket_credentials() -> dict[str, str] | None:
    secret_id, secret_key, api_key = (os.environ.get(name, "").strip() for name in CREDENTIAL_VARIABLES)
    if secret_id and secret_key:
        return {"secret_id": secret_id, "secret_key": secret_key}
    if api_key:
        return {"api_key": api_key}
    return None


def _webhook_secrets(path: Path | None) -> dict[str, str] | None:
    """--webhook-secrets read, with `demo-<name>-secret` for each source it does not name (as the demo reads it:
    signing.demo_webhook_secrets), so that events/webhook_secrets.json needs no entry for a new source."""
    if path is None:
        return None
    from heymarket_bridge_tools.signing import with_demo_secrets

    try:
        secrets = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise CliError(f"--webhook-secrets: {path} is not JSON: {error}", EXIT_USAGE) from None
    if not isinstance(secrets, dict) or not all(
        isinstance(key, str) and isinstance(value, str) and value for key, value in secrets.items()
    ):
        raise CliError(f'--webhook-secrets: {path} must be a JSON object {{"<source>": "<token>"}}', EXIT_USAGE)
    return with_demo_secrets(secrets)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge local",
        "heymarket-bridge local --webhook-secrets events/webhook_secrets.json --batching-window 1",
        "heymarket-bridge local --sandbox-fail-rate 0.3 --parameter-overrides MaxReceiveCount=2",
        "HEYMARKET_SECRET_ID=... HEYMARKET_SECRET_KEY=... heymarket-bridge local --heymarket-url https://api.heymarket.com",
    ),
)
@click.option("--api-port", type=PORT, default=DEFAULT_API_PORT, metavar="PORT", help="Port of the webhook API.")
@click.option("--aws-port", type=PORT, default=0, metavar="PORT", help="Port of the local AWS (moto); 0: a free one.")
@click.option("--sandbox-port", type=PORT, default=0, metavar="PORT", help="Port of the Heymarket sandbox; 0: free.")
@click.option(
    "--heymarket-url",
    metavar="URL",
    help="A Heymarket-compatible API instead of the sandbox; credentials from HEYMARKET_SECRET_ID and "
    "HEYMARKET_SECRET_KEY, or HEYMARKET_API_KEY.",
)
@click.option(
    "--webhook-secrets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help='JSON object {"<source>": "<token>"}; a source it does not name gets demo-<source>-secret  '
    "[default: a fresh token for every source]",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), metavar="N", help="SQS batch size [default: BatchSize]")
@click.option(
    "--batching-window",
    type=click.IntRange(0, 300),
    metavar="SECONDS",
    help="Seconds to fill a batch [default: template.yaml's BatchingWindowSeconds]",
)
@click.option(
    "--retry-delay",
    default=str(DEFAULT_RETRY_DELAY_S),
    metavar="SECONDS|off",
    help="Local only: seconds before a message the sync function did not settle is received again; "
    "'off' waits the queue's VisibilityTimeout, as on AWS.",
)
@click.option(
    "--parameter-overrides",
    multiple=True,
    metavar="'KEY=VALUE ...'",
    help="template.yaml parameters, as for `sam deploy` (e.g. 'MaxReceiveCount=2 LogLevel=DEBUG').",
)
@click.option(
    "--reconsent-sources",
    metavar="SOURCE=FIELD,...",
    help="Sources whose dated consent may opt a person back in after an opt-out (template.yaml's "
    "ReconsentSources) [default: none]",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help=f"Where the handlers' raw JSON logs and metrics go [default: {LOG_DIR}/local-<api port>.log]",
)
@_TEMPLATE_OPTION
@lambda command: apply_options(command, _LOCAL_SANDBOX)
def local(
    api_port: int,
    aws_port: int,
    sandbox_port: int,
    heymarket_url: str | None,
    webhook_secrets: Path | None,
    batch_size: int | None,
    batching_window: int | None,
    retry_delay: str,
    parameter_overrides: tuple[str, ...],
    reconsent_sources: str | None,
    log_file: Path | None,
    template: Path | None,
    **sandbox_values: Any,
) -> int:
    """Run the whole bridge on 127.0.0.1 until Ctrl-C: the webhook API, SQS, the real handlers, Heymarket.

    AWS is served by moto and Heymarket by the sandbox (or --heymarket-url). Prints `READY {json}` once up, then
    one line per webhook and per sync batch; the handlers' raw logs go to --log-file. The operator commands
    (`send`, `status`, `dlq`, `import`) find this stack from the same folder through its state file,
    .local/stacks/<api port>.json. Webhook tokens are generated for every source unless --webhook-secrets.
    """
    _require_local_stack()
    from heymarket_local.stack import LocalStackConfig

    template_path = _template_path(template)
    overrides = _parse_overrides(parameter_overrides)
    if batch_size is not None:
        overrides["BatchSize"] = batch_size
    if batching_window is not None:
        overrides["BatchingWindowSeconds"] = batching_window
    if reconsent_sources is not None:
        overrides["ReconsentSources"] = reconsent_sources
    credentials = None
    if heymarket_url is not None:
        if not heymarket_url.startswith(("http://", "https://")):
            raise CliError("--heymarket-url must be an http(s) URL", EXIT_USAGE)
        credentials = _heymarket_credentials()
        if credentials is None:
            raise CliError(
                "--heymarket-url needs credentials: set HEYMARKET_SECRET_ID and HEYMARKET_SECRET_KEY, "
                "or HEYMARKET_API_KEY",
                EXIT_USAGE,
            )
    config = LocalStackConfig(
        api_port=api_port,
        aws_port=aws_port,
        sandbox_port=sandbox_port,
        sandbox=config_from_options(_sandbox_config_class(), _LOCAL_SANDBOX, sandbox_values),
        heymarket_url=heymarket_url,
        heymarket_credentials=credentials,
        webhook_secrets=_webhook_secrets(webhook_secrets),
        parameter_overrides=overrides,
        retry_delay_s=_retry_delay(retry_delay),
        template_path=template_path,
    )
    log_path = log_file or LOG_DIR / f"local-{api_port or os.getpid()}.log"
    _exit_now(_run_local(config, log_path))


def _exit_now(code: int) -> NoReturn:
    """End the process once the stack has stopped, without the interpreter's teardown.

    By then every part is stopped, the state file removed, the log file closed: what is left is moto's and the
    sandbox's memory, which the interpreter's teardown would walk object by object (measured: 8 s after "stopped"
    with 42,700 messages queued by a 50,000-row import, on a 2-core machine, and longer the more is held), and
    invocations abandoned after the grace period (Lambda would have ended them too). Streams are flushed first.
    """
    import logging

    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run_local(config: Any, log_path: Path) -> int:
    from heymarket_local.activity import BatchSummaries, batch_line, webhook_line
    from heymarket_local.stack import LocalStack, LocalStackError
    from heymarket_local.state import remove_state, state_path, write_state

    terminal_out, terminal_err = sys.stdout, sys.stderr
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            os._exit(130)  # a second Ctrl-C while stopping: do not wait for invocations in progress
        stop_requested.set()

    with contextlib.ExitStack() as cleanup:
        log_stream = cleanup.enter_context(log_path.open("a", encoding="utf-8"))
        view = _ActivityView(terminal_out, terminal_err)
        summaries = BatchSummaries()
        cleanup.enter_context(_logs_to(log_stream, summaries))
        cleanup.enter_context(contextlib.redirect_stdout(log_stream))  # EMF metrics are print()ed
        cleanup.enter_context(contextlib.redirect_stderr(log_stream))  # warnings, thread tracebacks
        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        cleanup.callback(lambda: [signal.signal(sig, handler) for sig, handler in previous.items()])
        stack = LocalStack(
            config,
            on_batch=lambda result: view.line(batch_line(result, summaries.take())),
            on_exchange=lambda exchange: view.line(webhook_line(exchange)),
        )
        try:
            stack.start()
        except (LocalStackError, ValueError) as error:
            raise CliError(str(error)) from None
        cleanup.callback(lambda: view.note(f"{PROG}: stopped"))
        cleanup.callback(stack.stop)
        info = stack.ready_info
        print("READY " + info.to_json(), file=terminal_out, flush=True)
        state = state_path(int(info.api_url.rsplit(":", 1)[1]))
        write_state(
            state,
            {
                **json.loads(info.to_json()),
                "heymarket_secret_arn": stack.resources.heymarket_secret_arn,
                # Read by the setup commands and the doctor (heymarket_bridge_tools.target.local).
                "webhook_secrets_arn": stack.resources.webhook_secrets_arn,
                "ssm_parameters": dict(stack.resources.ssm_parameters),
                "tables": stack.resources.tables,
                "parameters": stack.template_parameters,
                "log_file": str(log_path),
            },
        )
        cleanup.callback(remove_state, state)
        view.note(_hints(info, log_path, state, config.template_path, with_sandbox=stack.sandbox is not None))
        with view.live(lambda: _status_text(stack)):
            while not stop_requested.wait(STATUS_INTERVAL_S):
                view.refresh()
        view.note(f"{PROG}: stopping...")
    return 0


class _ActivityView:
    """The terminal while the stack runs: activity lines, and on a terminal a live status line under them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        from rich.console import Console

        self._out = Console(file=out, highlight=False, soft_wrap=True)
        self._err = Console(file=err, highlight=False, soft_wrap=True)
        self._live: Any = None
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            if self._live is not None:
                self._live.console.print(text, markup=False)
            else:
                self._out.print(text, markup=False)
                self._out.file.flush()

    def note(self, text: str) -> None:
        with self._lock:
            self._err.print(text, markup=False)
            self._err.file.flush()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    @contextlib.contextmanager
    def live(self, status: Any) -> Iterator[None]:
        if not self._out.is_terminal:
            yield
            return
        from rich.live import Live
        from rich.text import Text

        class _Status:
            def __rich__(self) -> Text:
                text: Text = status_renderable(status())
                return text

        with Live(
            _Status(),
            console=self._out,
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        ) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None


def _status_text(stack: Any) -> str:
    try:
        return status_line(stack.status())
    except Exception as error:  # noqa: BLE001 - a status line must never take the stack down
        return f"status unavailable: {type(error).__name__}"


def status_line(status: Any) -> str:
    """The live status under the activity lines: `queue 0 (0 in flight) | delivered 13 | DLQ 0 | 4 sync invocations |
    6 Heymarket requests` (delivered: what the sandbox stored; with another Heymarket, messages settled)."""
    delivered = (
        f"delivered {status.sandbox_contacts_written}"
        if status.sandbox_contacts_written is not None
        else f"settled {status.poller.deleted_messages}"
    )
    parts = [
        f"queue {status.queued} ({status.in_flight} in flight)",
        delivered,
        f"DLQ {status.dead_lettered}",
        f"{status.poller.invocations} sync invocations",
    ]
    if status.heymarket_requests is not None:
        parts.append(f"{status.heymarket_requests} Heymarket requests")
    return " | ".join(parts)


def status_renderable(text: str) -> Any:
    """The status line as the live display shows it: wrapped at the terminal's width (on the parts' separators when
    it can), never cut, so the last part, the Heymarket request count, is always there."""
    from rich.text import Text

    return Text(text, style="dim", no_wrap=False, overflow="fold")


def _hints(info: Any, log_path: Path, state: Path, template: Path, *, with_sandbox: bool) -> str:
    source = "generic" if "generic" in info.webhook_secrets else next(iter(info.webhook_secrets), "generic")
    token = info.webhook_secrets.get(source, "TOKEN")
    lines = [
        f"{PROG}: local stack ready; Ctrl-C stops it",
        f"  webhooks   POST {info.api_url}/webhooks/<source>   ({source} token: {token}; all in {state})",
        f"  try        {PROG} send typeform     (any source; signed for this stack)",
        f"  heymarket  {info.heymarket_url}"
        + (f"   (stored contacts: {info.heymarket_url}/_sandbox/contacts)" if with_sandbox else ""),
        f"  aws        {info.aws_endpoint_url}   (aws --endpoint-url {info.aws_endpoint_url} sqs ...)",
        f"  logs       {log_path}   (the handlers' JSON logs and metrics)",
        f"  template   {template}",
        f"  operate    {PROG} status | dlq list | import FILE | check-credentials   (from this folder)",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _logs_to(stream: IO[str], summaries: logging.Handler) -> Iterator[None]:
    """The handlers' Powertools logs and the local stack's own logs to `stream`; batch summaries captured too."""
    from heymarket_bridge.observability import logger as powertools_logger

    logger: Any = powertools_logger  # Powertools hands addHandler/removeHandler to its std logger
    handler = logger.registered_handler
    previous_stream = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
    logger.addHandler(summaries)
    tools_logger = logging.getLogger("heymarket_bridge_tools")
    tools_handler = logging.StreamHandler(stream)
    tools_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    tools_logger.addHandler(tools_handler)
    previous_level, previous_propagate = tools_logger.level, tools_logger.propagate
    tools_logger.setLevel(logging.INFO)
    tools_logger.propagate = False
    try:
        yield
    finally:
        tools_logger.propagate = previous_propagate
        tools_logger.setLevel(previous_level)
        tools_logger.removeHandler(tools_handler)
        logger.removeHandler(summaries)
        if previous_stream is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous_stream)


# ---------------------------------------------------------------------- sandbox

_SANDBOX: Final = sandbox_options(_sandbox_config_class())


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sandbox --port 8099",
        "heymarket-bridge sandbox --port 8099 --fail-rate 0.2 --latency-ms 50",
    ),
)
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=PORT, default=0, help="Port to listen on; 0 picks a free one.")
@lambda command: apply_options(command, _SANDBOX)
def sandbox(host: str, port: int, **values: Any) -> int:
    """Run only the Heymarket sandbox: Heymarket's contact API, in memory, with injectable faults.

    Prints `READY {"url": ...}` once listening; Ctrl-C stops it. Endpoints under /_sandbox/ (contacts, stats,
    reset, faults) need no credentials. Every setting below is also a field of POST /_sandbox/faults.
    """
    from heymarket_sandbox import HeymarketSandbox

    config = config_from_options(_sandbox_config_class(), _SANDBOX, values)
    stop_requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = HeymarketSandbox(config, host=host, port=port)
    try:
        try:
            server.start()
        except OSError as error:
            raise CliError(f"the sandbox cannot listen on {host}:{port}: {error.strerror or error}") from None
        click.echo("READY " + json.dumps({"url": server.url}))
        while not stop_requested.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# ---------------------------------------------------------------------- demo

_DEMO_SANDBOX: Final = sandbox_options(_sandbox_config_class(), prefix="sandbox-")


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge demo",
        "heymarket-bridge demo --fail-rate 0.3            # the sandbox fails 30% of requests: watch the retries",
        "heymarket-bridge demo --batching-window 1 --timeout 20",
    ),
)
@click.option(
    "--events",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder of sample events  [default: events/ next to the template]",
)
@click.option(
    "--webhook-secrets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="JSON object source -> token  [default: webhook_secrets.json in the events folder]",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), metavar="N", help="SQS batch size [default: BatchSize]")
@click.option("--batching-window", type=click.IntRange(0, 300), metavar="SECONDS", help="Seconds to fill a batch.")
@click.option(
    "--fail-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    metavar="FRACTION",
    help="Fraction of Heymarket requests the sandbox answers with a 500 (same as --sandbox-fail-rate).",
)
@click.option("--timeout", type=click.FloatRange(min=0.0), default=45.0, metavar="SECONDS", help="Wait to drain.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where the handlers' logs go  [default: .local/demo/handlers.log]",
)
@_TEMPLATE_OPTION
@lambda command: apply_options(command, _DEMO_SANDBOX)
def demo(
    events: Path | None,
    webhook_secrets: Path | None,
    batch_size: int | None,
    batching_window: int | None,
    fail_rate: float,
    timeout: float,
    log_file: Path | None,
    template: Path | None,
    **sandbox_values: Any,
) -> int:
    """Post every sample webhook in events/ through a local stack, wait for the queue, and summarise.

    The summary accounts for every contact: received, accepted, rejected (with reasons), delivered, deleted,
    dead-lettered (with reasons), retried, and the Heymarket requests it took, with the 5xx and 429 answers when
    faults are injected. Exits 0 when every accepted contact ended delivered or dead-lettered, 1 otherwise.
    """
    _require_local_stack()
    from heymarket_bridge_tools import demo as demo_module

    template_path = _template_path(template)
    overrides: dict[str, str | int] = {}
    if batch_size is not None:
        overrides["BatchSize"] = batch_size
    if batching_window is not None:
        overrides["BatchingWindowSeconds"] = batching_window
    base = _sandbox_config_class()(fail_rate=fail_rate)
    sandbox_config = config_from_options(_sandbox_config_class(), _DEMO_SANDBOX, sandbox_values, base=base)
    try:
        return int(
            demo_module.run_demo(
                events_dir=events or template_path.parent / "events",
                template_path=template_path,
                webhook_secrets_file=webhook_secrets,
                log_file=log_file or demo_module.DEFAULT_LOG_FILE,
                parameter_overrides=overrides,
                sandbox=sandbox_config,
                drain_timeout_s=timeout,
                progress=True,
            )
        )
    except ValueError as error:  # a template parameter out of its allowed range
        raise CliError(str(error), EXIT_USAGE) from None
