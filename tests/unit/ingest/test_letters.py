"""Nothing refused is gone (issue 22, kind 7): a contact refused at ingest for its content becomes a refusal letter in
the DLQ, with the reason, the source and the fields as received, and goes back only through validation again (the
operator's correction of a letter: tests/tools/test_dlq_refusal_letters.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.mapping import Unmappable
from heymarket_bridge.domain.operations import (
    REFUSED_AT_INGEST,
    REFUSED_FIELDS_MAX_BYTES,
    DeadLetter,
    bounded_fields,
    parse_operation,
)
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import SourceRegistry
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from tests.doubles.dead_letters import FakeDeadLetters
from tests.doubles.queue import RecordingQueue
from tests.doubles.source import FakeSource
from tests.unit.ingest.test_service import NOW, VALID, body, event

REFUSED = {"phone": "(510) 555-01", "first": "Ada", "last": "Lovelace", "email": "ada@example.com"}


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def post(source: FakeSource, letters: FakeDeadLetters, *, secret: str = "fake-secret") -> tuple[Any, RecordingQueue]:
    queue = RecordingQueue()
    service = IngestService(
        IngestSettings("https://queue", "arn:secret", default_country="GB"),
        lambda: {"fake": "fake-secret"},
        queue,
        lambda: NOW,
        sources=SourceRegistry([source]),
        refusals=letters,
    )
    return service.handle(event(secret)), queue


def letter(letters: FakeDeadLetters) -> DeadLetter:
    [only] = letters.letters
    return DeadLetter.from_json(only.to_json())  # as the DLQ holds it


# ---------------------------------------------------------------------- at ingest


def test_a_contact_refused_for_its_content_becomes_a_refusal_letter_with_its_reason_source_and_fields() -> None:
    letters = FakeDeadLetters()

    response, _ = post(FakeSource([REFUSED]), letters)

    written = letter(letters)
    assert response.status == 202
    assert written.kind == REFUSED_AT_INGEST
    assert written.fields == REFUSED
    assert (written.source, written.region, written.correlation_id) == ("fake", "GB", "req-1")
    assert written.error.startswith("refused at ingest from fake: ")
    assert body(response)["rejected"][0]["errors"][0] in written.error


def test_the_valid_part_of_a_delivery_is_still_queued_and_the_answer_still_lists_the_refusal() -> None:
    letters = FakeDeadLetters()

    response, queue = post(FakeSource([REFUSED, VALID]), letters)

    assert response.status == 202
    assert [r["index"] for r in body(response)["rejected"]] == [0]
    assert [json.loads(m.body)["contact"]["phone"] for m in queue.sent] == ["15105550123"]
    assert len(letters.letters) == 1


def test_a_submission_the_source_could_not_map_becomes_a_refusal_letter_with_its_reasons() -> None:
    letters = FakeDeadLetters()

    post(FakeSource([Unmappable(("no phone answer",))]), letters)

    written = letter(letters)
    assert written.error == "refused at ingest from fake: no phone answer"
    assert written.fields == {}


def test_a_submission_the_source_could_not_map_keeps_what_the_source_read_of_it_in_its_letter() -> None:
    letters = FakeDeadLetters()
    read = {"first": "Ada", "email": "ada@example.com", "country_evidence": [{"field": "country", "value": "MX"}]}

    post(FakeSource([Unmappable(("no phone answer",), read)]), letters)

    assert letter(letters).fields == read


def test_a_source_answered_422_for_nothing_valid_still_gets_its_refusals_written() -> None:
    letters = FakeDeadLetters()

    response, _ = post(FakeSource([REFUSED], refuses_when_nothing_valid=True), letters)

    assert response.status == 422
    assert len(letters.letters) == 1


def test_a_refusal_letter_that_cannot_be_written_makes_the_answer_a_503_so_the_sender_retries() -> None:
    response, _ = post(FakeSource([REFUSED, VALID]), FakeDeadLetters(refuse=True))

    assert response.status == 503


def test_a_delivery_refused_for_its_authentication_writes_no_letter() -> None:
    letters = FakeDeadLetters()

    response, _ = post(FakeSource([REFUSED]), letters, secret="wrong")

    assert response.status == 401
    assert letters.letters == []


def test_an_accepted_contact_writes_no_letter() -> None:
    letters = FakeDeadLetters()

    post(FakeSource([VALID]), letters)

    assert letters.letters == []


def test_the_refusal_letters_written_are_counted_under_their_own_metric(capsys: pytest.CaptureFixture[str]) -> None:
    post(FakeSource([REFUSED, dict(REFUSED, phone="x")]), FakeDeadLetters())
    metrics.flush_metrics()  # as the handler's log_metrics does when the invocation ends

    counted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"RefusalLettersWritten"' in line]
    assert [record["RefusalLettersWritten"] for record in counted] == [[2.0]]


# ---------------------------------------------------------------------- the letter itself


def test_the_fields_a_refusal_letter_keeps_are_bounded() -> None:
    huge = {"phone": "x" * 5000, "custom": {str(n): "v" * 900 for n in range(100)}, "tags": list(range(100))}

    kept, cut = bounded_fields(huge)

    assert cut
    assert len(kept["phone"]) == 1000
    assert len(json.dumps(kept).encode()) <= REFUSED_FIELDS_MAX_BYTES


def test_small_fields_are_kept_as_received() -> None:
    assert bounded_fields(REFUSED) == (REFUSED, False)


def test_a_sync_letter_is_written_as_before_without_the_refusal_fields() -> None:
    sync = DeadLetter("heymarket refused it", 5, "generic", "t", {"phone": "15105550123"}, message="{}")

    assert {"kind", "fields", "region"}.isdisjoint(json.loads(sync.to_json()))


def test_a_refusal_letter_moved_back_to_the_queue_by_sqs_is_unreadable_and_says_how_to_send_it_again() -> None:
    written = FakeDeadLetters()
    post(FakeSource([REFUSED]), written)

    with pytest.raises(MalformedMessage, match="dlq redrive"):
        parse_operation(written.letters[0].to_json())
