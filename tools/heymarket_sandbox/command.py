"""`heymarket-bridge sandbox` and `python -m heymarket_sandbox`: the sandbox in the foreground."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from heymarket_sandbox.config import add_arguments, config_from_args
from heymarket_sandbox.server import HeymarketSandbox


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; print READY {"url": ...} once listening."""
    parser = argparse.ArgumentParser(prog="heymarket-sandbox", description="Local Heymarket API sandbox.")
    add_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        config = config_from_args(ns)
    except ValueError as error:
        parser.error(str(error))
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = HeymarketSandbox(config, host=ns.host, port=ns.port)
    try:
        try:
            sandbox.start()
        except OSError as error:
            print(f"heymarket-sandbox: cannot listen on {ns.host}:{ns.port}: {error}", file=sys.stderr)
            return 1
        print("READY " + json.dumps({"url": sandbox.url}), flush=True)
        while not stop_requested.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    return 0
