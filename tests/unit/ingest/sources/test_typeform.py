from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    tampered,
    with_headers,
    with_json,
)

SAMPLE = "typeform/form_response"


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def answers_without(payload: dict[str, Any], *refs: str) -> dict[str, Any]:
    response = payload["form_response"]
    response["answers"] = [a for a in response["answers"] if a["field"]["ref"] not in refs]
    return payload


def test_the_sample_response_becomes_one_normalised_contact(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 202
    assert delivered.json["accepted"] == 1
    assert delivered.queued == [
        {"phone": "15105550123", "first": "Grace", "last": "Hopper", "email": "grace@example.com"}
    ]


def test_a_changed_body_is_401_and_nothing_is_queued(event: dict[str, Any]) -> None:
    delivered = deliver(tampered(event, "+15105550123", "+15105550199"))

    assert delivered.status == 401
    assert delivered.queued == []


def test_a_signature_made_with_another_secret_is_401(event: dict[str, Any]) -> None:
    assert deliver(resigned(event, secret="not-the-typeform-secret")).status == 401


def test_a_missing_signature_is_401(event: dict[str, Any]) -> None:
    assert deliver(with_headers(event, typeform_signature=None)).status == 401


def test_a_payload_without_form_response_is_400_naming_it(event: dict[str, Any]) -> None:
    delivered = deliver(with_json(event, {"event_id": "x", "event_type": "form_response"}))

    assert delivered.status == 400
    assert "form_response" in delivered.json["error"]["message"]


def test_a_response_without_a_phone_answer_is_rejected_with_the_reason(event: dict[str, Any]) -> None:
    delivered = deliver(with_json(event, answers_without(payload_of(event), "mobile")))

    assert delivered.status == 202
    assert delivered.json["accepted"] == 0
    assert delivered.rejected == [
        {"index": 0, "errors": ["the Typeform response has no phone number: no phone_number answer"]}
    ]
    assert delivered.queued == []


def test_one_full_name_answer_is_split_on_its_last_space(event: dict[str, Any]) -> None:
    payload = answers_without(payload_of(event), "01JDQ2A1first", "01JDQ2A2last")
    payload["form_response"]["definition"]["fields"].append(
        {"id": "Zz9", "ref": "01JDQ2A9", "type": "short_text", "title": "What is your name?"}
    )
    payload["form_response"]["answers"].append(
        {"type": "text", "text": "Ada King Lovelace", "field": {"id": "Zz9", "type": "short_text", "ref": "01JDQ2A9"}}
    )

    [contact] = deliver(with_json(event, payload)).queued

    assert (contact["first"], contact["last"]) == ("Ada King", "Lovelace")


def test_a_mapping_reads_answers_by_field_ref_and_hidden_fields(event: dict[str, Any]) -> None:
    mapping = {
        "phone": "mobile",
        "custom": {"101": "campus", "102": "hidden.utm_source"},
        "constants": {"tags": [7], "custom": {"103": "typeform"}},
    }

    [contact] = deliver(event, mappings={"typeform": mapping}).queued

    assert contact["phone"] == "15105550123"
    assert contact["custom"] == {"101": "Oakland", "102": "instagram", "103": "typeform"}
    assert contact["tags"] == [7]


def test_a_mapped_phone_that_is_not_answered_rejects_naming_the_ref(event: dict[str, Any]) -> None:
    delivered = deliver(event, mappings={"typeform": {"phone": "work_phone"}})

    assert delivered.rejected == [
        {"index": 0, "errors": ['the Typeform response has no value for the mapped phone reference "work_phone"']}
    ]


def test_the_delivery_id_is_typeforms_event_id(event: dict[str, Any]) -> None:
    assert read_delivery(event).identity.sender_id == "01JDQ3YV0B8X6T2M9KZP4R7N5C"


def test_a_signature_header_sent_twice_with_the_same_value_is_accepted(event: dict[str, Any]) -> None:
    signature = event["headers"]["typeform-signature"]

    assert deliver(with_headers(event, typeform_signature=f"{signature},{signature}")).status == 202


def test_a_phone_answer_that_is_not_a_number_is_refused_never_replaced_by_a_later_phone_question(
    event: dict[str, Any],
) -> None:
    # Given the form's phone_number answer does not read and a later text question is about a phone (whose, the form
    # author's wording says: it may be anyone's)
    payload = payload_of(event)
    response = payload["form_response"]
    for answer in response["answers"]:
        if answer["type"] == "phone_number":
            answer["phone_number"] = "not given"
    response["answers"].append(
        {"type": "text", "text": "(510) 555-0126", "field": {"id": "Zz8", "type": "short_text", "ref": "cell_phone"}}
    )

    # When it is delivered
    result = deliver(with_json(event, payload))

    # Then nothing is queued: the respondent's own phone is the first phone field, and it is refused naming both
    assert result.queued == []
    assert "cell_phone" in result.reply.body


# Typeform signs no header time, but the signed body's submitted_at is when it sent the first delivery.


def test_a_signed_response_submitted_longer_ago_than_typeforms_retries_is_refused(event: dict[str, Any]) -> None:
    delivered = deliver(event, now=SIGNED_AT + timedelta(hours=13))

    assert delivered.status == 401
    assert "submitted_at" in delivered.json["error"]["message"]
    assert delivered.queued == []


def test_a_response_retried_ten_hours_after_it_was_submitted_is_accepted(event: dict[str, Any]) -> None:
    assert deliver(event, now=SIGNED_AT + timedelta(hours=10, minutes=40)).status == 202


def test_a_signed_response_replayed_years_later_is_refused(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    payload["form_response"]["landed_at"] = "2024-11-23T08:57:41Z"
    payload["form_response"]["submitted_at"] = "2024-11-23T08:59:58Z"

    assert deliver(with_json(event, payload)).status == 401


@pytest.mark.parametrize("moment", [None, "yesterday", "9999-12-31T23:59:59-23:59", "2026-11-23T09:00:00+99:99"])
def test_a_signed_response_without_a_usable_time_is_401_not_500(event: dict[str, Any], moment: str | None) -> None:
    payload = payload_of(event)
    del payload["form_response"]["landed_at"]
    payload["form_response"]["submitted_at"] = moment

    delivered = deliver(with_json(event, payload))

    assert delivered.status == 401
    assert "submitted_at" in delivered.json["error"]["message"]
