"""The template's functions run in this process: real handlers, a Lambda-like context, Lambda's timeout.

Each execution environment imports the function's handler file (functions/<name>/app.py) afresh, as a Lambda cold
start does: a new module object under a name of its own (both handlers are called app.py), whose
`handler_for(env)` gives the environment's handler over the environment's variables. Nothing of the product is
patched and os.environ is never written: two environments are two module objects with two apps, each with its own
settings, clients and Heymarket request budget. The handler is called with a context whose remaining time follows
the template's Timeout. A thread cannot be killed, so an invocation that overruns its timeout runs to its end and
is then reported as failed (`FunctionTimedOut`), which is what the caller would see on AWS.
"""

from __future__ import annotations

import importlib.util
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Final, Generic, TypeVar

from heymarket_local.template import FunctionSpec

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


Handler = Callable[[dict[str, Any], Any], Any]
"""A function's Lambda handler: (event, context) -> response."""

H = TypeVar("H")
R = TypeVar("R")


def load_module(spec: FunctionSpec, module_name: str) -> ModuleType:
    """Import the function's handler file as a new module object named `module_name`, as a cold start does.

    Raises ImportError when the file cannot be loaded or lacks the template's Handler.
    """
    path = spec.code_dir.joinpath(*spec.module.split(".")).with_suffix(".py")
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {spec.logical_id}'s handler from {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not callable(getattr(module, spec.handler, None)):
        raise ImportError(f"{path} has no function {spec.handler} ({spec.logical_id}'s Handler)")
    return module


def load_handler(spec: FunctionSpec, environment: Mapping[str, str], module_name: str) -> Handler:
    """One execution environment's cold start: a new module object of the handler file (`load_module`), and its
    handler over `environment` from the file's `handler_for(env)`.

    Raises ImportError when the file cannot be loaded or has no `handler_for`.
    """
    module = load_module(spec, module_name)
    handler_for = getattr(module, "handler_for", None)
    if not callable(handler_for):
        raise ImportError(f"{module.__file__} has no handler_for(env), which gives the local stack its handler")
    handler: Handler = handler_for(environment)
    return handler


class ExecutionEnvironments(Generic[H]):
    """Lambda's execution environments for one function, so that concurrent invocations do not share cold-start state.

    On AWS each concurrent invocation runs in an execution environment of its own, whose cold start builds the
    module-level state once and keeps it for the invocations that environment serves next. The local stack runs
    invocations as threads of one process: `invoke` runs an invocation in an idle environment (a new one, made by
    `cold_start`, when all are busy), so that a client-side request budget meant for ONE consumer
    (rate / MaximumConcurrency) is not shared by all of them. `shared` keeps one environment for every invocation,
    concurrent ones included (the local API's ingest function, as the local stack always ran it).
    """

    def __init__(self, cold_start: Callable[[], H], *, shared: bool = False) -> None:
        self._cold_start = cold_start
        self._shared = shared
        self._idle: list[H] = []
        self._lock = threading.Lock()
        self._created = 0

    @property
    def created(self) -> int:
        """Environments created so far (cold starts)."""
        with self._lock:
            return self._created

    def warm(self) -> None:
        """Make one environment now (at start, where a failing import is reported), unless one exists."""
        with self._lock:
            if self._created:
                return
            self._idle.append(self._cold_start())
            self._created += 1

    def invoke(self, run: Callable[[H], R]) -> R:
        """Run one invocation in an idle environment, or a new one."""
        if self._shared:
            self.warm()
            with self._lock:
                environment = self._idle[0]
            return run(environment)
        with self._lock:
            idle = self._idle.pop() if self._idle else None
        if idle is None:
            environment = self._cold_start()  # outside the lock: other invocations need not wait for it
            with self._lock:
                self._created += 1
        else:
            environment = idle
        try:
            return run(environment)
        finally:
            with self._lock:
                self._idle.append(environment)


class LocalFunction:
    """One function of the template over its environment's variables; `invoke` is its Lambda Invoke."""

    def __init__(
        self,
        spec: FunctionSpec,
        name: str,
        region: str,
        environment: Mapping[str, str],
        *,
        shared_environment: bool = False,
    ) -> None:
        self.spec = spec
        self.name = name
        self.region = region
        self._variables = dict(environment)
        self._serial = itertools.count(1)
        self.environments: ExecutionEnvironments[Handler] = ExecutionEnvironments(
            self._cold_start, shared=shared_environment
        )

    @classmethod
    def load(
        cls,
        spec: FunctionSpec,
        name: str,
        region: str,
        environment: Mapping[str, str],
        *,
        shared_environment: bool = False,
    ) -> LocalFunction:
        """The function with its first execution environment made: its handler file imports now, or raises."""
        function = cls(spec, name, region, environment, shared_environment=shared_environment)
        function.environments.warm()
        return function

    def _cold_start(self) -> Handler:
        module_name = f"heymarket_local.functions.{self.spec.logical_id}_{next(self._serial)}"
        return load_handler(self.spec, self._variables, module_name)

    def context(self) -> LocalLambdaContext:
        return LocalLambdaContext(self.name, self.spec.timeout_s, self.spec.memory_mb, self.region)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Call the handler in an execution environment; its exceptions propagate, and so does an overrun."""
        return self.environments.invoke(lambda handler: self._call(handler, event))

    def _call(self, handler: Handler, event: dict[str, Any]) -> Any:
        context = self.context()
        started = time.monotonic()
        response = handler(event, context)
        elapsed = time.monotonic() - started
        if elapsed > self.spec.timeout_s:
            raise FunctionTimedOut(f"{self.name} ran {elapsed:.1f} s, longer than its {self.spec.timeout_s} s Timeout")
        return response
