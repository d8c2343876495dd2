from __future__ import annotations

from typing import Any

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    seconds,
    tampered,
    with_headers,
    with_json,
)

SAMPLE = "calendly/invitee_created"


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def test_the_sample_invitee_becomes_a_contact_named_by_splitting_name(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 202
    assert delivered.queued == [
        {"phone": "14045550187", "first": "Dorothy Johnson", "last": "Vaughan", "email": "dorothy.vaughan@example.com"}
    ]


def test_first_and_last_name_win_over_splitting_name(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["payload"].update(first_name="Dorothy", last_name="Johnson Vaughan")

    [contact] = deliver(with_json(event, payload)).queued

    assert (contact["first"], contact["last"]) == ("Dorothy", "Johnson Vaughan")


def test_without_an_sms_reminder_number_the_phone_question_is_used(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["payload"]["text_reminder_number"] = None
    payload["payload"]["questions_and_answers"][1]["answer"] = "404 555 0199"

    [contact] = deliver(with_json(event, payload)).queued

    assert contact["phone"] == "14045550199"


def test_a_changed_body_is_401_and_nothing_is_queued(event: dict[str, Any]) -> None:
    delivered = deliver(tampered(event, "dorothy.vaughan@example.com", "someone@example.com"))

    assert delivered.status == 401
    assert delivered.queued == []


def test_a_signature_made_with_another_key_is_401(event: dict[str, Any]) -> None:
    assert deliver(resigned(event, secret="another-signing-key")).status == 401


def test_a_missing_signature_is_401(event: dict[str, Any]) -> None:
    assert deliver(with_headers(event, calendly_webhook_signature=None)).status == 401


@pytest.mark.parametrize("offset_s", [-181, 181])
def test_a_signature_more_than_three_minutes_away_is_401(event: dict[str, Any], offset_s: int) -> None:
    assert deliver(event, now=SIGNED_AT + seconds(offset_s)).status == 401


def test_a_signature_within_three_minutes_is_accepted(event: dict[str, Any]) -> None:
    assert deliver(event, now=SIGNED_AT + seconds(179)).status == 202


def test_a_payload_without_the_invitee_is_400_naming_it(event: dict[str, Any]) -> None:
    delivered = deliver(with_json(event, {"event": "invitee.created", "created_at": "2026-11-23T09:00:00Z"}))

    assert delivered.status == 400
    assert '"payload"' in delivered.json["error"]["message"]


def test_an_event_without_an_invitee_is_rejected_with_the_reason(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["event"] = "routing_form_submission.created"

    delivered = deliver(with_json(event, payload))

    assert delivered.status == 202
    assert delivered.rejected == [
        {
            "index": 0,
            "errors": [
                'Calendly event "routing_form_submission.created" carries no invitee; subscribe to invitee.created'
            ],
        }
    ]


def test_an_invitee_without_any_phone_is_rejected_with_the_reason(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["payload"]["text_reminder_number"] = None
    payload["payload"]["questions_and_answers"] = []

    delivered = deliver(with_json(event, payload))

    assert delivered.rejected == [
        {
            "index": 0,
            "errors": ["the Calendly invitee has no phone number: no text_reminder_number and no phone question"],
        }
    ]
    assert delivered.queued == []


def test_a_mapping_reads_answers_by_question_and_the_payload_by_path(event: dict[str, Any]) -> None:
    mapping = {"custom": {"101": "What would you like to talk about?", "102": "scheduled_event.name"}}

    [contact] = deliver(event, mappings={"calendly": mapping}).queued

    assert contact["custom"] == {"101": "Campus tour for my daughter", "102": "Campus tour"}


def test_the_delivery_id_is_the_event_and_the_invitee_uri(event: dict[str, Any]) -> None:
    assert read_delivery(event).identity.sender_id == (
        "invitee.created:https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/DDDDDDDDDDDDDDDD"
    )


def test_an_sms_consent_answer_before_the_phone_question_is_not_taken_for_the_phone(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["payload"]["text_reminder_number"] = None
    payload["payload"]["questions_and_answers"] = [
        {"question": "May we send you SMS reminders?", "answer": "Yes", "position": 0},
        {"question": "Phone number", "answer": "(510) 555-0126", "position": 1},
    ]

    delivered = deliver(with_json(event, payload))

    assert (delivered.status, [c["phone"] for c in delivered.queued]) == (202, ["15105550126"])


def test_a_phone_question_whose_answer_is_not_a_number_is_rejected_saying_so(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["payload"]["text_reminder_number"] = None
    payload["payload"]["questions_and_answers"] = [{"question": "SMS reminders?", "answer": "Yes", "position": 0}]

    delivered = deliver(with_json(event, payload))

    assert delivered.queued == []
    assert "does not parse as a phone number" in delivered.rejected[0]["errors"][0]


@pytest.mark.parametrize("timestamp", ["9" * 400, "١٧٩٥٤٢٤٤٠٠", "", "12.5"])
def test_a_t_that_is_not_seconds_is_401_not_500(event: dict[str, Any], timestamp: str) -> None:
    header = event["headers"]["calendly-webhook-signature"]
    v1 = header.split(",", 1)[1]

    delivered = deliver(with_headers(event, calendly_webhook_signature=f"t={timestamp},{v1}"))

    assert delivered.status == 401


def test_a_signature_header_sent_twice_is_read_once(event: dict[str, Any]) -> None:
    header = event["headers"]["calendly-webhook-signature"]

    assert deliver(with_headers(event, calendly_webhook_signature=f"{header},{header}")).status == 202


# Calendly's time is inside what it signs ("<t>.<body>"), so its window cannot be side-stepped the way Shopify's
# unsigned header could: a recorded signature without its t, or with a fresh t added, is refused.


@pytest.mark.parametrize("header", ["v1={sig}", "t={now},v1={sig}", "t={t},t={now},v1={sig}", "v1={sig},t={now}"])
def test_a_recorded_signature_replayed_with_its_time_removed_or_changed_is_401(
    event: dict[str, Any], header: str
) -> None:
    recorded = event["headers"]["calendly-webhook-signature"]
    t, sig = (part.split("=", 1)[1] for part in recorded.split(","))
    now = int((SIGNED_AT + seconds(3600)).timestamp())
    replayed = with_headers(event, calendly_webhook_signature=header.format(t=t, now=now, sig=sig))

    assert deliver(replayed, now=SIGNED_AT + seconds(3600)).status == 401
