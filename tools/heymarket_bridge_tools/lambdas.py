"""The template's functions run in this process: real handlers, a Lambda-like context, Lambda's timeout.

A handler is imported from its code folder by path (both handlers are called app.py), as the Lambda
runtime would import it, and called with a context whose remaining time follows the template's
Timeout. A thread cannot be killed, so an invocation that overruns its timeout runs to its end and is
then reported as failed (`FunctionTimedOut`), which is what the caller would see on AWS.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Callable
from typing import Any, Final

from heymarket_bridge_tools.template import FunctionSpec

ACCOUNT_ID: Final = "123456789012"  # moto's default account

Invoke = Callable[[dict[str, Any]], Any]
"""Calls a function with an event and returns its response; raises when the invocation fails."""


class FunctionTimedOut(RuntimeError):
    """The handler returned after its configured timeout: Lambda would have stopped it and failed the call."""


class LocalLambdaContext:
    """The attributes of Lambda's context object; the remaining time counts down from the invocation's start."""

    def __init__(
        self,
        function_name: str,
        timeout_s: float,
        memory_mb: int,
        region: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._deadline = clock() + timeout_s
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


class LocalFunction:
    """One function of the template with its handler loaded; `invoke` is its Lambda Invoke."""

    def __init__(self, spec: FunctionSpec, name: str, region: str, handler: Callable[[dict[str, Any], Any], Any]):
        self.spec = spec
        self.name = name
        self.region = region
        self._handler = handler

    @classmethod
    def load(cls, spec: FunctionSpec, name: str, region: str) -> LocalFunction:
        """Import the handler module from the function's code folder under a name of its own."""
        path = spec.code_dir.joinpath(*spec.module.split(".")).with_suffix(".py")
        module_spec = importlib.util.spec_from_file_location(f"heymarket_bridge_local.{spec.logical_id}", path)
        if module_spec is None or module_spec.loader is None:
            raise ImportError(f"cannot load {spec.logical_id}'s handler from {path}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        handler = getattr(module, spec.handler, None)
        if not callable(handler):
            raise ImportError(f"{path} has no function {spec.handler} ({spec.logical_id}'s Handler)")
        return cls(spec, name, region, handler)

    def context(self) -> LocalLambdaContext:
        return LocalLambdaContext(self.name, self.spec.timeout_s, self.spec.memory_mb, self.region)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler; its exceptions propagate, and so does an overrun of the timeout."""
        context = self.context()
        started = time.monotonic()
        response = self._handler(event, context)
        elapsed = time.monotonic() - started
        if elapsed > self.spec.timeout_s:
            raise FunctionTimedOut(f"{self.name} ran {elapsed:.1f} s, longer than its {self.spec.timeout_s} s Timeout")
        return response
