"""Plain JSON (or an HTML form post) with a shared token: Zapier, Make, Google Forms scripts, in-house systems.

Authenticity: the source's secret as `Authorization: Bearer`, HTTP Basic (the token as user name or password, as
Zapier's "Basic Auth" field sends it), `X-Bridge-Token`, or `?token=`.
Payload: a contact object in the bridge's field names, a list of them, or {"contacts": [...]}; or a form post
(`custom[<id>]=value` for custom fields, `tags=3&tags=VIP`, `lists=42&lists=Spring` or `tags[]=3` for lists of
values). Values are read as senders write them (see heymarket_bridge.domain.contact): phones as numbers, tags as "3,7",
booleans as 1/"yes"/"on"; a one-item list (Google Forms' `e.namedValues`) as its item. `country` or
`country_code` names the phone's country (heymarket_bridge.domain.phone.read_phone). `occurred_at` (ISO 8601 with a
time zone, or epoch milliseconds as text or a number; a time that is none is ignored) says when the contact
changed: a phone's contacts in one request are applied in that order, and an older change never overwrites a newer
one (heymarket_bridge.sync.state.rules); an older record of a `contact_id` whose phone is not that contact's newest
record's in the same request is not applied (a number the person has left).
Mapping references (SOURCE_MAPPINGS) are dotted paths into each contact object, so a sender's own shape needs
no code; a literal key wins over a path, so keys with spaces (form titles) work too. Example:

    {"generic": {"phone": ["data.mobile", "data.phone"], "email": "data.email", "name": "data.Full name",
                 "custom": {"101": "data.source"}, "constants": {"tags": [3]}}}

With a mapping, fields the object already holds under the bridge's names are kept unless mapped.

Delivery identity: the sender's `Idempotency-Key` header, whole (draft-ietf-httpapi-idempotency-key-header: a
String structured field, so a quoted key is read without its quotes). The key names one request body: the same key
with another body is refused (422). Without a key a delivery has no id, and only a repeat of the latest contact
seen for a phone is taken for a retry (heymarket_bridge.ingest.service).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any

from heymarket_bridge.domain.contact import contact_evidence
from heymarket_bridge.domain.fields import single
from heymarket_bridge.domain.mapping import Lookup, SourceMapping, Submission, dotted
from heymarket_bridge.domain.phone import read_phone
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import FORM_TYPE, JSON_TYPES, form_pairs, parse_json
from heymarket_bridge.ingest.failures import BadRequest, Unauthorized, UnsupportedMediaType
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    ReadContext,
    SourceDefaults,
    identity,
    no_phone,
    too_many,
)
from heymarket_bridge.ingest.times import event_time


def presented_tokens(request: WebhookRequest) -> list[str]:
    """Every token the request presents: `Authorization` (Bearer, or Basic user or password), `X-Bridge-Token`,
    `?token=` for senders that cannot set headers."""
    tokens: list[str] = []
    authorization = request.headers.get("authorization", "").strip()
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        tokens.append(credentials.strip())
    elif scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, ValueError):
            user, password = "", ""
        tokens.extend((user, password))
    tokens.extend((request.headers.get("x-bridge-token", ""), request.query.get("token", "")))
    return [token.strip() for token in tokens if token and token.strip()]


def token_matches(request: WebhookRequest, secret: str) -> bool:
    """Whether the request presents `secret`; every presented token is compared in constant time."""
    expected = secret.encode()
    matches = [hmac.compare_digest(token.encode(), expected) for token in presented_tokens(request)]
    return any(matches)


def require_token(request: WebhookRequest, secret: str | None, source: str) -> None:
    if secret is not None and not token_matches(request, secret):
        raise Unauthorized(f"missing or wrong token for source {source!r}")


def idempotency_key(request: WebhookRequest) -> str:
    """The Idempotency-Key header, whole; a structured-field String ("...") without its quotes."""
    key = request.headers.get("idempotency-key", "").strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return key


class GenericSource(SourceDefaults):
    name = "generic"
    credentials = (
        CredentialEntry(
            "generic", "bridge", "a token every sender presents (X-Bridge-Token, Bearer, Basic or ?token=)"
        ),
    )
    sample_event = "single_contact"
    # Its callers are programs that can fix a contact and resend it: tell them plainly when nothing was taken.
    refuses_when_nothing_valid = True

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        require_token(request, context.credentials.secret, self.name)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        items = self._items(request, context)
        occurred = tuple(event_time(item.get("occurred_at")) if isinstance(item, dict) else None for item in items)
        mapping = context.mapping
        if mapping:
            items = [self._mapped(item, mapping, context) if isinstance(item, dict) else item for item in items]
        kept = _without_older_phones(items, occurred, context)
        items, occurred = [items[i] for i in kept], tuple(occurred[i] for i in kept)
        key = idempotency_key(request)
        return Delivery(items, identity(f"key:{key}" if key else None, request.body, id_covers_body=True), occurred)

    def _mapped(self, item: Mapping[str, Any], mapping: SourceMapping, context: ReadContext) -> Submission:
        contact = mapping.apply(item, _reader(item), context.is_phone)
        if contact.get("phone") is None and "phone" in mapping.fields:
            return no_phone("the contact", mapping, "", contact)
        return contact

    def _items(self, request: WebhookRequest, context: ReadContext) -> list[Any]:
        content_type = request.content_type
        if content_type == FORM_TYPE:
            return [form_contact(form_pairs(request))]
        if content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"content type {shown(content_type)} is not supported: send application/json or {FORM_TYPE}"
            )
        payload = parse_json(request.body, request.charset)
        if isinstance(payload, dict) and "contacts" in payload:
            payload = payload["contacts"]
            if not isinstance(payload, list):
                raise BadRequest('"contacts" must be a list of contact objects')
        elif isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            raise BadRequest('the body must be a contact object, a list of them, or {"contacts": [...]}')
        too_many(len(payload), context)
        return payload


def _reader(item: Mapping[str, Any]) -> Lookup:
    return lambda ref: dotted(item, ref)


def form_contact(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """A contact from form fields: `custom[<id>]` fields into custom; `tags` or `lists` sent several times
    (`tags=3&tags=7`) and `<name>[]` fields (`tags[]=3&tags[]=7`) into lists; any other field as its last value."""
    contact: dict[str, Any] = {}
    custom: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in pairs:
        if key.startswith("custom[") and key.endswith("]"):
            custom[key[7:-1]] = value
        elif key.endswith("[]") or key in ("tags", "lists"):
            lists.setdefault(key.removesuffix("[]"), []).append(value)
        else:
            contact[key] = value
    for key, values in lists.items():
        contact[key] = values
    if custom:
        contact["custom"] = custom
    return contact


def _without_older_phones(items: list[Any], occurred: tuple[Any, ...], context: ReadContext) -> list[int]:
    """The indexes of the items to apply: all but an older record of a `contact_id` that carries another phone than
    that contact's newest record in the delivery (both with an event time). A record's phone as of an older change
    is a number the person has since left, perhaps someone else's now; writing it under their contact would bind
    it to them again. Records of one phone are merged in time order by the ingest service, so they are all kept."""
    newest = _newest_of_each_id(items, occurred)
    superseded = set()
    for index, item in enumerate(items):
        contact_id = single(item.get("contact_id")) if isinstance(item, dict) else None
        latest = newest.get(str(contact_id)) if isinstance(contact_id, str | int) else None
        if latest is None or latest == index or occurred[index] is None:
            continue
        if _phone_of(item, context) != _phone_of(items[latest], context) and occurred[index] < occurred[latest]:
            superseded.add(index)
    return [index for index in range(len(items)) if index not in superseded]


def _newest_of_each_id(items: list[Any], occurred: tuple[Any, ...]) -> dict[str, int]:
    """The index of each `contact_id`'s newest record with an event time (the later in the delivery for equal
    times)."""
    newest: dict[str, int] = {}
    for index, item in enumerate(items):
        contact_id = single(item.get("contact_id")) if isinstance(item, dict) else None
        if not isinstance(contact_id, str | int) or isinstance(contact_id, bool) or occurred[index] is None:
            continue
        kept = newest.get(str(contact_id))
        if kept is None or occurred[index] >= occurred[kept]:
            newest[str(contact_id)] = index
    return newest


def _phone_of(item: Mapping[str, Any], context: ReadContext) -> str | None:
    try:
        return read_phone(item.get("phone"), context.default_country, contact_evidence(item)).digits
    except ValueError:
        return None


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = GenericSource
