"""Stripe: the `customer.created`, `customer.updated` and `checkout.session.completed` events of a webhook endpoint.

Authenticity, from Stripe's "Receive Stripe events in your webhook endpoint" (docs.stripe.com/webhooks, "Verify
webhook signatures manually"): `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=...]`, the hex HMAC-SHA256 of
`<t>.<raw body>` keyed by the endpoint's signing secret (`whsec_...`); a header may carry several v1 values (a secret
being rolled) and a `v0` (test-mode legacy) that is ignored. Refused when t is more than 5 minutes away from now
(the tolerance of Stripe's libraries): a recorded event replayed later is not taken. Stripe retries a failed
delivery for up to 3 days, each attempt signed afresh.
Event (docs.stripe.com/api/events/object): `id` (`evt_...`, the same on each retry: the delivery's identity and
the event id recorded with a contact), `type`, `created` (unix seconds: the event time that orders a contact's
changes), `data.object`.
Defaults, a Customer (docs.stripe.com/api/customers/object): phone = `phone`; email = `email`; first/last = `name`
split on its last space (heymarket_bridge.domain.mapping.split_name); the phone's country: the customer's
`address.country` (ISO 3166-1 alpha-2), else `shipping.address.country` when the shipping name is the customer's.
A Checkout Session (docs.stripe.com/api/checkout/sessions/object): the same from `customer_details` (`phone` is
only there when the session collected it: `phone_number_collection.enabled`, docs.stripe.com/payments/checkout/
phone-numbers; a session without it is rejected with that reason).
Consent: Stripe has no SMS consent field. `consent.promotions` (`opt_in` / `opt_out`, Checkout's "Collect consent
for promotional emails") is consent to promotional EMAIL and is never read as SMS consent: `is_opted_out` is
left to Heymarket unless a mapping names it.
Other event types are rejected with the reason (202), not refused: Stripe retries a refused event for 3 days.
Mapping references (SOURCE_MAPPINGS): dotted paths into the event's object ("metadata.crm_id",
"customer_details.address.city").

    {"stripe": {"custom": {"101": "metadata.plan"}, "constants": {"tags": ["Stripe customer"]}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import Submission, Unmappable, dotted, is_blank, split_name
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import json_of_type
from heymarket_bridge.ingest.failures import BadRequest
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import check_timestamped, timestamped_signature
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneField,
    ReadContext,
    SigningRequest,
    SourceDefaults,
    choose_phone,
    has_no_phone_at_all,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.times import event_time

TOLERANCE_S = 300
CUSTOMER_EVENTS = ("customer.created", "customer.updated")
CHECKOUT_EVENT = "checkout.session.completed"


class StripeSource(SourceDefaults):
    name = "stripe"
    credentials = (
        CredentialEntry(
            "stripe", "vendor", "the endpoint's signing secret, whsec_... (Workbench > Webhooks > the endpoint)"
        ),
    )
    token_in = ""
    sample_event = "customer_created"

    def sign(self, request: SigningRequest) -> dict[str, str]:
        return {"Stripe-Signature": timestamped_signature(request.secret, request.body, request.now)}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        header = request.headers.get("stripe-signature", "")
        check_timestamped("Stripe-Signature", header, secret, request.body, context.now, TOLERANCE_S)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        event = json_of_type(request)
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest('the Stripe payload is not an event: it has no "type"')
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise BadRequest('the Stripe event has no "data.object"')
        event_id = event.get("id") if isinstance(event.get("id"), str) and event.get("id") else None
        delivery_identity = identity(event_id, request.body)
        kind = event["type"]
        if kind not in (*CUSTOMER_EVENTS, CHECKOUT_EVENT):
            named = shown(kind, 60, quote='"')
            reason = f"Stripe event {named} is not {', '.join(CUSTOMER_EVENTS)} or {CHECKOUT_EVENT}"
            return Delivery([Unmappable((reason,))], delivery_identity)
        person = obj.get("customer_details") if kind == CHECKOUT_EVENT else obj
        where = "customer_details" if kind == CHECKOUT_EVENT else "the customer"
        submission = _submission(obj, person if isinstance(person, dict) else {}, where, context)
        return Delivery([submission], delivery_identity, (event_time(event.get("created")),), (), (event_id,))


def _submission(obj: Mapping[str, Any], person: Mapping[str, Any], where: str, context: ReadContext) -> Submission:
    """The contact of a customer (`person` is the object) or of a session's `customer_details`, or why it has none."""
    prefix = "customer_details." if person is not obj else ""
    phones = [PhoneField(f"{prefix}phone", person.get("phone"))]
    choice = choose_phone(phones, context, _country(person, prefix))
    first, last = split_name(person.get("name"))
    defaults = {**choice.defaults(), "first": first, "last": last, "email": person.get("email")}
    contact = context.mapping.apply(defaults, lambda ref: dotted(obj, ref), context.is_phone)
    if contact.get("phone") is not None:
        return contact
    none_given = f"{where} has no phone"
    if prefix and obj.get("phone_number_collection") in (None, {"enabled": False}):
        none_given += " (the Checkout Session did not collect one: set phone_number_collection.enabled)"
    reason = phone_reason((person.get("phone"),), none_given, "the phone", choice)
    refusal = no_phone(f"the Stripe {'Checkout Session' if prefix else 'customer'}", context.mapping, reason, contact)
    # A customer with no phone at all (Stripe sends customer.updated for many changes): nothing to fix, no letter.
    return replace(refusal, letter=not has_no_phone_at_all((person.get("phone"),), context.mapping, choice))


def _country(person: Mapping[str, Any], prefix: str) -> tuple[CountryEvidence, ...]:
    """The person's country: their `address.country`, else the shipping address's when it is in their own name (a
    gift sent to someone else says nothing of the buyer's phone)."""
    address = person.get("address")
    if isinstance(address, dict) and not is_blank(address.get("country")):
        return (CountryEvidence(f"{prefix}address.country", address["country"]),)
    shipping = person.get("shipping")
    if isinstance(shipping, dict) and isinstance(shipping.get("address"), dict):
        country = shipping["address"].get("country")
        same_name = _folded(shipping.get("name")) == _folded(person.get("name")) != ""
        if not is_blank(country) and same_name:
            return (CountryEvidence(f"{prefix}shipping.address.country", country),)
    return ()


def _folded(value: Any) -> str:
    return " ".join(value.casefold().split()) if isinstance(value, str) else ""


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = StripeSource
