from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.ingest.signatures import hmac_sha256
from heymarket_bridge_tools.signing import event_body
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    seconds,
    tampered,
    with_body,
    with_headers,
    with_json,
)
from tests.unit.ingest.sources.in_turn import deliver_in_turn

CUSTOMER = "stripe/customer_created"
CHECKOUT = "stripe/checkout_session_completed"


@pytest.fixture
def customer() -> dict[str, Any]:
    return load_event(CUSTOMER)


@pytest.fixture
def checkout() -> dict[str, Any]:
    return load_event(CHECKOUT)


def event_with(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The event with these members of its data.object changed (and `type`, `id`, `created` of the event)."""
    payload = payload_of(event)
    for name in ("type", "id", "created"):
        if name in changes:
            payload[name] = changes.pop(name)
    payload["data"]["object"].update(changes)
    return with_json(event, payload)


def test_the_documented_customer_becomes_a_contact_with_its_name_split(customer: dict[str, Any]) -> None:
    delivered = deliver(customer)

    assert delivered.status == 202
    assert delivered.queued == [
        {"phone": "15125550142", "first": "Jenny", "last": "Rosen", "email": "jennyrosen@example.com"}
    ]


def test_the_documented_checkout_session_gives_its_customer_details(checkout: dict[str, Any]) -> None:
    [contact] = deliver(checkout).queued

    assert contact == {"phone": "14165550199", "first": "Li", "last": "Wei", "email": "li.wei@example.com"}


def test_a_customer_updated_event_is_read_as_the_customer(customer: dict[str, Any]) -> None:
    [contact] = deliver(event_with(customer, type="customer.updated", name="Jenny Rosen-Park")).queued

    assert (contact["first"], contact["last"]) == ("Jenny", "Rosen-Park")


def test_the_event_time_and_id_go_with_the_contact(customer: dict[str, Any]) -> None:
    delivery = read_delivery(customer)

    assert delivery.identity.sender_id == "evt_1NG8Du2eZvKYlo2CUI79vXWy"
    assert delivery.event_ids == ("evt_1NG8Du2eZvKYlo2CUI79vXWy",)
    assert delivery.occurred_at[0] is not None
    assert delivery.occurred_at[0].timestamp() == 1795424398


def test_a_national_number_is_read_in_the_country_of_the_customers_address(customer: dict[str, Any]) -> None:
    payload = payload_of(customer)
    payload["data"]["object"]["phone"] = "020 7946 0958"
    payload["data"]["object"]["address"]["country"] = "GB"

    [contact] = deliver(with_json(customer, payload)).queued

    assert contact["phone"] == "442079460958"


def test_a_checkout_phone_is_read_in_the_country_of_its_billing_address(checkout: dict[str, Any]) -> None:
    payload = payload_of(checkout)
    payload["data"]["object"]["customer_details"]["phone"] = "55 1234 5678"
    payload["data"]["object"]["customer_details"]["address"]["country"] = "MX"

    [contact] = deliver(with_json(checkout, payload)).queued

    assert contact["phone"] == "525512345678"


def test_the_shipping_country_counts_only_when_the_shipping_name_is_the_customers(customer: dict[str, Any]) -> None:
    payload = payload_of(customer)
    obj = payload["data"]["object"]
    obj.update(phone="020 7946 0958", address=None)
    obj["shipping"] = {"name": "Someone Else", "phone": None, "address": {"country": "GB"}}

    refused = deliver(with_json(customer, payload))
    obj["shipping"]["name"] = "Jenny Rosen"
    taken = deliver(with_json(customer, payload))

    assert refused.queued == []  # read in the default country (US), "020 7946 0958" is no number
    assert taken.queued[0]["phone"] == "442079460958"


@pytest.mark.parametrize("promotions", ["opt_in", "opt_out"])
def test_consent_promotions_is_email_consent_and_never_sets_the_sms_opt_out(
    checkout: dict[str, Any], promotions: str
) -> None:
    payload = payload_of(checkout)
    payload["data"]["object"]["consent"] = {"promotions": promotions, "terms_of_service": None}

    delivered = deliver(with_json(checkout, payload))
    delivery = read_delivery(with_json(checkout, payload))

    assert "is_opted_out" not in delivered.queued[0]
    assert delivery.consent == ()


def test_a_mapping_may_name_an_sms_consent_field_in_the_metadata(customer: dict[str, Any]) -> None:
    event = event_with(customer, metadata={"sms_opt_out": "true"})

    [contact] = deliver(event, mappings={"stripe": {"is_opted_out": "metadata.sms_opt_out"}}).queued

    assert contact["is_opted_out"] is True


def test_a_session_that_did_not_collect_a_phone_is_rejected_saying_how_to_collect_it(checkout: dict[str, Any]) -> None:
    payload = payload_of(checkout)
    payload["data"]["object"]["customer_details"]["phone"] = None
    payload["data"]["object"]["phone_number_collection"] = {"enabled": False}

    delivered = deliver(with_json(checkout, payload))

    assert (delivered.status, delivered.queued) == (202, [])
    assert "phone_number_collection.enabled" in json.dumps(delivered.rejected)


def test_another_event_type_is_rejected_with_the_reason_not_refused(customer: dict[str, Any]) -> None:
    delivered = deliver(event_with(customer, type="invoice.paid"))

    assert (delivered.status, delivered.queued) == (202, [])
    assert 'Stripe event "invoice.paid" is not' in delivered.rejected[0]["errors"][0]


# ---------------------------------------------------------------- the signature


def test_a_changed_body_is_401_and_nothing_is_queued(customer: dict[str, Any]) -> None:
    delivered = deliver(tampered(customer, "jennyrosen@example.com", "someone@example.com"))

    assert (delivered.status, delivered.queued) == (401, [])


def test_a_signature_made_with_another_secret_is_401(customer: dict[str, Any]) -> None:
    assert deliver(resigned(customer, secret="whsec_another")).status == 401


def test_a_missing_signature_is_401_naming_the_header(customer: dict[str, Any]) -> None:
    delivered = deliver(with_headers(customer, stripe_signature=None))

    assert delivered.status == 401
    assert "Stripe-Signature" in delivered.json["error"]["message"]


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_a_signature_more_than_five_minutes_away_is_a_replay_401(customer: dict[str, Any], offset_s: int) -> None:
    assert deliver(customer, now=SIGNED_AT + seconds(offset_s)).status == 401


def test_a_signature_within_five_minutes_is_accepted(customer: dict[str, Any]) -> None:
    assert deliver(customer, now=SIGNED_AT + seconds(299)).status == 202


def test_a_header_with_several_v1_values_is_accepted_when_one_matches(customer: dict[str, Any]) -> None:
    """Stripe sends one v1 per active secret while a secret is rolled, and a v0 in test mode."""
    body = event_body(customer)
    t = "1795424400"
    good = hmac_sha256(demo_webhook_secrets()["stripe"], t.encode() + b"." + body).hex()
    header = f"t={t},v1={'0' * 64},v1={good},v0={'1' * 64}"

    assert deliver(with_headers(customer, stripe_signature=header)).status == 202


@pytest.mark.parametrize("header", ["t=abc,v1=00", "t=1795424400", "v1=00", "t=1,t=2,v1=00", "t=" + "9" * 40 + ",v1=0"])
def test_a_malformed_signature_header_is_401_not_500(customer: dict[str, Any], header: str) -> None:
    assert deliver(with_headers(customer, stripe_signature=header)).status == 401


# ---------------------------------------------------------------- repeats and order


def test_the_same_event_delivered_twice_gives_one_contact(customer: dict[str, Any]) -> None:
    turns = deliver_in_turn([customer, resigned(customer, now=SIGNED_AT + seconds(60))], now=SIGNED_AT + seconds(60))

    assert turns.statuses == [202, 202]
    assert turns.replies[1]["duplicate"] is True
    assert len(turns.messages) == 1


def test_an_older_event_after_a_newer_one_is_ordered_below_it(customer: dict[str, Any]) -> None:
    newer = event_with(customer, type="customer.updated", id="evt_newer", created=1795424399, name="Jenny Park")
    older = event_with(customer, type="customer.updated", id="evt_older", created=1795424300, name="Jenny Rosen")

    turns = deliver_in_turn([newer, older])

    assert [m["contact"]["last"] for m in turns.messages] == ["Park", "Rosen"]
    newer_rank, older_rank = turns.ranks()
    assert older_rank < newer_rank  # the sync side applies the newer name last, whatever the queue's order


# ---------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '{"type": 7}',
        '{"type": "customer.created"}',
        '{"type": "customer.created", "data": {"object": "cus_1"}}',
        '{"type": "customer.created", "data": []}',
        "[" * 100_000,
        '{"type": "customer.created", "created": ' + "9" * 5000 + "}",
        "not json",
    ],
)
def test_a_body_that_is_no_stripe_event_is_4xx(customer: dict[str, Any], body: str) -> None:
    delivered = deliver(with_body(customer, body))

    assert 400 <= delivered.status < 500
    assert delivered.queued == []


@pytest.mark.parametrize("value", [["+15125550142"], {"number": "+15125550142"}, 15125550142.5, True, "x" * 100_000])
def test_a_phone_of_the_wrong_type_is_rejected_with_a_reason_never_a_500(customer: dict[str, Any], value: Any) -> None:
    delivered = deliver(event_with(customer, phone=value))

    assert delivered.status in (202, 413)
    assert delivered.queued == [] or delivered.queued[0]["phone"] == "15125550142"
