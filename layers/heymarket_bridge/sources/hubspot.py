"""HubSpot: a workflow's "Send a webhook" action posting the enrolled contact.

Authenticity: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256, keyed by the app's client secret, of
method + full URI + raw body + `X-HubSpot-Request-Timestamp` (milliseconds), refused when the timestamp is more
than 5 minutes away. The full URI is https://<domain><path>?<query> as the request was made (with an API stage
prefix, the path includes it), with the percent-escapes HubSpot decodes before signing decoded the same way.
Payload: the contact object ({"vid"/"objectId", "properties": {"phone": {"value": ...}} or {"phone": ...}}), a list
of them, or a customised body of contact properties at the top level.
Defaults: phone = mobilephone, else phone; first = firstname; last = lastname; email = email.
Mapping references (SOURCE_MAPPINGS): a contact property's internal name, else a dotted path into the object.

    {"hubspot": {"phone": ["hs_whatsapp_phone_number", "mobilephone"], "custom": {"101": "lifecyclestage"}}}

Delivery id: the object id with the contact's lastmodifieddate (or the event's occurredAt, else the signed
timestamp), so that HubSpot's retries of one delivery carry the same id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from heymarket_bridge.mapping import Lookup, SourceMapping, Submission, dotted
from heymarket_bridge.sources.common import (
    SourceDefaults,
    body_sha256,
    hmac_b64,
    no_phone,
    parse_json,
    same,
    try_json,
    within,
)
from heymarket_bridge.webhook import BadRequest, WebhookRequest

TOLERANCE_S = 300
# HubSpot decodes these escapes in the URI it signs (its request-validation guide lists them).
DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
CONTACT_PROPERTIES = ("phone", "mobilephone", "email", "firstname", "lastname")


def signed_uri(request: WebhookRequest) -> str:
    """The request's URI as HubSpot signs it."""
    domain = request.domain or request.headers.get("host", "")
    uri = f"https://{domain}{request.path}" + (f"?{request.raw_query}" if request.raw_query else "")
    return decode_escapes(uri)


def decode_escapes(uri: str) -> str:
    for escape, char in DECODED_ESCAPES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


class HubSpotSource(SourceDefaults):
    name = "hubspot"

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        signature = request.headers.get("x-hubspot-signature-v3")
        timestamp = request.headers.get("x-hubspot-request-timestamp", "").strip()
        if not signature or not timestamp.isdigit() or not within(now, int(timestamp) / 1000, TOLERANCE_S):
            return False
        message = request.method.encode() + signed_uri(request).encode() + request.body + timestamp.encode()
        return same(hmac_b64(secret, message), signature)

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        payload = parse_json(request.body)
        objects = payload if isinstance(payload, list) else [payload]
        submissions: list[Submission] = []
        for index, obj in enumerate(objects):
            properties = _properties(obj, index if isinstance(payload, list) else None)
            contact = mapping.apply(
                {
                    "phone": properties.get("mobilephone") or properties.get("phone"),
                    "first": properties.get("firstname"),
                    "last": properties.get("lastname"),
                    "email": properties.get("email"),
                },
                _reader(obj, properties),
            )
            if contact.get("phone") is None:
                submissions.append(no_phone("the HubSpot contact", mapping, 'no "mobilephone" or "phone" property'))
            else:
                submissions.append(contact)
        return submissions

    def delivery_id(self, request: WebhookRequest) -> str:
        payload = try_json(request.body)
        objects = payload if isinstance(payload, list) else [payload]
        ids: list[str] = []
        for obj in objects:
            if not isinstance(obj, dict):
                return body_sha256(request.body)
            raw_properties = obj.get("properties")
            properties = _values(raw_properties) if isinstance(raw_properties, dict) else {}
            object_id = next(
                (obj[k] for k in ("objectId", "canonical-vid", "vid", "id") if obj.get(k) not in (None, "")),
                properties.get("hs_object_id"),
            )
            if object_id in (None, ""):
                return body_sha256(request.body)
            stamp = (
                properties.get("lastmodifieddate")
                or obj.get("occurredAt")
                or request.headers.get("x-hubspot-request-timestamp", "")
            )
            ids.append(f"{object_id}@{stamp}")
        return ",".join(ids) or body_sha256(request.body)


def _reader(obj: Any, properties: Mapping[str, Any]) -> Lookup:
    """A property by its internal name, else a dotted path into the object."""
    return lambda ref: properties[ref] if ref in properties else dotted(obj, ref)


def _properties(obj: Any, index: int | None) -> dict[str, Any]:
    where = "the HubSpot payload" if index is None else f"item {index} of the HubSpot payload"
    if not isinstance(obj, dict):
        raise BadRequest(f"{where} is not a contact object")
    properties = obj.get("properties")
    if isinstance(properties, dict):
        return _values(properties)
    if any(name in obj for name in CONTACT_PROPERTIES):
        return _values(obj)
    raise BadRequest(f'{where} has no "properties" object (and no contact property such as "phone" or "email")')


def _values(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Property name -> value, from either {"name": {"value": v, "versions": [...]}} or {"name": v}."""
    return {str(name): (value.get("value") if isinstance(value, dict) else value) for name, value in properties.items()}
