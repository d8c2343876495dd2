"""`heymarket-bridge`: run the bridge on this machine (no AWS account, no Docker).

heymarket-bridge local     the whole stack in the foreground until Ctrl-C or SIGTERM
heymarket-bridge sandbox   only the Heymarket sandbox
heymarket-bridge demo      every sample webhook in events/ through the stack, then a summary

Operator commands, against a deployed stack (--stack-name) or the running local one (--local):
heymarket-bridge dlq list|show|redrive|export, status, check-credentials, send
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Final, TextIO, cast

from heymarket_bridge_tools import demo, opscli
from heymarket_bridge_tools.local import (
    DEFAULT_API_PORT,
    DEFAULT_RETRY_DELAY_S,
    LocalStack,
    LocalStackConfig,
    LocalStackError,
    ReadyInfo,
)
from heymarket_bridge_tools.poller import SQS_MAX_VISIBILITY_S
from heymarket_bridge_tools.sandbox import add_arguments as add_sandbox_arguments
from heymarket_bridge_tools.sandbox import main as sandbox_main

PROG: Final = "heymarket-bridge"
STATUS_INTERVAL_S: Final = 1.0
OPERATOR_COMMANDS: Final = ("dlq", "status", "check-credentials", "send")
CREDENTIAL_VARIABLES: Final = ("HEYMARKET_SECRET_ID", "HEYMARKET_SECRET_KEY", "HEYMARKET_API_KEY")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    ns = parser.parse_args(args)
    if ns.command == "sandbox":
        return sandbox_main(args[1:])
    if ns.command == "demo":
        return demo.run(ns)
    if ns.command in OPERATOR_COMMANDS:
        return opscli.run(ns)
    return run_local(ns, ns.command_parser)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Run heymarket-bridge on this machine: no AWS account, no Docker.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser(
        "local",
        help="run the whole stack (API, queue, handlers, Heymarket sandbox) until Ctrl-C",
        description=(
            "Run the real handlers behind a local HTTP API, over AWS served by moto and Heymarket served by "
            "the sandbox. Prints `READY {json}` on stdout once every part is up."
        ),
    )
    local.set_defaults(command_parser=local)
    local.add_argument(
        "--api-port", type=int, metavar="PORT", default=DEFAULT_API_PORT, help="port of the webhook API (default: 3000)"
    )
    local.add_argument(
        "--aws-port", type=int, metavar="PORT", default=0, help="port of the local AWS (moto); default: a free one"
    )
    local.add_argument(
        "--sandbox-port", type=int, metavar="PORT", default=0, help="port of the Heymarket sandbox; default: a free one"
    )
    local.add_argument(
        "--heymarket-url",
        metavar="URL",
        help="a Heymarket-compatible API to use instead of the sandbox; credentials come from "
        "HEYMARKET_SECRET_ID and HEYMARKET_SECRET_KEY, or HEYMARKET_API_KEY",
    )
    local.add_argument(
        "--webhook-secrets",
        type=argparse.FileType("r", encoding="utf-8"),
        metavar="FILE",
        help='JSON object {"<source>": "<token>"}; default: a generated token for "generic"',
    )
    local.add_argument(
        "--batch-size", type=int, metavar="N", help="SQS batch size (default: template.yaml's BatchSize)"
    )
    local.add_argument(
        "--batching-window",
        type=int,
        metavar="SECONDS",
        help="seconds to fill a batch (default: template.yaml's BatchingWindowSeconds)",
    )
    local.add_argument(
        "--retry-delay",
        type=_retry_delay,
        metavar="SECONDS|off",
        default=DEFAULT_RETRY_DELAY_S,
        help="local-only: seconds before a message the sync function did not settle is received again "
        f"(default: {DEFAULT_RETRY_DELAY_S}); 'off' waits the queue's VisibilityTimeout, as on AWS",
    )
    local.add_argument(
        "--parameter-overrides",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="template.yaml parameters, as for `sam deploy` (e.g. MaxReceiveCount=2 LogLevel=DEBUG)",
    )

    sandbox = commands.add_parser(
        "sandbox",
        help="run only the Heymarket sandbox",
        description="The in-memory Heymarket API double. Prints `READY {json}` once listening.",
    )
    add_sandbox_arguments(sandbox)

    demo_parser = commands.add_parser(
        "demo",
        help="post every sample webhook in events/ through the local stack and summarise",
        description=(demo.__doc__ or "").split("\n", 1)[0],
    )
    demo.add_arguments(demo_parser)
    opscli.add_commands(commands)
    return parser


def _retry_delay(value: str) -> int | None:
    if value.lower() == "off":
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number of seconds or 'off'") from None
    if not 0 <= seconds <= SQS_MAX_VISIBILITY_S:
        raise argparse.ArgumentTypeError(f"must be between 0 and {SQS_MAX_VISIBILITY_S}")
    return seconds


def _local_config(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> LocalStackConfig:
    overrides: dict[str, str | int] = {}
    for item in ns.parameter_overrides:
        name, equals, value = item.partition("=")
        if not equals or not name:
            parser.error(f"--parameter-overrides: expected KEY=VALUE, got {item!r}")
        overrides[name] = value
    if ns.batch_size is not None:
        overrides["BatchSize"] = ns.batch_size
    if ns.batching_window is not None:
        overrides["BatchingWindowSeconds"] = ns.batching_window
    webhook_secrets = None
    if ns.webhook_secrets is not None:
        with ns.webhook_secrets as file:
            try:
                webhook_secrets = json.load(file)
            except ValueError as error:
                parser.error(f"--webhook-secrets: {file.name} is not JSON: {error}")
        if not isinstance(webhook_secrets, dict) or not all(
            isinstance(key, str) and isinstance(value, str) and value for key, value in webhook_secrets.items()
        ):
            parser.error('--webhook-secrets: expected a JSON object {"<source>": "<token>"}')
    credentials = None
    if ns.heymarket_url is not None:
        if not ns.heymarket_url.startswith(("http://", "https://")):
            parser.error("--heymarket-url must be an http(s) URL")
        credentials = _heymarket_credentials()
        if credentials is None:
            parser.error(
                "--heymarket-url needs credentials: set HEYMARKET_SECRET_ID and HEYMARKET_SECRET_KEY, "
                "or HEYMARKET_API_KEY"
            )
    return LocalStackConfig(
        api_port=ns.api_port,
        aws_port=ns.aws_port,
        sandbox_port=ns.sandbox_port,
        heymarket_url=ns.heymarket_url,
        heymarket_credentials=credentials,
        webhook_secrets=webhook_secrets,
        parameter_overrides=overrides,
        retry_delay_s=ns.retry_delay,
    )


def _heymarket_credentials() -> dict[str, str] | None:
    secret_id, secret_key, api_key = (os.environ.get(name, "").strip() for name in CREDENTIAL_VARIABLES)
    if secret_id and secret_key:
        return {"secret_id": secret_id, "secret_key": secret_key}
    if api_key:
        return {"api_key": api_key}
    return None


class StatusLine:
    """One line on a terminal, rewritten in place; anything else written clears it first."""

    def __init__(self, terminal: TextIO) -> None:
        self._terminal = terminal
        self._lock = threading.RLock()
        self._shown = False

    def show(self, text: str) -> None:
        width = max(20, shutil.get_terminal_size().columns - 1)
        with self._lock:
            self._terminal.write("\r\x1b[K" + text[:width])
            self._terminal.flush()
            self._shown = True

    def clear(self) -> None:
        with self._lock:
            if self._shown:
                self._terminal.write("\r\x1b[K")
                self._terminal.flush()
                self._shown = False

    def guard(self, stream: TextIO) -> TextIO:
        """`stream` (the same terminal) wrapped so that each write clears the status line first."""
        return cast(TextIO, _ClearingStream(self, stream))


class _ClearingStream(io.TextIOBase):
    def __init__(self, status: StatusLine, stream: TextIO) -> None:
        super().__init__()
        self._status = status
        self._stream = stream

    def write(self, text: str) -> int:
        with self._status._lock:
            self._status.clear()
            return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


def run_local(ns: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`heymarket-bridge local`: start, print READY, show the status, stop cleanly on SIGINT or SIGTERM."""
    config = _local_config(ns, parser)
    status = StatusLine(sys.stderr) if sys.stderr.isatty() else None
    log_stream: TextIO = sys.stderr
    if status is not None:
        log_stream = status.guard(sys.stderr)
        if sys.stdout.isatty():
            # Before the handlers are imported, so that their logger writes through the guard too.
            sys.stdout = status.guard(sys.stdout)
    # The stack's own messages at INFO; libraries (botocore's credential chatter) only from WARNING.
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s", stream=log_stream)
    logging.getLogger("heymarket_bridge_tools").setLevel(logging.INFO)

    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop_requested.is_set():
            # A second Ctrl-C while stopping: the user does not want to wait for invocations in progress.
            os._exit(130)
        stop_requested.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(config)
    try:
        try:
            stack.start()
        except (LocalStackError, ValueError) as error:
            print(f"{PROG}: {error}", file=log_stream)
            return 1
        print("READY " + stack.ready_info.to_json(), flush=True)
        state = {**json.loads(stack.ready_info.to_json()), "heymarket_secret_arn": stack.resources.heymarket_secret_arn}
        opscli.write_local_state(opscli.LOCAL_STATE, state)
        _print_hints(stack.ready_info, log_stream, with_sandbox=stack.sandbox is not None)
        while not stop_requested.wait(STATUS_INTERVAL_S):
            if status is not None:
                status.show(_status_text(stack))
        if status is not None:
            status.clear()
        print(f"{PROG}: stopping...", file=log_stream, flush=True)
    finally:
        stack.stop()
        opscli.LOCAL_STATE.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"{PROG}: stopped", file=log_stream, flush=True)
    return 0


def _status_text(stack: LocalStack) -> str:
    try:
        return stack.status().line()
    except Exception as error:  # noqa: BLE001 - a status line must never take the stack down
        return f"status unavailable: {type(error).__name__}"


def _print_hints(info: ReadyInfo, stream: TextIO, *, with_sandbox: bool) -> None:
    # The curl hint speaks the generic source's language (a bearer token); other sources sign their bodies.
    source = "generic" if "generic" in info.webhook_secrets else next(iter(info.webhook_secrets), "generic")
    token = info.webhook_secrets.get(source, "TOKEN")
    lines = [
        f"{PROG}: local stack ready; Ctrl-C stops it",
        f"  webhooks  POST {info.api_url}/webhooks/<source>   ({source} token: {token})",
        f"  try       curl -s {info.api_url}/webhooks/{source} -H 'Authorization: Bearer {token}' "
        '-H \'Content-Type: application/json\' -d \'{"phone": "+1 510 555 0123", "first": "Ada"}\'',
        f"  heymarket {info.heymarket_url}"
        + (f"   (stored contacts: {info.heymarket_url}/_sandbox/contacts)" if with_sandbox else ""),
        f"  aws       {info.aws_endpoint_url}   (aws --endpoint-url {info.aws_endpoint_url} sqs ...)",
        f"  operate   {PROG} send FILE --source NAME | status | dlq list | check-credentials   (in this folder)",
    ]
    print("\n".join(lines), file=stream, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
