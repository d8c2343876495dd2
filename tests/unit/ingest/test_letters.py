"""Nothing refused is gone (issue 22, kind 7): a contact refused at ingest for its content becomes a refusal letter in
the DLQ, with the reason, the source and the fields as received, and goes back only through validation again."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.domain.contact import InvalidContact
from heymarket_bridge.domain.mapping import Unmappable
from heymarket_bridge.domain.operations import (
    REFUSED_AT_INGEST,
    REFUSED_FIELDS_MAX_BYTES,
    DeadLetter,
    MalformedMessage,
    bounded_fields,
    parse_operation,
)
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import SourceRegistry, default_sources
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge_tools.importer import _unwrapped
from heymarket_bridge_tools.ops import CORRECTABLE_FIELDS, corrected_fields, parse_sets, revalidated
from tests.doubles.dead_letters import FakeDeadLetters
from tests.doubles.queue import RecordingQueue
from tests.doubles.source import FakeSource
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import SIGNED_AT
from tests.unit.ingest.sources.payloads import hubspot
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


def test_a_vendor_contact_refused_for_its_phone_is_corrected_with_its_name_email_and_the_payloads_country() -> None:
    # Given a HubSpot contact in Mexico whose phone property is not a number, refused into a letter
    event = hubspot({"mobilephone": "n/a", "lastname": "Teen", "email": "jo.teen@example.com", "country": "Mexico"})
    letters = FakeDeadLetters()
    service = IngestService(
        IngestSettings("https://queue", "arn:secret"),
        demo_webhook_secrets,
        RecordingQueue(),
        clock=lambda: SIGNED_AT,
        sources=default_sources(),
        refusals=letters,
    )
    service.handle(event)

    # When the operator corrects its phone with the national number the person gave elsewhere
    body = revalidated(letter(letters), parse_sets(["phone=55 1234 5679"]))

    # Then the number is read in Mexico, and the contact keeps its name and email
    assert json.loads(body)["contact"] == {
        "phone": "525512345679",
        "first": "Ana",
        "last": "Teen",
        "email": "jo.teen@example.com",
    }


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


# ---------------------------------------------------------------------- sent again only through validation


def refusal(fields: dict[str, Any], region: str = "US") -> DeadLetter:
    return DeadLetter(
        "refused at ingest from typeform: not a phone number",
        0,
        "typeform",
        "2026-11-23T09:00:00.000+00:00",
        None,
        correlation_id="req-1",
        operation_id="req-1#0",
        kind=REFUSED_AT_INGEST,
        fields=fields,
        region=region,
    )


def test_a_corrected_refusal_letter_goes_back_as_an_upsert_from_its_source_validated_like_a_delivery() -> None:
    body = revalidated(refusal(REFUSED), parse_sets(["phone=(510) 555-0123"]))

    operation = json.loads(body)
    assert operation["op"] == "upsert"
    assert operation["source"] == "typeform"
    assert operation["contact"] == {
        "phone": "15105550123",
        "first": "Ada",
        "last": "Lovelace",
        "email": "ada@example.com",
    }


def test_a_refusal_letter_still_invalid_after_its_corrections_is_refused_again() -> None:
    with pytest.raises(InvalidContact):
        revalidated(refusal(REFUSED), parse_sets(["first=Ada"]))


def test_a_national_number_in_a_refusal_letter_is_read_in_the_region_the_ingest_function_read_it_in() -> None:
    body = revalidated(refusal({"phone": "020 7946 0018"}, region="GB"), {})

    assert json.loads(body)["contact"]["phone"] == "442079460018"


def test_a_custom_value_is_corrected_key_by_key() -> None:
    fields = corrected_fields(refusal({"phone": "x", "custom": {"101": "a", "102": "b"}}), {"custom.102": "c"})

    assert fields["custom"] == {"101": "a", "102": "c"}


def test_a_set_option_without_a_value_separator_is_refused() -> None:
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_sets(["phone"])


def test_every_field_a_correction_may_set_is_one_the_contact_rules_read() -> None:
    from heymarket_bridge.domain.contact import _OPTIONAL_FIELDS, COUNTRY_FIELDS

    read = {"phone", *COUNTRY_FIELDS, *(name for name, _ in _OPTIONAL_FIELDS if name != "custom")}

    assert set(CORRECTABLE_FIELDS) == read


def test_an_exported_refusal_letter_re_imported_is_read_as_its_fields() -> None:
    exported = json.loads(refusal(dict(REFUSED, phone="+15105550123")).to_json())

    assert _unwrapped(exported) == dict(REFUSED, phone="+15105550123")


# ---------------------------------------------------------------------- a correction never opts a person in
@pytest.mark.parametrize("value", ["false", "no", "0", "off"])
def test_a_set_that_would_opt_a_person_in_is_a_usage_error(value: str) -> None:
    with pytest.raises(ValueError, match="only set is_opted_out=true"):
        parse_sets([f"is_opted_out={value}"])


def test_a_set_may_add_an_opt_out() -> None:
    body = revalidated(refusal(REFUSED), parse_sets(["phone=(510) 555-0123", "is_opted_out=true"]))

    assert json.loads(body)["contact"]["is_opted_out"] is True


def test_a_correction_that_drops_the_letters_opt_out_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot remove it"):
        revalidated(refusal(dict(REFUSED, is_opted_out=True)), {"phone": "(510) 555-0123", "is_opted_out": ""})


def test_a_corrected_letter_carries_no_consent_claim_so_it_is_never_re_consent() -> None:
    body = revalidated(refusal(dict(REFUSED, is_opted_out=True)), parse_sets(["phone=(510) 555-0123"]))

    assert "consent" not in json.loads(body)


def test_a_refusal_letter_edited_into_an_opt_in_is_refused_on_import(tmp_path: Any) -> None:
    from heymarket_bridge_tools.importer import read_export

    exported = json.loads(refusal(dict(REFUSED, phone="+15105550123", is_opted_out=False)).to_json())
    path = tmp_path / "letters.jsonl"
    path.write_text(json.dumps(exported) + "\n", encoding="utf-8")

    [row] = list(read_export(path).rows)
    assert row.values is None
    assert "only the person opts back in" in row.problem


def test_dlq_show_masks_a_refusal_letters_phone_as_received_and_unmasked_shows_it_whole() -> None:
    from heymarket_bridge_tools.ops import DeadLetterEntry

    letter = refusal(dict(REFUSED, phone="(510) 555-01 (cell)"))
    entry = DeadLetterEntry("m-1", "r-1", letter.to_json(), letter)

    assert "555-01" not in json.dumps(entry.masked())
    assert entry.unmasked()["fields"]["phone"] == "(510) 555-01 (cell)"
