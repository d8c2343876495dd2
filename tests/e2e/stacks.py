"""Starting local stacks in the test process, shared by the end-to-end tests (the fixture is in conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from heymarket_local.stack import LocalStack, LocalStackConfig
from tests.support import demo_webhook_secrets

STACK_THREADS = ("moto-", "local-api-", "heymarket-sandbox-", "sqs-")

StartStack = Callable[..., LocalStack]


def stack_threads() -> list[str]:
    """Threads of a local stack still running: none once every stack stopped."""
    return [thread.name for thread in threading.enumerate() if thread.name.startswith(STACK_THREADS)]


def started_stacks() -> Iterator[StartStack]:
    """Start LocalStacks (free ports, the demo webhook tokens, 1 s batching window and retry delay); stop them all
    after the test, and check that none left a thread behind."""
    started: list[LocalStack] = []

    def start(parameter_overrides: dict[str, str | int] | None = None, **settings: Any) -> LocalStack:
        config = LocalStackConfig(
            webhook_secrets=demo_webhook_secrets(),
            retry_delay_s=1,
            parameter_overrides={"BatchingWindowSeconds": 1, **(parameter_overrides or {})},
            **settings,
        )
        stack = LocalStack(config).start()
        started.append(stack)
        return stack

    yield start
    for stack in started:
        stack.stop()
    assert stack_threads() == []
