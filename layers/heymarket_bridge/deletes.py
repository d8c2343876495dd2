"""The bulk delete request (POST /contacts/delete, DELETE /contacts): which contacts it names, and which it cannot.

Body: `{"contact_ids": ["<uuid>", ...], "phones": ["<any phone format>", ...]}`, either list or both. Ids are
Heymarket contact UUIDs; phones are normalised like a contact's and resolved to ids when the delete is sent.
An item that is not valid is reported by the list it came from and its position there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from heymarket_bridge.contact import normalise_phone
from heymarket_bridge.messages import DeleteTarget
from heymarket_bridge.sources.common import parse_json
from heymarket_bridge.webhook import BadRequest, PayloadTooLarge, UnsupportedMediaType

DELETE_FIELDS = ("contact_ids", "phones")
JSON_TYPES = ("application/json", "text/json", "text/plain", "")


@dataclass(frozen=True)
class InvalidTarget:
    field: str
    index: int
    errors: list[str]


def parse_delete_request(
    body: bytes, content_type: str, default_country: str, max_items: int
) -> tuple[list[DeleteTarget], list[InvalidTarget]]:
    """The valid targets in request order (ids, then phones), and every item refused with its reason."""
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"content type {content_type!r} is not supported: send application/json")
    payload = parse_json(body)
    if not isinstance(payload, dict) or not any(name in payload for name in DELETE_FIELDS):
        raise BadRequest('the body must be an object with "contact_ids" and/or "phones"')
    lists: dict[str, list[Any]] = {}
    for name in DELETE_FIELDS:
        items = payload.get(name, [])
        if not isinstance(items, list):
            raise BadRequest(f'"{name}" must be a list')
        lists[name] = items
    count = sum(len(items) for items in lists.values())
    if count > max_items:
        raise PayloadTooLarge(f"the request names {count} contacts; at most {max_items} are accepted per request")
    targets: list[DeleteTarget] = []
    invalid: list[InvalidTarget] = []
    for index, raw in enumerate(lists["contact_ids"]):
        try:
            targets.append(DeleteTarget(contact_id=str(uuid.UUID(raw))))
        except (TypeError, ValueError, AttributeError):
            invalid.append(InvalidTarget("contact_ids", index, ["contact_id must be a UUID"]))
    for index, raw in enumerate(lists["phones"]):
        try:
            targets.append(DeleteTarget(phone=normalise_phone(raw, default_country)))
        except ValueError as exc:
            invalid.append(InvalidTarget("phones", index, [str(exc)]))
    return targets, invalid
