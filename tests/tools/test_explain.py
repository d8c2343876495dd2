"""`heymarket-bridge explain`: a recorded delivery explained offline, through the ingest function's own read and
planning, so that it says what ingest does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heymarket_bridge.ingest.sources import SOURCE_NAMES
from heymarket_bridge_tools import cli
from heymarket_bridge_tools.explain import explain, request_of
from heymarket_bridge_tools.samples import sample_of, sample_payload
from tests.support import EVENTS, load_event
from tests.unit.ingest.sources.harness import deliver


def test_a_sample_is_explained_field_by_field_with_phones_and_emails_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["explain", "typeform", str(EVENTS / "typeform" / "form_response.json")]) == 0

    out = capsys.readouterr().out
    assert "contact 0: queued" in out
    assert "payload field form_response.answers[2].phone_number" in out
    assert "first          Grace  <- the source's default; payload field form_response.answers[0].text" in out
    assert "phone country  US (+1)" in out
    assert "POST /v2/contacts upsert" in out
    payload = json.loads(load_event("typeform/form_response")["body"])
    email = payload["form_response"]["answers"][3]["email"]
    assert email not in out
    assert "g***@example.com" in out


def test_unmasked_shows_the_phone_and_email_whole(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "typeform", str(EVENTS / "typeform" / "form_response.json"), "--unmasked"]) == 0

    out = capsys.readouterr().out
    payload = json.loads(load_event("typeform/form_response")["body"])
    answers = payload["form_response"]["answers"]
    assert f"email          {answers[3]['email']}" in out
    assert f"phone          {answers[2]['phone_number']}" in out
    assert "15*****" not in out


def test_a_default_country_that_is_not_a_country_code_is_a_usage_error() -> None:
    event = str(EVENTS / "typeform" / "form_response.json")
    assert cli.main(["explain", "typeform", event, "--default-country", "USA"]) == 2


def test_a_raw_body_with_mappings_names_the_mapping_the_country_evidence_consent_and_refusals(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text(
        json.dumps(
            [
                {
                    "phone": "55 1234 5678",
                    "country": "MX",
                    "full_name": "Ada King Lovelace",
                    "clinic": "North",
                    "is_opted_out": "yes",
                },
                {"phone": "nope", "email": "x@example.com"},
            ]
        )
    )
    mappings = tmp_path / "mappings.json"
    mappings.write_text(
        json.dumps(
            {
                "generic": {
                    "name": "full_name",
                    "custom": {"Preferred clinic": "clinic"},
                    "constants": {"tags": ["Web lead"], "lists": ["Spring"]},
                }
            }
        )
    )

    assert cli.main(["explain", "generic", str(body), "--body", "--mappings", str(mappings)]) == 0

    out = capsys.readouterr().out
    assert "first          Ada King  <- mapped (name <- full_name, split on its last space)" in out
    assert (
        "custom[Preferred clinic] North  <- mapped (custom.Preferred clinic <- clinic); payload field [0].clinic" in out
    )
    assert "phone country  MX (+52)" in out
    assert "about the person: country 'MX'" in out
    assert "consent        is_opted_out = 'yes'; an opt-out (is_opted_out true)" in out
    assert "an opt-out: POST /v2/contacts upsert" in out
    assert "PUT /v2/lists/{id} remove_phones for managed list 'Spring'" in out
    assert "POST /v1/tags (read): tag names ['Web lead'] resolved to ids" in out
    assert "contact 1: REFUSED" in out
    assert "refused        phone has the word 'nope'" in out
    assert "a refusal letter goes to the DLQ" in out


def test_a_delivery_refused_as_a_whole_says_what_the_sender_is_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"no": "form_response"}')

    assert cli.main(["explain", "typeform", str(body), "--body"]) == 1
    assert 'refused: 400 the Typeform payload has no "form_response" object' in capsys.readouterr().out


@pytest.mark.parametrize("source", sorted(SOURCE_NAMES))
def test_explain_queues_what_the_ingest_function_accepts_for_every_sample(source: str) -> None:
    # Given each source's sample (the one `send` posts) as its sender posts it
    sample = sample_of(source)
    payload = sample_payload(source)

    # When it is explained, and when the ingest function (with the demo secrets) takes the same event
    told = explain(source, request_of(source, payload.body, payload.content_type), {})
    answer = deliver(sample.event)

    # Then explain queues the very contacts ingest queues, and refuses those it rejects
    queued = {json.dumps(story.queued, sort_keys=True) for story in told.contacts if story.queued is not None}
    refused = {story.index for story in told.contacts if story.refused}
    assert answer.status in (200, 202)  # Salesforce's acknowledgement is a 200
    assert queued == {json.dumps(contact, sort_keys=True) for contact in answer.queued}
    if answer.reply.body.startswith("{"):  # Salesforce is answered in SOAP, which names no refusal
        rejected = answer.rejected
        assert refused == {item["index"] for item in rejected if not item.get("dropped") and not item.get("notes")}
    else:
        assert refused == {2}  # its sample's third notification has no phone


def test_a_bulk_delete_event_is_explained_target_by_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["explain", "deletes", str(EVENTS / "generic" / "delete_contacts.json")]) == 0

    out = capsys.readouterr().out
    assert "delete contact_id 6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60: DELETE /v2/contacts by that UUID" in out
    assert "delete phone 14*****0132: POST /v2/contacts/search by phone, then DELETE /v2/contacts" in out
    assert "refused contact_ids[1]: contact_id must be a UUID" in out


def test_a_raw_delete_body_with_nothing_valid_lists_each_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "delete.json"
    body.write_text('{"phones": ["+1 510 555 0123", "x"]}')

    assert cli.main(["explain", "deletes", str(body), "--body", "--unmasked"]) == 0

    out = capsys.readouterr().out
    assert "delete phone 15105550123" in out
    assert "refused phones[1]: phone has the word 'x'" in out
