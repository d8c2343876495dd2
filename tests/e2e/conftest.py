from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.stacks import StartStack, started_stacks


@pytest.fixture
def start_stack() -> Iterator[StartStack]:
    """Start a LocalStack in this process; stopped after the test (tests/e2e/stacks.py)."""
    yield from started_stacks()
