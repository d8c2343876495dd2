"""Refusal letters in the operator's tools: a correction (`dlq redrive --set`, heymarket_bridge_tools.dlq_corrections)
sends a
letter back only through validation again, never opting a person in; the importer reads an exported letter as its
fields; `dlq show` masks its phone. The letters themselves are written at ingest (tests/unit/ingest/test_letters.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.domain.failures import InvalidContact
from heymarket_bridge.domain.operations import REFUSED_AT_INGEST, DeadLetter
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge_tools.dlq_corrections import CORRECTABLE_FIELDS, corrected_fields, parse_sets, revalidated
from heymarket_bridge_tools.importer import _unwrapped
from tests.doubles.dead_letters import FakeDeadLetters
from tests.doubles.queue import RecordingQueue
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import SIGNED_AT
from tests.unit.ingest.sources.payloads import hubspot
from tests.unit.ingest.test_letters import REFUSED, letter


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
    from heymarket_bridge_tools.dlq_letters import DeadLetterEntry

    letter = refusal(dict(REFUSED, phone="(510) 555-01 (cell)"))
    entry = DeadLetterEntry("m-1", "r-1", letter.to_json(), letter)

    assert "555-01" not in json.dumps(entry.masked())
    assert entry.unmasked()["fields"]["phone"] == "(510) 555-01 (cell)"


# From tests/unit/ingest/sources/test_phone_identity_second_review.py (finding 6): a correction must not bypass
# consent: a refusal letter of a person who opted out (is_opted_out: true, as received) is redriven with `--set
# phone=... --set is_opted_out=false`; the redrive queues the contact without the opt-out, and the sandbox then holds
# a new contact opted in (seen on the local stack: `dlq redrive --message-id <id> --set phone=+15105550155 --set
# is_opted_out=false` -> 15105550155 is_opted_out false). README: "an opt-out from a source always applies"; only the
# person opts back in.
def test_redrive_correction_cannot_drop_the_persons_opt_out() -> None:
    letter = DeadLetter(
        error="refused at ingest from generic: phone is not a valid number for its country",
        attempts=0,
        source="generic",
        received_at="2026-11-23T09:00:00.000+00:00",
        contact=None,
        kind=REFUSED_AT_INGEST,
        fields={"phone": "+1 510 555 01", "first": "Opt", "is_opted_out": True},
        region="US",
    )
    try:
        sets = parse_sets(["phone=+15105550155", "is_opted_out=false"])
    except ValueError:
        return  # refusing the correction is one right answer
    contact = json.loads(revalidated(letter, sets))["contact"]
    assert contact.get("is_opted_out") is True, f"the person's opt-out was dropped by a correction: {contact}"
