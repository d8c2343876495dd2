"""Helpers shared by the tests: sample events from events/, handler loading, small fakes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """An event from events/, e.g. load_event('generic/mixed_contacts')."""
    return json.loads((EVENTS / f"{name}.json").read_text())


def demo_webhook_secrets() -> dict[str, str]:
    """events/webhook_secrets.json, with `demo-<name>-secret` for a source it does not name (as the demo reads it)."""
    from heymarket_bridge_tools.signing import demo_webhook_secrets as read

    return read(EVENTS / "webhook_secrets.json")


def load_handler(function: str) -> ModuleType:
    """Import functions/<function>/app.py under a unique module name (both handlers are called app.py)."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"{function}_app", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeLambdaContext:
    """The parts of the Lambda context the handlers use; remaining time follows a real clock."""

    def __init__(self, timeout_s: float = 60.0, name: str = "test-function") -> None:
        import time

        self._deadline = time.monotonic() + timeout_s
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        self.memory_limit_in_mb = 256
        self.aws_request_id = "test-invocation"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "test"

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))
