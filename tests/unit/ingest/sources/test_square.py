from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from heymarket_bridge_tools.signing import event_body, sign
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    tampered,
    with_body,
    with_headers,
    with_json,
)
from tests.unit.ingest.sources.in_turn import deliver_in_turn

CREATED = "square/customer_created"


@pytest.fixture
def created() -> dict[str, Any]:
    return load_event(CREATED)


def with_customer(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The event with these customer fields changed (and the event's `type`, `event_id`, `created_at`)."""
    payload = payload_of(event)
    for name in ("type", "event_id", "created_at"):
        if name in changes:
            payload[name] = changes.pop(name)
    payload["data"]["object"]["customer"].update(changes)
    return with_json(event, payload)


def test_the_documented_customer_created_becomes_a_contact(created: dict[str, Any]) -> None:
    delivered = deliver(created)

    assert delivered.status == 202
    assert delivered.queued == [
        {"phone": "12125554240", "first": "Amelia", "last": "Earhart", "email": "amelia.earhart@example.com"}
    ]


def test_customer_updated_is_read_as_the_customer(created: dict[str, Any]) -> None:
    [contact] = deliver(with_customer(created, type="customer.updated", family_name="Putnam")).queued

    assert contact["last"] == "Putnam"


def test_the_event_id_and_created_at_go_with_the_contact(created: dict[str, Any]) -> None:
    delivery = read_delivery(created)

    assert delivery.identity.sender_id == "b3adf364-4937-436e-a833-49c72b4baee8"
    assert delivery.event_ids == ("b3adf364-4937-436e-a833-49c72b4baee8",)
    assert delivery.occurred_at[0] is not None
    assert delivery.occurred_at[0].isoformat() == "2026-11-23T08:59:56+00:00"


def test_customer_deleted_is_acknowledged_and_deletes_nothing(
    created: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """Square's customer.deleted carries the deleted customer's id and version (developer.squareup.com/reference/
    square/webhooks/customer.deleted)."""
    payload = {
        "merchant_id": "6SSW7HV8K2ST5",
        "type": "customer.deleted",
        "event_id": "616398cd-2cd3-4e13-86c0-2b8f8e44a1e5",
        "created_at": "2026-11-23T08:59:58.000Z",
        "data": {
            "type": "customer",
            "id": "A0AP1DGPDA6ZP5SXNWRXPTNB6MW",
            "deleted": True,
            "object": {"customer": {"id": "A0AP1DGPDA6ZP5SXNWRXPTNB6MW", "version": 1}},
        },
    }
    delivered = deliver(with_json(created, payload))

    assert (delivered.status, delivered.messages, delivered.rejected) == (202, [], [])
    assert "Square customer deleted: not applied" in caplog.text


def test_a_national_number_is_read_in_the_country_of_the_customers_address(created: dict[str, Any]) -> None:
    event = with_customer(created, phone_number="020 7946 0958", address={"country": "GB"})

    [contact] = deliver(event).queued

    assert contact["phone"] == "442079460958"


@pytest.mark.parametrize("unsubscribed", [True, False])
def test_the_email_unsubscribed_preference_is_never_read_as_sms_consent(
    created: dict[str, Any], unsubscribed: bool
) -> None:
    event = with_customer(created, preferences={"email_unsubscribed": unsubscribed})

    [contact] = deliver(event).queued

    assert "is_opted_out" not in contact
    assert read_delivery(event).consent == ()


def test_a_customer_without_a_phone_is_rejected_with_the_reason(created: dict[str, Any]) -> None:
    delivered = deliver(with_customer(created, phone_number=None))

    assert (delivered.status, delivered.queued) == (202, [])
    assert "no phone_number" in delivered.rejected[0]["errors"][0]


def test_another_event_type_is_rejected_with_the_reason_not_refused(created: dict[str, Any]) -> None:
    delivered = deliver(with_customer(created, type="payment.created"))

    assert (delivered.status, delivered.queued) == (202, [])
    assert 'Square event "payment.created" is not' in delivered.rejected[0]["errors"][0]


# ---------------------------------------------------------------- the signature: the notification URL and the body


def test_a_changed_body_is_401_and_nothing_is_queued(created: dict[str, Any]) -> None:
    delivered = deliver(tampered(created, "amelia.earhart@example.com", "someone@example.com"))

    assert (delivered.status, delivered.queued) == (401, [])


def test_a_signature_made_with_another_key_is_401(created: dict[str, Any]) -> None:
    assert deliver(resigned(created, secret="another-signature-key")).status == 401


def test_a_missing_signature_is_401_naming_the_header(created: dict[str, Any]) -> None:
    delivered = deliver(with_headers(created, x_square_hmacsha256_signature=None))

    assert delivered.status == 401
    assert "x-square-hmacsha256-signature" in delivered.json["error"]["message"]


def test_a_signature_over_another_url_is_401_naming_the_url_checked(created: dict[str, Any]) -> None:
    body = event_body(created)
    secret = demo_webhook_secrets()["square"]
    header = sign("square", body, secret, url="https://elsewhere.example.com/webhooks/square", now=SIGNED_AT)

    delivered = deliver(with_headers(created, **{k.replace("-", "_"): v for k, v in header.items()}))

    assert delivered.status == 401
    assert "https://example.execute-api.us-east-1.amazonaws.com/webhooks/square" in delivered.json["error"]["message"]


def test_behind_a_custom_domain_the_public_base_url_is_the_url_signed(created: dict[str, Any]) -> None:
    base = "https://hooks.example.org/bridge"
    body = event_body(created)
    header = sign("square", body, demo_webhook_secrets()["square"], url=f"{base}/webhooks/square", now=SIGNED_AT)
    event = with_headers(created, **{k.replace("-", "_"): v for k, v in header.items()})

    assert deliver(event, public_base_url=base).status == 202
    assert deliver(created, public_base_url=base).status == 401  # signed for the API Gateway URL


def test_a_signed_event_created_longer_ago_than_squares_retries_is_a_replay_401(created: dict[str, Any]) -> None:
    later = SIGNED_AT + timedelta(hours=27)

    delivered = deliver(created, now=later)

    assert delivered.status == 401
    assert "created_at" in delivered.json["error"]["message"]


def test_a_signed_event_retried_hours_later_is_accepted(created: dict[str, Any]) -> None:
    assert deliver(created, now=SIGNED_AT + timedelta(hours=23)).status == 202


@pytest.mark.parametrize("moment", [None, "yesterday", "9999-12-31T23:59:59+14:00", 1795424396, "2026-11-23T10:00:00Z"])
def test_a_signed_event_without_a_usable_created_at_is_401_not_500(created: dict[str, Any], moment: Any) -> None:
    assert deliver(with_customer(created, created_at=moment)).status == 401


# ---------------------------------------------------------------- repeats and order


def test_the_same_event_delivered_twice_gives_one_contact(created: dict[str, Any]) -> None:
    turns = deliver_in_turn([created, created])

    assert turns.replies[1]["duplicate"] is True
    assert len(turns.messages) == 1


def test_an_older_event_after_a_newer_one_is_ordered_below_it(created: dict[str, Any]) -> None:
    newer = with_customer(created, event_id="e-2", created_at="2026-11-23T08:59:59Z", family_name="Putnam")
    older = with_customer(created, event_id="e-1", created_at="2026-11-23T08:50:00Z", family_name="Earhart")

    turns = deliver_in_turn([newer, older])

    assert [m["contact"]["last"] for m in turns.messages] == ["Putnam", "Earhart"]
    newer_rank, older_rank = turns.ranks()
    assert older_rank < newer_rank


# ---------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '{"type": ["customer.created"]}',
        '{"type": "customer.created", "created_at": "2026-11-23T08:59:56Z", "data": {"object": {"customer": "x"}}}',
        '{"type": "customer.created", "created_at": "2026-11-23T08:59:56Z", "data": "x"}',
        "{" * 100_000,
        "\xff\xfe",
    ],
)
def test_a_body_that_is_no_square_customer_event_is_4xx(created: dict[str, Any], body: str) -> None:
    delivered = deliver(with_body(created, body))

    assert 400 <= delivered.status < 500
    assert delivered.queued == []


@pytest.mark.parametrize("value", [["+12125554240"], {"n": 1}, 12125554240, False, "9" * 50_000])
def test_a_phone_of_the_wrong_type_is_never_a_500(created: dict[str, Any], value: Any) -> None:
    delivered = deliver(with_customer(created, phone_number=value))

    assert delivered.status in (202, 413)


def test_an_address_of_the_wrong_type_says_nothing_of_the_country(created: dict[str, Any]) -> None:
    [contact] = deliver(with_customer(created, address=["US"])).queued

    assert contact["phone"] == "12125554240"
