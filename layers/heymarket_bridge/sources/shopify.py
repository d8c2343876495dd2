"""Shopify: the customers/create and customers/update webhooks (JSON).

Authenticity: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body, keyed by the app's client secret
(or, for webhooks made in the store admin, the key shown under Settings > Notifications > Webhooks).
Time: Shopify retries a failed delivery 8 times over 4 hours "with the original payload from the time they were
triggered", and tells receivers to use `X-Shopify-Triggered-At`, "or a timestamp from the payload", to know a stale
one (Shopify developer changelog, "Updates to webhook retry mechanism", 2024-09). A delivery triggered more than
MAX_AGE ago (or more than 5 minutes in the future) is refused: a recorded delivery replayed later is not taken.
The headers are not signed (the HMAC covers the body only): the check stops a replay of a recorded delivery with
its headers, and the body's digest in the delivery identity stops one under another delivery's id.
Defaults: phone = the customer's phone, else the default address's phone (read in the address's country), the
first that parses as a phone; first/last = first_name/last_name, else the default address's; email = email;
is_opted_out from sms_marketing_consent.state: "subscribed" -> false, "unsubscribed" -> true, anything else (never
asked, pending, redacted) leaves Heymarket's value alone.
Other topics are rejected with the reason, not refused: Shopify retries refused deliveries and removes a
subscription that keeps failing.
Mapping references (SOURCE_MAPPINGS): dotted paths into the customer ("default_address.company", "note").

    {"shopify": {"custom": {"101": "default_address.city"}, "constants": {"tags": [9]}}}

Delivery identity: `X-Shopify-Event-Id` ("the same value across more than one webhook indicates a duplicate",
Shopify's "Ignore duplicate webhooks"), else `X-Shopify-Webhook-Id`, with the topic and the body's digest (the
headers are not signed, so the body decides).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from heymarket_bridge.mapping import Submission, Unmappable, dotted, first_phone
from heymarket_bridge.sources.common import (
    Delivery,
    ReadContext,
    SourceDefaults,
    any_same,
    event_time,
    hmac_b64,
    identity,
    no_phone,
    parse_json,
    phone_reason,
    signatures,
)
from heymarket_bridge.webhook import BadRequest, Unauthorized, WebhookRequest

CUSTOMER_TOPICS = ("customers/create", "customers/update")
SMS_CONSENT_OPTED_OUT = {"subscribed": False, "unsubscribed": True}
# Shopify's retries span 4 hours; the rest is margin for a delivery that is slow to be accepted.
MAX_AGE = timedelta(hours=6)
MAX_AHEAD = timedelta(minutes=5)
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)


class ShopifySource(SourceDefaults):
    name = "shopify"

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        presented = signatures(request.headers.get("x-shopify-hmac-sha256"))
        if not presented:
            raise Unauthorized("missing X-Shopify-Hmac-Sha256 header")
        if not any_same([hmac_b64(secret, request.body)], presented):
            raise Unauthorized("the X-Shopify-Hmac-Sha256 does not match the body and the secret for source 'shopify'")
        triggered = request.headers.get("x-shopify-triggered-at")
        if triggered is not None:
            _check_time(parse_time(triggered), context.now, "X-Shopify-Triggered-At")

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        topic = request.headers.get("x-shopify-topic", "").strip().lower()
        event_id = request.headers.get("x-shopify-event-id") or request.headers.get("x-shopify-webhook-id")
        delivery_identity = identity(f"{topic}:{event_id}" if event_id else None, request.body)
        if topic and topic not in CUSTOMER_TOPICS:
            reason = f'Shopify topic "{topic[:60]}" is not customers/create or customers/update'
            return Delivery([Unmappable((reason,))], delivery_identity)
        customer = parse_json(request.body, request.charset)
        if not isinstance(customer, dict) or customer.get("id") in (None, ""):
            raise BadRequest('the Shopify payload is not a customer: it has no "id"')
        contact = context.mapping.apply(
            _defaults(customer, context), lambda ref: dotted(customer, ref), context.is_phone
        )
        submission: Submission = contact
        if contact.get("phone") is None:
            address = customer.get("default_address")
            candidates = (customer.get("phone"), address.get("phone") if isinstance(address, dict) else None)
            reason = phone_reason(candidates, "no phone and no phone on the default address", "the phone")
            submission = no_phone("the Shopify customer", context.mapping, reason)
        return Delivery([submission], delivery_identity, (event_time(customer.get("updated_at")),))


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 time as Shopify writes it (nanoseconds, "Z" or an offset); None when it is not one."""
    match = _ISO_TIME.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
        )
    except ValueError:
        return None
    if zone in (None, "Z"):
        return moment.replace(tzinfo=UTC)
    sign = 1 if zone[0] == "+" else -1
    digits = zone[1:].replace(":", "")
    return moment.replace(tzinfo=UTC) - sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def _check_time(moment: datetime | None, now: datetime, what: str) -> None:
    if moment is None:
        raise Unauthorized(f"{what} is not an ISO 8601 time")
    if moment < now - MAX_AGE:
        raise Unauthorized(
            f"{what} is {moment.isoformat(timespec='seconds')}: the delivery is older than Shopify's retries "
            f"({int(MAX_AGE.total_seconds() // 3600)} hours), a replay"
        )
    if moment > now + MAX_AHEAD:
        raise Unauthorized(f"{what} is {moment.isoformat(timespec='seconds')}, in the future")


def _defaults(customer: Mapping[str, Any], context: ReadContext) -> dict[str, Any]:
    default_address = customer.get("default_address")
    address: Mapping[str, Any] = default_address if isinstance(default_address, dict) else {}
    consent = customer.get("sms_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    candidates = (customer.get("phone"), _international(address.get("phone"), address.get("country_code")))
    return {
        "phone": first_phone(candidates, context.is_phone),
        "first": customer.get("first_name") or address.get("first_name"),
        "last": customer.get("last_name") or address.get("last_name"),
        "email": customer.get("email"),
        "is_opted_out": SMS_CONSENT_OPTED_OUT.get(state) if isinstance(state, str) else None,
    }


def _international(phone: Any, country_code: Any) -> Any:
    """An address phone written the local way, made international using the address's country; else as given."""
    if not isinstance(phone, str) or not phone.strip() or not isinstance(country_code, str):
        return phone
    import phonenumbers

    try:
        number = phonenumbers.parse(phone, country_code.upper()[:2])
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_valid_number(number):
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
