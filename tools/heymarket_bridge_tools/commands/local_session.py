"""The running `heymarket-bridge local`: its terminal (activity lines, live status, hints), its logs, its exit.

Split from commands/local.py (the command's options): this module holds what happens once the stack is configured.
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

from heymarket_bridge_tools.cli import PROG
from heymarket_bridge_tools.errors import CliError

STATUS_INTERVAL_S: Final = 0.5


def exit_now(code: int) -> NoReturn:
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


def run_local(config: Any, log_path: Path, *, inspector_port: int = 0) -> int:
    """Run the stack until Ctrl-C, with its inspector on 127.0.0.1:`inspector_port`; 0 once stopped."""
    from heymarket_local.activity import BatchSummaries, batch_line, webhook_line
    from heymarket_local.inspector.server import Inspector
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
        inspector = Inspector(inspector_port)

        def on_batch(result: Any) -> None:
            inspector.on_batch(result)
            view.line(batch_line(result, summaries.take()))

        def on_exchange(exchange: Any) -> None:
            inspector.on_exchange(exchange)
            view.line(webhook_line(exchange))

        stack = LocalStack(config, on_batch=on_batch, on_exchange=on_exchange)
        try:
            stack.start()
        except (LocalStackError, ValueError) as error:
            raise CliError(str(error)) from None
        cleanup.callback(lambda: view.note(f"{PROG}: stopped"))
        cleanup.callback(stack.stop)
        try:
            inspector.start(stack.sandbox)
        except OSError as error:
            raise CliError(f"the inspector cannot listen on 127.0.0.1:{inspector_port}: {error.strerror}") from None
        cleanup.callback(inspector.stop)
        info = stack.ready_info
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
                # LeadFetchDeadLetterQueue, for `status` (heymarket_bridge_tools.ops.queue_status)
                "fetch_dlq_url": stack.resources.queues.get("LeadFetchDeadLetterQueue", ""),
                "parameters": stack.template_parameters,
                "log_file": str(log_path),
                "inspector_url": inspector.url,
            },
        )
        cleanup.callback(remove_state, state)
        # Entry names only: a terminal (or a CI log) never shows a webhook token; the state file holds them.
        print("READY " + info.announced(str(state.resolve())), file=terminal_out, flush=True)
        view.note(
            _hints(info, log_path, state, config.template_path, with_sandbox=stack.sandbox is not None)
            + f"\n  inspector  {inspector.url}   (every delivery, its contacts and letters; this machine only)"
            + _tunnel_hint(stack.template_parameters.get("PublicBaseUrl", ""), info.api_url)
        )
        with view.live(lambda: _status_text(stack)):
            while not stop_requested.wait(STATUS_INTERVAL_S):
                view.refresh()
        view.note(f"{PROG}: stopping...")
    return 0


class _ActivityView:
    """The terminal while the stack runs: activity lines, and on a terminal a live status line under them."""

    def __init__(self, out: IO[str], err: IO[str]) -> None:
        from heymarket_bridge_tools.console import EscapingConsole

        # Escaping: an activity line carries a sender's text (the source name in the URL path).
        self._out = EscapingConsole(file=out, highlight=False, soft_wrap=True)
        self._err = EscapingConsole(file=err, highlight=False, soft_wrap=True)
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
    lines = [
        f"{PROG}: local stack ready; Ctrl-C stops it",
        f"  webhooks   POST {info.api_url}/webhooks/<source>   (tokens: {state}, mode 0600; "
        f"`{PROG} sources list --local` names them)",
        f"  try        {PROG} send typeform     (any source; signed for this stack)",
        f"  heymarket  {info.heymarket_url}"
        + (f"   (stored contacts: {info.heymarket_url}/_sandbox/contacts)" if with_sandbox else ""),
        f"  aws        {info.aws_endpoint_url}   (aws --endpoint-url {info.aws_endpoint_url} sqs ...)",
        f"  logs       {log_path}   (the handlers' JSON logs and metrics)",
        f"  template   {template}",
        f"  operate    {PROG} status | dlq list | import FILE | check-credentials   (from this folder)",
    ]
    return "\n".join(lines)


def _tunnel_hint(public_url: str, api_url: str) -> str:
    if public_url == api_url:
        return ""
    return f"\n  public     {public_url}/webhooks/<source>   (a tunnel to {api_url}: URL-covering signatures use it)"


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
