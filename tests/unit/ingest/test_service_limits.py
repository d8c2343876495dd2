"""The ingest service with scoped entries and limits (heymarket_bridge.ingest.scopes, heymarket_bridge.ingest.limits):
which secret of an entry authenticates, what a malformed entry is answered, and the 429's Retry-After."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge.ingest.http import HttpResponse
from heymarket_bridge.ingest.limits import IntakeGate, IntakeLimits
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import SourceRegistry
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from tests.doubles.counters import MemoryCounters
from tests.doubles.queue import RecordingQueue
from tests.doubles.source import FakeSource
from tests.unit.ingest.test_service import event

NOW = datetime(2026, 11, 23, 9, 0, 50, tzinfo=UTC)
SCOPED = {"token": "public", "scopes": {"contacts_per_minute": 2}}


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def handle(
    entry: Any, secret: str, submissions: list[Any], limits: IntakeLimits | None = None
) -> tuple[HttpResponse, RecordingQueue]:
    queue = RecordingQueue()
    built = IngestService(
        IngestSettings("https://queue", "arn:secret"),
        lambda: {"fake": entry},
        queue,
        lambda: NOW,
        sources=SourceRegistry([FakeSource(submissions)]),
        admission=IntakeGate(limits or IntakeLimits(100), MemoryCounters()),
    )
    return built.handle(event(secret)), queue


def answer(response: HttpResponse) -> Mapping[str, Any]:
    return dict(json.loads(response.body)["shaped"])


def contact(phone: int, **fields: Any) -> dict[str, Any]:
    return {"phone": f"+1510555{phone:04d}", **fields}


@pytest.mark.parametrize("secret", ["backend", "public"])
def test_each_secret_of_a_list_entry_authenticates(secret: str) -> None:
    response, queue = handle(["backend", SCOPED], secret, [contact(1)])

    assert response.status == 202
    assert len(queue.sent) == 1


def test_a_secret_no_entry_holds_is_refused() -> None:
    response, queue = handle(["backend", SCOPED], "neither", [contact(1)])

    assert (response.status, answer(response)["error"]["code"], queue.sent) == (401, "unauthorized", [])


def test_the_secret_that_matched_decides_the_scopes() -> None:
    contacts = [contact(1, is_opted_out=False)]

    public, public_queue = handle(["backend", SCOPED], "public", contacts)
    backend, backend_queue = handle(["backend", SCOPED], "backend", contacts)

    assert answer(public)["rejected"][0]["dropped"] == ["is_opted_out"]
    assert "is_opted_out" not in json.loads(public_queue.sent[0].body)["contact"]
    assert answer(backend)["rejected"] == []
    assert json.loads(backend_queue.sent[0].body)["contact"]["is_opted_out"] is False


def test_a_malformed_entry_is_a_503_naming_the_source_and_never_its_token() -> None:
    response, queue = handle({"token": "public", "scopes": {"optin": True}}, "public", [contact(1)])

    assert response.status == 503
    assert "'fake' is malformed" in answer(response)["error"]["message"]
    assert "public" not in response.body
    assert queue.sent == []


def test_a_delivery_larger_than_its_tokens_cap_is_a_413_and_one_within_it_is_taken() -> None:
    response, queue = handle(SCOPED, "public", [contact(1), contact(2), contact(3)], IntakeLimits(100))

    assert (response.status, queue.sent) == (413, [])  # 3 contacts can never fit a cap of 2 a minute
    response, queue = handle(SCOPED, "public", [contact(1), contact(2)])
    assert (response.status, len(queue.sent)) == (202, 2)


def test_a_sources_limit_is_answered_429_with_retry_after_and_nothing_queued() -> None:
    queue = RecordingQueue()
    built = IngestService(
        IngestSettings("https://queue", "arn:secret"),
        lambda: {"fake": "backend"},
        queue,
        lambda: NOW,
        sources=SourceRegistry([FakeSource([contact(1), contact(2)])]),
        admission=IntakeGate(IntakeLimits(3), MemoryCounters()),
    )
    assert built.handle(event("backend")).status == 202

    response = built.handle(event("backend"))

    assert response.status == 429
    assert response.headers["Retry-After"] == "10"  # 09:00:50 -> 09:01:00
    assert answer(response)["error"]["code"] == "too_many_requests"
    assert len(queue.sent) == 2
