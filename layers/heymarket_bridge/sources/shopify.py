"""Shopify: the customers/create and customers/update webhooks (JSON).

Authenticity: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body, keyed by the app's client secret
(or, for webhooks made in the store admin, the key shown under Settings > Notifications > Webhooks).
Time: Shopify retries a failed delivery 8 times over 4 hours "with the original payload from the time they were
triggered", and tells receivers to use `X-Shopify-Triggered-At`, "or a timestamp from the payload", to know a stale
one (Shopify developer changelog, "Updates to webhook retry mechanism", 2024-09-10). The HMAC covers the body only,
so the header can be left out or forged: the window is enforced on the signed body's own time, the customer's
`updated_at` (else `created_at`, the latest that is a time), which a create or an update sets as it triggers the
webhook. A signed customer more than MAX_AGE old (or more than MAX_AHEAD in the future), or without either time, is
refused (401): a recorded delivery replayed later is not taken. `X-Shopify-Triggered-At`, when sent, must be in the
window too. A source allowed without a secret (AllowUnauthenticatedSources) has no signed time to check.
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

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from heymarket_bridge.consent import ConsentClaim
from heymarket_bridge.echo import shown
from heymarket_bridge.mapping import Submission, Unmappable, dotted, first_phone
from heymarket_bridge.sources.common import (
    Delivery,
    ReadContext,
    SourceDefaults,
    any_same,
    check_age,
    event_time,
    hmac_b64,
    identity,
    iso_time,
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
RETRY_SPAN = f"Shopify's retries ({int(MAX_AGE.total_seconds() // 3600)} hours)"


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
            check_age(iso_time(triggered), context.now, "X-Shopify-Triggered-At", MAX_AGE, RETRY_SPAN, MAX_AHEAD)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        topic = request.headers.get("x-shopify-topic", "").strip().lower()
        event_id = request.headers.get("x-shopify-event-id") or request.headers.get("x-shopify-webhook-id")
        delivery_identity = identity(f"{topic}:{event_id}" if event_id else None, request.body)
        if topic and topic not in CUSTOMER_TOPICS:
            topic_shown = shown(topic, 60, quote='"')
            reason = f"Shopify topic {topic_shown} is not customers/create or customers/update"
            return Delivery([Unmappable((reason,))], delivery_identity)
        customer = parse_json(request.body, request.charset)
        if not isinstance(customer, dict) or customer.get("id") in (None, ""):
            raise BadRequest('the Shopify payload is not a customer: it has no "id"')
        if context.credentials.secret is not None:
            what = "the signed customer's updated_at (or created_at)"
            check_age(customer_time(customer), context.now, what, MAX_AGE, RETRY_SPAN, MAX_AHEAD)
        contact = context.mapping.apply(
            _defaults(customer, context), lambda ref: dotted(customer, ref), context.is_phone
        )
        submission: Submission = contact
        if contact.get("phone") is None:
            address = customer.get("default_address")
            candidates = (customer.get("phone"), address.get("phone") if isinstance(address, dict) else None)
            reason = phone_reason(candidates, "no phone and no phone on the default address", "the phone")
            submission = no_phone("the Shopify customer", context.mapping, reason)
        claim = None if context.mapping.overrides("is_opted_out") else _sms_consent(customer)
        return Delivery([submission], delivery_identity, (event_time(customer.get("updated_at")),), (claim,))


def _sms_consent(customer: Mapping[str, Any]) -> ConsentClaim | None:
    """The customer's SMS consent as Shopify states it (`sms_marketing_consent.state`), dated by its
    `consent_updated_at` (Shopify's Customer resource); None without a state. Email consent is never read as SMS."""
    consent = customer.get("sms_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    if not isinstance(state, str) or not state.strip():
        return None
    assert isinstance(consent, dict)
    moment = event_time(consent.get("consent_updated_at"))
    at = moment.isoformat(timespec="milliseconds") if moment is not None else None
    return ConsentClaim("sms_marketing_consent.state", state, at)


def customer_time(customer: Mapping[str, Any]) -> datetime | None:
    """When the customer was last written (the latest of `updated_at` and `created_at` that is a time), or None."""
    times = [
        moment for moment in (iso_time(customer.get("updated_at")), iso_time(customer.get("created_at"))) if moment
    ]
    return max(times, default=None)


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
