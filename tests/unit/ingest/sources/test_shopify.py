from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.support import demo_webhook_secrets, load_event
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


@pytest.fixture
def created() -> dict[str, Any]:
    return load_event("shopify/customers_create")


@pytest.fixture
def updated() -> dict[str, Any]:
    return load_event("shopify/customers_update")


def test_a_new_customer_becomes_a_contact_opted_in_by_sms_consent(created: dict[str, Any]) -> None:
    delivered = deliver(created)

    assert delivered.status == 202
    assert delivered.queued == [
        {
            "phone": "13125550143",
            "first": "Mary",
            "last": "Jackson",
            "email": "mary.jackson@example.com",
            "is_opted_out": False,
        }
    ]


def test_without_a_customer_phone_the_default_address_phone_is_read_in_its_country(updated: dict[str, Any]) -> None:
    assert deliver(updated).queued == [
        {"phone": "442079460958", "first": "Mary", "last": "Jackson", "email": "mary.jackson@example.com"}
    ]


@pytest.mark.parametrize(("state", "opted_out"), [("unsubscribed", True), ("subscribed", False)])
def test_sms_marketing_consent_sets_the_opt_out(created: dict[str, Any], state: str, opted_out: bool) -> None:
    payload = payload_of(created)
    payload["sms_marketing_consent"]["state"] = state

    [contact] = deliver(with_json(created, payload)).queued

    assert contact["is_opted_out"] is opted_out


@pytest.mark.parametrize("state", ["not_subscribed", "pending", "redacted"])
def test_other_consent_states_leave_the_opt_out_alone(created: dict[str, Any], state: str) -> None:
    payload = payload_of(created)
    payload["sms_marketing_consent"]["state"] = state

    [contact] = deliver(with_json(created, payload)).queued

    assert "is_opted_out" not in contact


def test_a_changed_body_is_401_and_nothing_is_queued(created: dict[str, Any]) -> None:
    delivered = deliver(tampered(created, "+13125550143", "+13125550199"))

    assert delivered.status == 401
    assert delivered.queued == []


def test_a_signature_made_with_another_secret_is_401(created: dict[str, Any]) -> None:
    assert deliver(resigned(created, secret="another-shop-secret")).status == 401


def test_a_missing_signature_is_401(created: dict[str, Any]) -> None:
    assert deliver(with_headers(created, x_shopify_hmac_sha256=None)).status == 401


def test_a_payload_that_is_not_a_customer_is_400_naming_the_id(created: dict[str, Any]) -> None:
    delivered = deliver(with_json(created, {"email": "mary.jackson@example.com"}))

    assert delivered.status == 400
    assert '"id"' in delivered.json["error"]["message"]


def test_another_topic_is_rejected_with_the_reason(created: dict[str, Any]) -> None:
    delivered = deliver(with_headers(created, x_shopify_topic="orders/create"))

    assert delivered.status == 202
    assert delivered.rejected == [
        {
            "index": 0,
            "errors": [
                'Shopify topic "orders/create" is not customers/create, customers/update or '
                "customers_marketing_consent/update"
            ],
        }
    ]


def test_a_customer_without_any_phone_is_rejected_with_the_reason(updated: dict[str, Any]) -> None:
    payload = payload_of(updated)
    payload["default_address"]["phone"] = None

    delivered = deliver(with_json(updated, payload))

    assert delivered.rejected == [
        {
            "index": 0,
            "errors": ["the Shopify customer has no phone number: no phone and no phone on the default address"],
        }
    ]
    assert delivered.queued == []


def test_a_mapping_reads_dotted_paths_into_the_customer(updated: dict[str, Any]) -> None:
    mapping = {"custom": {"101": "default_address.city"}, "constants": {"tags": [9]}}

    [contact] = deliver(updated, mappings={"shopify": mapping}).queued

    assert (contact["custom"], contact["tags"]) == ({"101": "London"}, [9])


def test_the_delivery_id_is_the_topic_and_the_event_id_header(created: dict[str, Any]) -> None:
    assert read_delivery(created).identity.sender_id == "customers/create:98d1ac1c-3b5e-4f6a-9f0e-6b1c2d3e4f50"


def test_a_delivery_triggered_longer_ago_than_shopifys_retries_is_refused(created: dict[str, Any]) -> None:
    delivered = deliver(created, now=SIGNED_AT + timedelta(hours=7))

    assert delivered.status == 401
    assert "X-Shopify-Triggered-At" in delivered.json["error"]["message"]


def test_a_delivery_retried_hours_after_it_was_triggered_is_accepted(created: dict[str, Any]) -> None:
    assert deliver(created, now=SIGNED_AT + timedelta(hours=4)).status == 202


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T99:00:00Z", "9" * 400])
def test_a_triggered_at_that_is_not_a_time_is_401_not_500(created: dict[str, Any], value: str) -> None:
    assert deliver(with_headers(created, x_shopify_triggered_at=value)).status == 401


def test_a_signature_header_sent_twice_with_the_same_value_is_accepted(created: dict[str, Any]) -> None:
    signature = created["headers"]["x-shopify-hmac-sha256"]

    assert deliver(with_headers(created, x_shopify_hmac_sha256=f"{signature},{signature}")).status == 202


# The window is enforced on the signed body's own time: the X-Shopify-Triggered-At header is not signed.


def two_years_old(event: dict[str, Any]) -> dict[str, Any]:
    payload = payload_of(event)
    payload["created_at"] = "2024-11-20T10:00:00-05:00"
    payload["updated_at"] = "2024-11-23T03:59:52-05:00"
    return with_json(event, payload)


def test_a_signed_customer_older_than_shopifys_retries_is_refused_without_the_triggered_at_header(
    created: dict[str, Any],
) -> None:
    delivered = deliver(with_headers(two_years_old(created), x_shopify_triggered_at=None))

    assert delivered.status == 401
    assert "updated_at" in delivered.json["error"]["message"]
    assert delivered.queued == []


def test_a_signed_customer_older_than_shopifys_retries_is_refused_under_a_forged_triggered_at(
    created: dict[str, Any],
) -> None:
    forged = with_headers(two_years_old(created), x_shopify_triggered_at=SIGNED_AT.isoformat())

    assert deliver(forged).status == 401


def test_a_signed_customer_without_a_time_is_refused_naming_it(created: dict[str, Any]) -> None:
    payload = payload_of(created)
    del payload["created_at"], payload["updated_at"]

    delivered = deliver(with_headers(with_json(created, payload), x_shopify_triggered_at=None))

    assert delivered.status == 401
    assert "updated_at" in delivered.json["error"]["message"]


def test_an_update_is_timed_by_its_updated_at_not_by_when_the_customer_was_created(created: dict[str, Any]) -> None:
    payload = payload_of(created)
    payload["created_at"] = "2019-05-01T10:00:00-05:00"

    assert deliver(with_json(created, payload)).status == 202


def test_without_a_secret_there_is_no_signed_time_to_check(created: dict[str, Any]) -> None:
    secrets = {k: v for k, v in demo_webhook_secrets().items() if k != "shopify"}

    delivered = deliver(two_years_old(created), secrets=secrets, allow_unauthenticated=frozenset({"shopify"}))

    assert delivered.status == 202


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-02-30T10:00:00Z", "2026-11-23T09:00Z"]
)
def test_a_time_past_the_calendars_ends_or_not_a_time_is_401_not_500(created: dict[str, Any], moment: str) -> None:
    payload = payload_of(created)
    payload["created_at"] = payload["updated_at"] = moment

    assert deliver(with_headers(with_json(created, payload), x_shopify_triggered_at=moment)).status == 401
    assert deliver(with_headers(created, x_shopify_triggered_at=moment)).status == 401


# ---------------------------------------------------------------- customers_marketing_consent/update (issue 21)


def consent_event(
    updated: dict[str, Any], state: Any, *, phone: Any = "+13125550143", at: str | None = "2026-11-23T03:59:00-05:00"
) -> dict[str, Any]:
    """Shopify's SMS consent event for a customer, signed at SIGNED_AT (consent updated a minute earlier)."""
    payload = {
        "id": 7608123457651,
        "phone": phone,
        "sms_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": at,
            "consent_collected_from": "OTHER",
        },
    }
    return with_json(with_headers(updated, x_shopify_topic="customers_marketing_consent/update"), payload)


@pytest.mark.parametrize(
    ("state", "opted_out"), [("unsubscribed", True), ("subscribed", False), ("UNSUBSCRIBED", True)]
)
def test_the_sms_consent_event_sets_the_opt_out_of_the_customers_phone(
    updated: dict[str, Any], state: str, opted_out: bool
) -> None:
    delivered = deliver(consent_event(updated, state))

    assert delivered.status == 202
    assert delivered.queued == [{"phone": "13125550143", "is_opted_out": opted_out}]


def test_the_sms_consent_event_is_dated_by_its_consent_updated_at(updated: dict[str, Any]) -> None:
    [message] = deliver(consent_event(updated, "unsubscribed")).messages

    assert message["occurred_at"] == "2026-11-23T08:59:00.000+00:00"


def test_the_sms_consent_event_claims_its_field_and_value_as_sent_with_the_consent_time(
    updated: dict[str, Any],
) -> None:
    delivery = read_delivery(consent_event(updated, "unsubscribed"))

    [claim] = delivery.consent
    assert claim is not None
    assert (claim.field, claim.value, claim.consented_at) == (
        "sms_marketing_consent.state",
        "unsubscribed",
        "2026-11-23T08:59:00.000+00:00",
    )


@pytest.mark.parametrize("state", ["not_subscribed", "pending", "redacted", None])
def test_a_consent_state_that_says_nothing_of_opting_out_is_rejected_with_the_reason(
    updated: dict[str, Any], state: str | None
) -> None:
    delivered = deliver(consent_event(updated, state))

    assert (delivered.status, delivered.queued) == (202, [])
    assert "says nothing of opting out" in delivered.rejected[0]["errors"][0]


def test_a_consent_event_without_a_phone_is_rejected_with_the_reason(updated: dict[str, Any]) -> None:
    delivered = deliver(consent_event(updated, "unsubscribed", phone=None))

    assert (delivered.status, delivered.queued) == (202, [])
    assert "no phone" in delivered.rejected[0]["errors"][0]


def test_a_signed_consent_event_sent_longer_ago_than_shopifys_retries_is_401(updated: dict[str, Any]) -> None:
    assert deliver(consent_event(updated, "subscribed"), now=SIGNED_AT + timedelta(hours=7)).status == 401


def test_a_signed_subscribe_without_a_send_time_is_401_when_its_consent_time_is_out_of_the_window(
    updated: dict[str, Any],
) -> None:
    event = with_headers(consent_event(updated, "subscribed", at="2026-11-20T09:00:00Z"), x_shopify_triggered_at=None)

    assert deliver(event).status == 401


def test_a_subscribe_with_a_backdated_consent_time_sent_now_is_taken_dated_by_its_consent_time(
    updated: dict[str, Any],
) -> None:
    # Given a subscription recorded in Shopify with the day it was collected (Admin API), sent now
    delivered = deliver(consent_event(updated, "subscribed", at="2026-11-20T09:00:00Z"))

    # Then it is taken: the send time is in the window; the consent time stays the one Shopify gives
    assert (delivered.status, delivered.queued) == (202, [{"phone": "13125550143", "is_opted_out": False}])
    assert read_delivery(consent_event(updated, "subscribed", at="2026-11-20T09:00:00Z")).consent[0].consented_at == (
        "2026-11-20T09:00:00.000+00:00"
    )


def test_an_unsubscribe_sent_longer_ago_than_shopifys_retries_is_still_taken(updated: dict[str, Any]) -> None:
    # Replaying an opt-out cannot opt anyone in; refused, Shopify retries for 4 hours and then drops it
    delivered = deliver(consent_event(updated, "unsubscribed"), now=SIGNED_AT + timedelta(hours=7))

    assert (delivered.status, delivered.queued) == (202, [{"phone": "13125550143", "is_opted_out": True}])


def test_a_consent_time_left_null_is_the_send_time(updated: dict[str, Any]) -> None:
    delivery = read_delivery(consent_event(updated, "unsubscribed", at=None))

    assert delivery.consent[0].consented_at == SIGNED_AT.isoformat(timespec="milliseconds")


def test_a_stale_customer_that_says_unsubscribed_gives_its_opt_out_only(created: dict[str, Any]) -> None:
    # Given a signed customer two years old (out of the window) whose SMS consent says unsubscribed
    payload = payload_of(two_years_old(created))
    payload["sms_marketing_consent"] = {"state": "unsubscribed", "consent_updated_at": None}
    event = with_headers(with_json(created, payload), x_shopify_triggered_at=None)

    # When it is delivered
    delivered = deliver(event)

    # Then its opt-out is taken, and nothing else of a customer that may be stale
    assert (delivered.status, delivered.queued) == (
        202,
        [{"phone": delivered.queued[0]["phone"], "is_opted_out": True}],
    )


def test_a_consent_event_without_its_object_is_rejected_with_the_reason(updated: dict[str, Any]) -> None:
    event = with_json(with_headers(updated, x_shopify_topic="customers_marketing_consent/update"), {"id": 1})

    delivered = deliver(event)

    assert (delivered.status, delivered.queued) == (202, [])
    assert "sms_marketing_consent" in delivered.rejected[0]["errors"][0]


def test_a_consent_event_without_an_id_is_read_by_its_phone(updated: dict[str, Any]) -> None:
    event = consent_event(updated, "unsubscribed")
    payload = payload_of(event)
    del payload["id"]

    delivered = deliver(with_json(event, payload))

    assert (delivered.status, delivered.queued) == (202, [{"phone": "13125550143", "is_opted_out": True}])


@pytest.mark.parametrize(
    "topic", ["customers/email_marketing_consent_update", "customers_email_marketing_consent/update"]
)
def test_an_email_consent_topic_is_acknowledged_and_ignored_without_a_refusal_letter(
    updated: dict[str, Any], topic: str
) -> None:
    payload = {
        "customer_id": 1,
        "email_address": "mary@example.com",
        "email_marketing_consent": {"state": "unsubscribed"},
    }

    delivered = deliver(with_json(with_headers(updated, x_shopify_topic=topic), payload))

    # (nothing rejected: no refusal letter, which is written for each rejected contact)
    assert (delivered.status, delivered.queued, delivered.rejected) == (202, [], [])


def test_email_marketing_consent_is_never_read_as_sms_consent(created: dict[str, Any]) -> None:
    # Given a customer unsubscribed from email marketing, saying nothing of SMS
    payload = payload_of(created)
    payload["email_marketing_consent"] = {"state": "unsubscribed", "consent_updated_at": "2026-11-23T03:59:00-05:00"}
    del payload["sms_marketing_consent"]

    # When Shopify posts it
    [contact] = deliver(with_json(created, payload)).queued

    # Then the contact's SMS opt-out is left alone
    assert "is_opted_out" not in contact


def test_the_email_consent_event_is_not_read_as_sms_consent(updated: dict[str, Any]) -> None:
    payload = {"id": 1, "email_address": "mary@example.com", "email_marketing_consent": {"state": "unsubscribed"}}
    event = with_json(with_headers(updated, x_shopify_topic="customers/email_marketing_consent_update"), payload)

    delivered = deliver(event)

    assert (delivered.status, delivered.queued) == (202, [])


@pytest.mark.parametrize(
    ("state", "opted_out"), [("UNSUBSCRIBED", True), ("Subscribed", False), (" unsubscribed ", True)]
)
def test_a_customers_sms_consent_state_is_read_in_any_case(
    created: dict[str, Any], state: str, opted_out: bool
) -> None:
    payload = payload_of(created)
    payload["sms_marketing_consent"] = {"state": state, "consent_updated_at": "2026-11-23T03:59:00-05:00"}

    [contact] = deliver(with_json(created, payload)).queued

    assert contact["is_opted_out"] is opted_out


def test_a_consent_change_carries_shopifys_own_event_id_for_the_record(updated: dict[str, Any]) -> None:
    delivered = deliver(consent_event(updated, "unsubscribed"))

    assert delivered.messages[0]["consent"]["event_id"] == "98d1ac1c-3b5e-4f6a-9f0e-6b1c2d3e4f50"
