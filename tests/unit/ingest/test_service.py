"""The ingest flow's contract with a source, through a fake source in the registry handed to the service."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge.domain.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.ingest.http import HttpResponse
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import SourceRegistry
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from tests.doubles.queue import RecordingQueue
from tests.doubles.recent import FakeRecent
from tests.doubles.source import FakeSource

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
VALID = {"phone": "+15105550123", "first": "Grace"}


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def event(secret: str = "fake-secret", body: str = "{}", source: str = "fake") -> dict[str, Any]:
    return {
        "routeKey": "POST /webhooks/{source}",
        "rawPath": f"/webhooks/{source}",
        "headers": {"x-fake-secret": secret},
        "requestContext": {"requestId": "req-1", "http": {"method": "POST", "path": f"/webhooks/{source}"}},
        "pathParameters": {"source": source},
        "body": body,
    }


def service(
    sources: Sequence[Any], queue: RecordingQueue | None = None, **settings: Any
) -> tuple[IngestService, RecordingQueue]:
    queue = queue or RecordingQueue()
    built = IngestService(
        IngestSettings("https://queue", "arn:secret", **settings),
        lambda: {"fake": "fake-secret"},
        queue,
        lambda: NOW,
        sources=SourceRegistry(list(sources)),
    )
    return built, queue


def handle(source: FakeSource, *, secret: str = "fake-secret", **settings: Any) -> tuple[HttpResponse, RecordingQueue]:
    built, queue = service([source], **settings)
    return built.handle(event(secret)), queue


def body(response: HttpResponse) -> Mapping[str, Any]:
    return dict(json.loads(response.body)["shaped"])


def test_an_unmappable_submission_is_rejected_with_its_reasons_and_the_others_are_queued() -> None:
    response, queue = handle(FakeSource([Unmappable(("no phone answer",)), VALID]))

    assert response.status == 202
    assert body(response)["rejected"] == [{"index": 0, "errors": ["no phone answer"]}]
    assert [json.loads(m.body)["contact"]["phone"] for m in queue.sent] == ["15105550123"]


def test_a_source_that_does_not_refuse_gets_202_when_nothing_is_valid() -> None:
    response, queue = handle(FakeSource([Unmappable(("no phone answer",))]))

    assert (response.status, body(response)["accepted"], queue.sent) == (202, 0, [])


def test_a_source_that_refuses_gets_422_when_nothing_is_valid() -> None:
    response, queue = handle(FakeSource([{"first": "Grace"}], refuses_when_nothing_valid=True))

    assert (response.status, body(response)["rejected"], queue.sent) == (
        422,
        [{"index": 0, "errors": ["phone is required"]}],
        [],
    )


def test_the_source_renders_refusals_too() -> None:
    response, _ = handle(FakeSource([VALID]), secret="wrong")

    assert (response.status, response.headers["Content-Type"]) == (401, "x-fake")
    assert body(response)["error"]["code"] == "unauthorized"


def test_a_body_that_cannot_be_decoded_is_refused_in_the_sources_format() -> None:
    built, _ = service([FakeSource([VALID])])
    broken = {**event(), "body": "%%% not base64", "isBase64Encoded": True}

    response = built.handle(broken)

    assert (response.status, response.headers["Content-Type"]) == (400, "x-fake")


def test_authenticate_is_given_the_services_clock() -> None:
    source = FakeSource([VALID])

    handle(source)

    assert source.seen_now == [NOW]


def test_read_is_given_the_sources_mapping_or_the_empty_one() -> None:
    mapped = SourceMapping.from_json({"phone": "mobile"})
    source = FakeSource([VALID])

    handle(source, mappings={"fake": mapped})
    handle(source, mappings={"other": mapped})

    assert source.seen_mappings == [mapped, SourceMapping()]


def test_a_request_is_read_once() -> None:
    source = FakeSource([VALID], sender_id="delivery-1")

    handle(source)

    assert source.reads == 1


def test_an_unknown_source_is_404_naming_the_known_ones() -> None:
    built, _ = service([FakeSource([VALID])])

    response = built.handle(event(source="nope"))

    assert response.status == 404
    assert "fake" in json.loads(response.body)["error"]["message"]


def test_two_services_keep_their_own_registries() -> None:
    first, _ = service([FakeSource([VALID])])
    second, _ = service([FakeSource([VALID], name="other")])

    assert (first.handle(event()).status, second.handle(event()).status) == (202, 404)


def test_an_invalid_optional_field_is_dropped_with_a_warning_and_the_contact_is_queued() -> None:
    response, queue = handle(FakeSource([{**VALID, "email": "grace@@example", "tags": "3,-1"}]))

    assert response.status == 202
    assert body(response)["accepted"] == 1
    [entry] = body(response)["rejected"]
    assert (entry["index"], entry["accepted"], entry["dropped"]) == (0, True, ["email", "tags"])
    assert all("queued without it" in warning for warning in entry["warnings"])
    assert json.loads(queue.sent[0].body)["contact"] == {"phone": "15105550123", "first": "Grace", "tags": [3]}


def test_a_contact_too_large_for_one_queue_message_is_413_naming_it() -> None:
    huge = {**VALID, "custom": {str(n): "x" * 4000 for n in range(70)}}

    response, queue = handle(FakeSource([VALID, huge]))

    assert response.status == 413
    assert body(response)["error"]["message"].startswith("contact 1 is ")
    assert body(response)["index"] == 1
    assert queue.sent == []


def test_no_digest_of_the_body_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    import hashlib

    built, _ = service([FakeSource([VALID], sender_id="delivery-1")])
    request = event(body='{"phone": "+15105550123"}')

    built.handle(request)

    logged = " ".join(json.dumps(record.__dict__, default=str) for record in caplog.records)
    assert "Webhook accepted" in logged
    assert "delivery-1" in logged  # the sender's own id is what identifies a delivery in the logs
    assert hashlib.sha256(request["body"].encode()).hexdigest() not in logged


# ---------------------------------------------------------------- one delivery holding one phone more than once


def with_recent(recent: FakeRecent, *submissions: Submission) -> tuple[HttpResponse, list[dict[str, Any]]]:
    queue = RecordingQueue()
    built = IngestService(
        IngestSettings("https://queue", "arn:secret"),
        lambda: {"fake": "fake-secret"},
        queue,
        lambda: NOW,
        sources=SourceRegistry([FakeSource(list(submissions))]),
        recent=recent,
    )
    response = built.handle(event())
    return response, [json.loads(message.body)["contact"] for message in queue.sent]


def test_a_delivery_opting_in_then_out_after_an_opt_out_ends_opted_out() -> None:
    # Given an opted-out contact queued a moment ago
    recent = FakeRecent()
    with_recent(recent, {"phone": "+15105550123", "is_opted_out": True})

    # When one delivery holds the phone opted in, then opted out again
    response, queued = with_recent(
        recent, {"phone": "+15105550123", "is_opted_out": False}, {"phone": "+15105550123", "is_opted_out": True}
    )

    # Then the contact ends as the delivery's last one says: opted out (the stored value, then what was queued)
    assert response.status == 202
    assert [True, *(contact["is_opted_out"] for contact in queued)][-1] is True


def test_one_phone_twice_in_a_delivery_is_queued_once_merged_in_order_the_last_winning() -> None:
    response, queued = with_recent(
        FakeRecent(),
        {"phone": "+15105550123", "first": "Al", "is_opted_out": False},
        {"phone": "(510) 555-0177", "first": "Bo"},
        {"phone": "510 555 0123", "last": "Turing", "is_opted_out": True},
    )

    assert body(response)["accepted"] == 3
    assert queued == [
        {"phone": "15105550177", "first": "Bo"},
        {"phone": "15105550123", "first": "Al", "last": "Turing", "is_opted_out": True},
    ]


def test_a_later_contact_for_a_phone_is_compared_with_the_earlier_one_of_its_delivery_not_only_the_stored_one() -> None:
    # Given "Al" stored for the phone
    recent = FakeRecent()
    with_recent(recent, {"phone": "+15105550123", "first": "Al"})

    # When one delivery renames it "Alan" and then back to "Al", with a new last name
    _, queued = with_recent(
        recent, {"phone": "+15105550123", "first": "Alan"}, {"phone": "+15105550123", "first": "Al", "last": "T"}
    )

    # Then the contact queued is the last one's
    assert queued == [{"phone": "15105550123", "first": "Al", "last": "T"}]
    assert recent.seen(["15105550123"])  # and it is now the latest for its phone


def test_a_phone_repeated_in_a_delivery_without_the_table_is_still_queued_once() -> None:
    _response, queue = handle(
        FakeSource([{"phone": "+15105550123", "is_opted_out": False}, {"phone": "+15105550123", "is_opted_out": True}])
    )

    assert [json.loads(m.body)["contact"]["is_opted_out"] for m in queue.sent] == [True]


def test_an_answer_with_warnings_is_replayed_as_it_was_given() -> None:
    from heymarket_bridge.ingest.replies import Rejection

    entries = [
        Rejection(0, ["email is not a valid address"], dropped=["email"], notes=["phone was read as +31"]),
        Rejection(1, [], notes=["phone was read as +44"]),
        Rejection(2, ["phone is required"]),
    ]

    assert [Rejection.from_dict(entry.to_dict()) for entry in entries] == entries
