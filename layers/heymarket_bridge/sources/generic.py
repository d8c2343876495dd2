"""Plain JSON (or an HTML form post) with a shared token: Zapier, Make, Google Forms scripts, in-house systems.

Authenticity: the source's secret as `Authorization: Bearer`, `X-Bridge-Token`, or `?token=`.
Payload: a contact object in the bridge's field names, a list of them, or {"contacts": [...]}.
Mapping references (SOURCE_MAPPINGS) are dotted paths into each contact object, so a sender's own shape needs
no code; a literal key wins over a path, so keys with spaces (form titles) work too. Example:

    {"generic": {"phone": ["data.mobile", "data.phone"], "email": "data.email", "name": "data.Full name",
                 "custom": {"101": "data.source"}, "constants": {"tags": [3]}}}

With a mapping, fields the object already holds under the bridge's names are kept unless mapped.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from heymarket_bridge.mapping import Lookup, SourceMapping, Submission, dotted
from heymarket_bridge.sources.common import SourceDefaults, body_sha256, no_phone, parse_json
from heymarket_bridge.webhook import BadRequest, UnsupportedMediaType, WebhookRequest

JSON_TYPES = ("application/json", "text/json", "text/plain", "")
FORM_TYPE = "application/x-www-form-urlencoded"


def presented_token(request: WebhookRequest) -> str | None:
    """The shared token, from `Authorization: Bearer`, `X-Bridge-Token`, or `?token=` for senders without headers."""
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("x-bridge-token") or request.query.get("token") or None


def token_matches(request: WebhookRequest, secret: str) -> bool:
    token = presented_token(request)
    return token is not None and hmac.compare_digest(token.encode(), secret.encode())


# Without an Idempotency-Key, a generic delivery is known only by its body. Identical bodies minutes apart
# are a sender's retry; identical bodies hours apart may be a real change back (opted out, then in again),
# so body hashes are remembered briefly.
BODY_HASH_RETENTION_S = 15 * 60


class GenericSource(SourceDefaults):
    name = "generic"
    # Its callers are programs that can fix a contact and resend it: tell them plainly when nothing was taken.
    refuses_when_nothing_valid = True

    def delivery_id(self, request: WebhookRequest) -> str:
        """The sender's `Idempotency-Key` header when it sends one, else a hash of the body."""
        key = request.headers.get("idempotency-key", "").strip()
        return f"key:{key[:200]}" if key else body_sha256(request.body)

    def delivery_retention_s(self, request: WebhookRequest) -> int | None:
        return None if request.headers.get("idempotency-key", "").strip() else BODY_HASH_RETENTION_S

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        return token_matches(request, secret)

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        items = self._items(request)
        if not mapping:
            return items
        return [self._mapped(item, mapping) if isinstance(item, dict) else item for item in items]

    def _mapped(self, item: Mapping[str, Any], mapping: SourceMapping) -> Submission:
        contact = mapping.apply(item, _reader(item))
        if contact.get("phone") is None and "phone" in mapping.fields:
            return no_phone("the contact", mapping, "")
        return contact

    def _items(self, request: WebhookRequest) -> list[Any]:
        content_type = request.content_type
        if content_type == FORM_TYPE:
            return [_form_contact(request.body)]
        if content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"content type {content_type!r} is not supported: send application/json or {FORM_TYPE}"
            )
        payload = parse_json(request.body)
        if isinstance(payload, dict) and "contacts" in payload:
            payload = payload["contacts"]
            if not isinstance(payload, list):
                raise BadRequest('"contacts" must be a list of contact objects')
        elif isinstance(payload, dict):
            payload = [payload]
        elif not isinstance(payload, list):
            raise BadRequest('the body must be a contact object, a list of them, or {"contacts": [...]}')
        return payload


def _reader(item: Mapping[str, Any]) -> Lookup:
    return lambda ref: dotted(item, ref)


def _form_contact(body: bytes) -> Mapping[str, Any]:
    if not body.strip():
        raise BadRequest("the request body is empty")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise BadRequest("the request body is not UTF-8") from exc
    contact: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for key, value in pairs:
        if key.startswith("custom[") and key.endswith("]"):
            custom[key[7:-1]] = value
        elif key == "tags":
            contact.setdefault("tags", []).append(value)
        else:
            contact[key] = value
    if custom:
        contact["custom"] = custom
    return contact
