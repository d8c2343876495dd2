"""One log line per webhook with `source` and `outcome` (heymarket_bridge.observability.WEBHOOK_OUTCOMES), whatever
happens to it: log metric filters and the saved queries count webhooks by source from it, not from metric
dimensions (issue 24, point 6)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.observability import WEBHOOK_OUTCOMES
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with HeymarketSandbox(SandboxConfig(seed=3)) as sandbox, running_bridge(monkeypatch, sandbox) as bridge:
        yield bridge


def summaries(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    lines = [r for r in caplog.records if hasattr(r, "outcome")]
    return [(str(r.source), str(r.outcome)) for r in lines]  # type: ignore[attr-defined]


def with_key(event: dict[str, Any], key: str) -> dict[str, Any]:
    event["headers"]["idempotency-key"] = key
    return event


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: load_event("generic/single_contact"), [("generic", "accepted")]),
        (lambda: with_key(load_event("generic/mixed_contacts"), "k-1"), [("generic", "accepted")]),
        (
            lambda: {**load_event("generic/single_contact"), "body": "not json"},
            [("generic", "refused")],
        ),
        (lambda: load_event("generic/delete_contacts"), [("deletes", "accepted")]),
    ],
)
def test_each_webhook_writes_exactly_one_summary_line(
    bridge: Bridge, caplog: pytest.LogCaptureFixture, make: Any, expected: list[tuple[str, str]]
) -> None:
    caplog.set_level(logging.INFO)

    bridge.ingest(make())

    assert summaries(caplog) == expected


def test_a_repeat_and_a_refusal_each_have_their_outcome(bridge: Bridge, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    first = with_key(load_event("generic/single_contact"), "key-7")
    bridge.ingest(first)
    bridge.ingest(json.loads(json.dumps(first)))
    wrong = load_event("generic/single_contact")
    wrong["headers"]["authorization"] = "Bearer wrong"
    bridge.ingest(wrong)

    assert summaries(caplog) == [("generic", "accepted"), ("generic", "duplicate"), ("generic", "refused")]
    assert {outcome for _source, outcome in summaries(caplog)} <= set(WEBHOOK_OUTCOMES)
