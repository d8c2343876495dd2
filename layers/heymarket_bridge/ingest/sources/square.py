"""Square: a webhook subscription's `customer.created`, `customer.updated` and `customer.deleted` events.

Authenticity, from Square's "Verify and validate an event notification" (developer.squareup.com/docs/webhooks/
step3validate): `x-square-hmacsha256-signature` = base64 HMAC-SHA256 of the notification URL followed by the raw
body, keyed by the subscription's signature key. The URL is the one registered with the subscription, byte for byte:
the bridge rebuilds it as the deployment's PublicBaseUrl (`context.public_base_url`; else https://<the domain API
Gateway saw>) followed by the request's path and query (heymarket_bridge.ingest.sources.hubspot.request_uri), so
the URL registered in Square must be exactly the bridge's webhook URL (docs/sources/square.md).
Time: the signature covers no header time, but the signed body carries the event's `created_at`, and Square retries
a failed delivery for up to 24 hours, then discards it (developer.squareup.com/docs/webhooks/troubleshooting): a
signed event created more than MAX_AGE ago (or more than MAX_AHEAD ahead), or without `created_at`, is refused
(401), so a recorded delivery replayed later is not taken. `created_at` (RFC 3339) orders a contact's changes;
`event_id` (the same on Square's retries) identifies the delivery and is recorded with the contact.
Defaults, the customer (developer.squareup.com/reference/square/objects/Customer, at `data.object.customer`):
phone = `phone_number`; first/last = `given_name` / `family_name`; email = `email_address`; the phone's country:
`address.country` (ISO 3166-1 alpha-2). Consent: Square's customer carries `preferences.email_unsubscribed`, an
EMAIL preference, never read as SMS consent; `is_opted_out` is left to Heymarket unless a mapping names it.
`customer.deleted`: acknowledged (202) and not applied. No source deletes a Heymarket contact on a vendor's event:
deletes are the operator's own request with its own credential (heymarket_bridge.ingest.deletes), and a contact in
Heymarket holds the conversation and the opt-out; the deletion is logged ("Square customer deleted: not applied").
Other event types are rejected with the reason (202), not refused: a refused delivery is retried for 24 hours.
Mapping references (SOURCE_MAPPINGS): dotted paths into the customer ("reference_id", "address.locality").

    {"square": {"custom": {"101": "reference_id"}, "constants": {"tags": ["Square customer"]}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta
from typing import Any

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import Submission, Unmappable, dotted, is_blank
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import json_of_type
from heymarket_bridge.ingest.failures import BadRequest, Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import any_same, hmac_b64, signatures
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
from heymarket_bridge.ingest.sources.hubspot import request_uri
from heymarket_bridge.ingest.times import check_age, event_time, iso_time
from heymarket_bridge.observability import logger

SIGNATURE_HEADER = "x-square-hmacsha256-signature"
CUSTOMER_EVENTS = ("customer.created", "customer.updated")
DELETED_EVENT = "customer.deleted"
# Square's retries span 24 hours; the rest is margin for a delivery that is slow to be accepted.
MAX_AGE = timedelta(hours=26)
MAX_AHEAD = timedelta(minutes=5)


class SquareSource(SourceDefaults):
    name = "square"
    credentials = (
        CredentialEntry(
            "square",
            "vendor",
            "the webhook subscription's Signature key (Developer Console > your app > Webhooks > Subscriptions)",
        ),
    )
    token_in = ""
    body_times = ("created_at",)
    sample_event = "customer_created"

    def sign(self, request: SigningRequest) -> dict[str, str]:
        """Square's signature over `request.url` (the notification URL) and the body."""
        return {"x-square-hmacsha256-signature": hmac_b64(request.secret, request.url.encode() + request.body)}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        presented = signatures(request.headers.get(SIGNATURE_HEADER))
        if not presented:
            raise Unauthorized("missing x-square-hmacsha256-signature header")
        url = request_uri(request, context.public_base_url)
        if not any_same([hmac_b64(secret, url.encode() + request.body)], presented):
            raise Unauthorized(
                "the x-square-hmacsha256-signature does not match the notification URL, the body and the signature "
                f"key for source 'square' (the URL checked is {shown(url, 200)}: it must be the one registered in "
                "Square, byte for byte; set PublicBaseUrl behind a custom domain)"
            )
        # The replay window is checked on the signed body's created_at as it is read.

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        event = json_of_type(request)
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadRequest('the Square payload is not an event: it has no "type"')
        if context.credentials.secret is not None:
            check_age(
                iso_time(event.get("created_at")),
                context.now,
                "the signed created_at",
                MAX_AGE,
                f"Square's retries ({int(MAX_AGE.total_seconds() // 3600)} hours)",
                MAX_AHEAD,
            )
        event_id = event.get("event_id") if isinstance(event.get("event_id"), str) and event.get("event_id") else None
        delivery_identity = identity(event_id, request.body)
        kind = event["type"]
        if kind == DELETED_EVENT:
            logger.info(
                "Square customer deleted: not applied",
                extra={"event_id": shown(event_id, 80), "reason": "no source deletes contacts on a vendor's event"},
            )
            return Delivery([], delivery_identity)
        if kind not in CUSTOMER_EVENTS:
            named = shown(kind, 60, quote='"')
            reason = f"Square event {named} is not {', '.join(CUSTOMER_EVENTS)} or {DELETED_EVENT}"
            return Delivery([Unmappable((reason,))], delivery_identity)
        customer = dotted(event, "data.object.customer")
        if not isinstance(customer, dict):
            raise BadRequest('the Square event has no "data.object.customer" object')
        moment = event_time(event.get("created_at"))
        return Delivery([_submission(customer, context)], delivery_identity, (moment,), (), (event_id,))


def _submission(customer: Mapping[str, Any], context: ReadContext) -> Submission:
    address = customer.get("address")
    country = address.get("country") if isinstance(address, dict) else None
    person = (CountryEvidence("address.country", country),) if not is_blank(country) else ()
    choice = choose_phone([PhoneField("phone_number", customer.get("phone_number"))], context, person)
    defaults = {
        **choice.defaults(),
        "first": customer.get("given_name"),
        "last": customer.get("family_name"),
        "email": customer.get("email_address"),
    }
    contact = context.mapping.apply(defaults, lambda ref: dotted(customer, ref), context.is_phone)
    if contact.get("phone") is not None:
        return contact
    reason = phone_reason((customer.get("phone_number"),), "no phone_number", "the phone_number", choice)
    refusal = no_phone("the Square customer", context.mapping, reason, contact)
    # A customer with no phone at all: nothing to fix, so no letter (the reply's rejected and a log count say so).
    return replace(refusal, letter=not has_no_phone_at_all((customer.get("phone_number"),), context.mapping, choice))


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = SquareSource
