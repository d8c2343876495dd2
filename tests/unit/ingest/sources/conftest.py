from __future__ import annotations

from collections.abc import Iterator

import pytest

from heymarket_bridge.observability import metrics


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Each delivery is one invocation: the Lambda decorator flushes metrics (and their dimensions) after each."""
    yield
    metrics.clear_metrics()
