"""Shopify: the customers/create and customers/update webhooks (JSON).

Authenticity: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body, keyed by the app's client secret
(or, for webhooks made in the store admin, the key shown under Settings > Notifications > Webhooks).
Defaults: phone = the customer's phone, else the default address's phone (read in the address's country);
first/last = first_name/last_name, else the default address's; email = email; is_opted_out from
sms_marketing_consent.state: "subscribed" -> false, "unsubscribed" -> true, anything else (never asked,
pending, redacted) leaves Heymarket's value alone.
Other topics are rejected with the reason, not refused: Shopify retries refused deliveries and removes a
subscription that keeps failing.
Mapping references (SOURCE_MAPPINGS): dotted paths into the customer ("default_address.company", "note").

    {"shopify": {"custom": {"101": "default_address.city"}, "constants": {"tags": [9]}}}

Delivery id: the X-Shopify-Webhook-Id header (the same on Shopify's retries).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import phonenumbers

from heymarket_bridge.mapping import SourceMapping, Submission, Unmappable, dotted
from heymarket_bridge.sources.common import SourceDefaults, body_sha256, hmac_b64, no_phone, parse_json, same
from heymarket_bridge.webhook import BadRequest, WebhookRequest

CUSTOMER_TOPICS = ("customers/create", "customers/update")
SMS_CONSENT_OPTED_OUT = {"subscribed": False, "unsubscribed": True}


class ShopifySource(SourceDefaults):
    name = "shopify"

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        return same(hmac_b64(secret, request.body), request.headers.get("x-shopify-hmac-sha256"))

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        topic = request.headers.get("x-shopify-topic", "").strip().lower()
        if topic and topic not in CUSTOMER_TOPICS:
            return [Unmappable((f'Shopify topic "{topic[:60]}" is not customers/create or customers/update',))]
        customer = parse_json(request.body)
        if not isinstance(customer, dict) or customer.get("id") in (None, ""):
            raise BadRequest('the Shopify payload is not a customer: it has no "id"')
        contact = mapping.apply(_defaults(customer), lambda ref: dotted(customer, ref))
        if contact.get("phone") is None:
            return [no_phone("the Shopify customer", mapping, "no phone and no phone on the default address")]
        return [contact]

    def delivery_id(self, request: WebhookRequest) -> str:
        return (
            request.headers.get("x-shopify-webhook-id")
            or request.headers.get("x-shopify-event-id")
            or body_sha256(request.body)
        )


def _defaults(customer: Mapping[str, Any]) -> dict[str, Any]:
    default_address = customer.get("default_address")
    address: Mapping[str, Any] = default_address if isinstance(default_address, dict) else {}
    consent = customer.get("sms_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    return {
        "phone": customer.get("phone") or _international(address.get("phone"), address.get("country_code")),
        "first": customer.get("first_name") or address.get("first_name"),
        "last": customer.get("last_name") or address.get("last_name"),
        "email": customer.get("email"),
        "is_opted_out": SMS_CONSENT_OPTED_OUT.get(state) if isinstance(state, str) else None,
    }


def _international(phone: Any, country_code: Any) -> Any:
    """An address phone written the local way, made international using the address's country; else as given."""
    if not isinstance(phone, str) or not phone.strip() or not isinstance(country_code, str):
        return phone
    try:
        number = phonenumbers.parse(phone, country_code.upper())
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_valid_number(number):
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
