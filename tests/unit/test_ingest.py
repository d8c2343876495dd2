"""The ingest flow's contract with a source, through a fake source registered for the test."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge.ingest import IngestService
from heymarket_bridge.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge.sources import SOURCES
from heymarket_bridge.webhook import Reply, WebhookRequest
from tests.unit.sources.harness import RecordingQueue

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
VALID = {"phone": "+15105550123", "first": "Grace"}


@dataclass
class FakeSource:
    submissions: list[Submission]
    name: str = "fake"
    refuses_when_nothing_valid: bool = False
    seen_now: list[datetime] = field(default_factory=list)
    seen_mappings: list[SourceMapping] = field(default_factory=list)

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        self.seen_now.append(now)
        return request.headers.get("x-fake-secret") == secret

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        self.seen_mappings.append(mapping)
        return self.submissions

    def delivery_id(self, request: WebhookRequest) -> str:
        return "delivery-1"

    def reply(self, request: WebhookRequest, reply: Reply) -> Reply:
        return Reply(reply.status, {"shaped": reply.body}, {"Content-Type": "application/x-fake"})


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def request(secret: str = "fake-secret") -> WebhookRequest:
    return WebhookRequest("fake", "POST", "/webhooks/fake", {"x-fake-secret": secret}, {}, b"{}", "req-1")


def handle(
    source: FakeSource, monkeypatch: pytest.MonkeyPatch, *, secret: str = "fake-secret", **settings: Any
) -> tuple[Reply, RecordingQueue]:
    monkeypatch.setitem(SOURCES, "fake", source)
    queue = RecordingQueue()
    service = IngestService(
        IngestSettings("https://queue", "arn:secret", **settings), lambda: {"fake": "fake-secret"}, queue, lambda: NOW
    )
    return service.handle(request(secret)), queue


def body(reply: Reply) -> Mapping[str, Any]:
    assert isinstance(reply.body, dict)
    return dict(reply.body["shaped"])


def test_an_unmappable_submission_is_rejected_with_its_reasons_and_the_others_are_queued(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = FakeSource([Unmappable(("no phone answer",)), VALID])

    reply, queue = handle(source, monkeypatch)

    assert reply.status == 202
    assert body(reply)["rejected"] == [{"index": 0, "errors": ["no phone answer"]}]
    assert [json.loads(m.body)["contact"]["phone"] for m in queue.sent] == ["15105550123"]


def test_a_source_that_does_not_refuse_gets_202_when_nothing_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    reply, queue = handle(FakeSource([Unmappable(("no phone answer",))]), monkeypatch)

    assert (reply.status, body(reply)["accepted"], queue.sent) == (202, 0, [])


def test_a_source_that_refuses_gets_422_when_nothing_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    source = FakeSource([{"first": "Grace"}], refuses_when_nothing_valid=True)

    reply, queue = handle(source, monkeypatch)

    assert (reply.status, body(reply)["rejected"], queue.sent) == (
        422,
        [{"index": 0, "errors": ["phone is required"]}],
        [],
    )


def test_the_source_shapes_refusals_too(monkeypatch: pytest.MonkeyPatch) -> None:
    reply, _ = handle(FakeSource([VALID]), monkeypatch, secret="wrong")

    assert (reply.status, reply.headers["Content-Type"]) == (401, "application/x-fake")
    assert body(reply)["error"]["code"] == "unauthorized"


def test_authenticate_is_given_the_services_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    source = FakeSource([VALID])

    handle(source, monkeypatch)

    assert source.seen_now == [NOW]


def test_extract_is_given_the_sources_mapping_or_the_empty_one(monkeypatch: pytest.MonkeyPatch) -> None:
    mapped = SourceMapping.from_json({"phone": "mobile"})
    source = FakeSource([VALID])

    handle(source, monkeypatch, mappings={"fake": mapped})
    handle(source, monkeypatch, mappings={"other": mapped})

    assert source.seen_mappings == [mapped, SourceMapping()]


def test_an_unknown_source_is_404() -> None:
    queue = RecordingQueue()
    service = IngestService(IngestSettings("https://queue", "arn:secret"), dict, queue, lambda: NOW)

    reply = service.handle(WebhookRequest("nope", "POST", "/webhooks/nope", {}, {}, b"{}", "req-1"))

    assert reply.status == 404
