"""The template's functions run in this process: real handlers, a Lambda-like context, Lambda's timeout.

A handler is imported from its code folder by path (both handlers are called app.py), as the Lambda
runtime would import it, and called with a context whose remaining time follows the template's
Timeout. A thread cannot be killed, so an invocation that overruns its timeout runs to its end and is
then reported as failed (`FunctionTimedOut`), which is what the caller would see on AWS.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from types import ModuleType
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


class ExecutionEnvironments:
    """Lambda's execution environments for one function, so that concurrent invocations do not share cold-start state.

    On AWS each concurrent invocation runs in an execution environment of its own, whose cold start builds the
    module-level state once (here: what the `functools.cache` builders named below return) and keeps it for the
    invocations that environment serves next. The local stack runs invocations as threads of one process, where
    that state would be shared by every concurrent invocation: a client-side request budget meant for ONE consumer
    (rate / MaximumConcurrency) would be shared by all of them, halving the throughput at the default concurrency.
    `invoke` runs an invocation in an idle environment (a new one when all are busy); while it runs, the builders
    return that environment's own instance, built on first use.
    """

    def __init__(self, builders: Sequence[tuple[ModuleType, str]]) -> None:
        self._builders = list(builders)
        self._originals: dict[str, Any] = {}
        self._idle: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._current = threading.local()
        self._created = 0

    @property
    def created(self) -> int:
        """Environments created so far (cold starts)."""
        with self._lock:
            return self._created

    def install(self) -> ExecutionEnvironments:
        """Put the per-environment builders in place of the modules' cached ones."""
        for module, name in self._builders:
            key = f"{module.__name__}.{name}"
            if key in self._originals:
                continue
            original = getattr(module, name)
            self._originals[key] = original
            setattr(module, name, _EnvironmentBuilder(key, original, self))
        return self

    def uninstall(self) -> None:
        """Restore the modules' own cached builders; safe to call twice."""
        for module, name in self._builders:
            original = self._originals.pop(f"{module.__name__}.{name}", None)
            if original is not None:
                setattr(module, name, original)
        with self._lock:
            self._idle.clear()

    def invoke(self, invoke: Invoke, event: dict[str, Any]) -> Any:
        """Run one invocation in an idle environment, or a new one."""
        with self._lock:
            if self._idle:
                environment = self._idle.pop()
            else:
                environment = {}
                self._created += 1
        self._current.environment = environment
        try:
            return invoke(event)
        finally:
            self._current.environment = None
            with self._lock:
                self._idle.append(environment)

    def _environment(self) -> dict[str, Any] | None:
        environment: dict[str, Any] | None = getattr(self._current, "environment", None)
        return environment

    def _clear(self) -> None:
        with self._lock:
            self._idle.clear()


class _EnvironmentBuilder:
    """Stands in for a `functools.cache` builder: one instance per execution environment (see above)."""

    def __init__(self, key: str, original: Any, environments: ExecutionEnvironments) -> None:
        self._key = key
        self._original = original
        self._environments = environments

    def __call__(self) -> Any:
        environment = self._environments._environment()
        if environment is None:  # called outside an invocation (a tool, a test): the process-wide instance
            return self._original()
        if self._key not in environment:
            environment[self._key] = self._original.__wrapped__()
        return environment[self._key]

    def cache_clear(self) -> None:
        """Forget every environment's instance (the environment variables changed), as the original would."""
        self._original.cache_clear()
        self._environments._clear()
