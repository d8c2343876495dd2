"""The bulk delete request (POST /contacts/delete, DELETE /contacts): who may send it, which contacts it names.

Authentication: always, whatever AllowUnauthenticatedSources says, with a credential of its own: the `deletes` entry
of the webhook-secrets secret, presented like the generic token (`Authorization: Bearer`, `X-Bridge-Token` or
`?token=`). The generic token ends up in Zapier steps and in the HTML of public forms; it must never erase contacts,
so deletes are refused (403) while the `deletes` token equals it, or any other entry of the secret.
Body: `{"contact_ids": ["<uuid>", ...], "phones": ["<any phone format>", ...]}`, either list or both. Ids are
Heymarket contact UUIDs; phones are normalised like a contact's (numbers and floats included) and resolved to ids
when the delete is sent. An item that is not valid is reported by the list it came from and its position there; so
is a phone written without "+" that reads as an international number but could be a mistyped national one
(heymarket_bridge.domain.phone.read_phone): a contact upsert keeps such a number with a warning, a delete does not
guess.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from heymarket_bridge.domain.operations import DeleteOperation, DeleteTarget
from heymarket_bridge.domain.phone import read_phone
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import parse_json
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.failures import (
    BadRequest,
    DeletesNotConfigured,
    MalformedSecretEntry,
    NothingValid,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.repeats import rank
from heymarket_bridge.ingest.replies import IngestOutcome, Rejection
from heymarket_bridge.ingest.scopes import read_entry
from heymarket_bridge.ingest.sources.generic import token_matches
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.settings import IngestSettings

DELETE_CREDENTIAL = "deletes"
# The `source` of delete requests in the webhook summary line (heymarket_bridge.observability.WEBHOOK_OUTCOMES).
DELETES_METRIC_SOURCE = "deletes"
DELETE_FIELDS = ("contact_ids", "phones")
JSON_TYPES = ("application/json", "text/json", "text/plain", "")


@record
class InvalidTarget:
    """A delete target that cannot be used: its `field`, its `index` in the request, and what is wrong with it."""

    field: str
    index: int
    errors: list[str]


def authenticate_delete(request: WebhookRequest, secrets: Mapping[str, Any]) -> None:
    """Refuse a delete request that does not present the `deletes` credential: 403 when the stack has none, or while
    it equals another entry of the secret (the generic token, a URL token, the org id: credentials that end up in
    Zapier steps, public forms and endpoint URLs would otherwise erase contacts); 401 when it is not presented."""
    secret = secrets.get(DELETE_CREDENTIAL)
    if not isinstance(secret, str) or not secret.strip():
        raise DeletesNotConfigured(
            f'deletes are turned off: add a "{DELETE_CREDENTIAL}" entry with a long random token to the '
            "webhook-secrets secret (the generic token cannot delete contacts)"
        )
    token = secret.strip().encode()
    shared = sorted(
        str(name)
        for name, value in secrets.items()
        if name != DELETE_CREDENTIAL and any(hmac.compare_digest(other.encode(), token) for other in _tokens(value))
    )
    if shared:
        entries = ", ".join(f'"{name}"' for name in shared)
        raise DeletesNotConfigured(
            f'deletes are turned off: the "{DELETE_CREDENTIAL}" token of the webhook-secrets secret is the same as '
            f'its {entries} entry, so that credential could delete contacts; set "{DELETE_CREDENTIAL}" to a long '
            "random token of its own"
        )
    if not token_matches(request, secret.strip()):
        raise Unauthorized(f'missing or wrong token: deletes need the "{DELETE_CREDENTIAL}" token')


def _tokens(value: Any) -> list[str]:
    """Every secret of an entry: a string, or each token of a scoped or list entry (heymarket_bridge.ingest.scopes);
    none of one that cannot be read (its source is refused until it is fixed)."""
    try:
        return [entry.token for entry in read_entry(value)]
    except MalformedSecretEntry:
        return []


def parse_delete_request(
    body: bytes, content_type: str, default_country: str, max_items: int, charset: str | None = None
) -> tuple[list[DeleteTarget], list[InvalidTarget]]:
    """The valid targets in request order (ids, then phones), and every item refused with its reason."""
    if content_type not in JSON_TYPES and not content_type.endswith("+json"):
        raise UnsupportedMediaType(f"content type {shown(content_type)} is not supported: send application/json")
    lists = _lists(parse_json(body, charset))
    count = sum(len(items) for items in lists.values())
    if count > max_items:
        raise PayloadTooLarge(f"the request names {count} contacts; at most {max_items} are accepted per request")
    invalid: list[InvalidTarget] = []
    targets = _ids(lists["contact_ids"], invalid) + _phones(lists["phones"], default_country, invalid)
    return targets, invalid


def _lists(payload: Any) -> dict[str, list[Any]]:
    """The body's two lists (a missing one empty); 400 when it has neither or one is not a list."""
    if not isinstance(payload, dict) or not any(name in payload for name in DELETE_FIELDS):
        raise BadRequest('the body must be an object with "contact_ids" and/or "phones"')
    lists: dict[str, list[Any]] = {}
    for name in DELETE_FIELDS:
        items = payload.get(name, [])
        if not isinstance(items, list):
            raise BadRequest(f'"{name}" must be a list')
        lists[name] = items
    return lists


def _ids(items: list[Any], invalid: list[InvalidTarget]) -> list[DeleteTarget]:
    targets: list[DeleteTarget] = []
    for index, raw in enumerate(items):
        try:
            if not isinstance(raw, str):
                raise TypeError(raw)
            targets.append(DeleteTarget(contact_id=str(uuid.UUID(raw.strip()))))
        except (TypeError, ValueError):
            invalid.append(InvalidTarget("contact_ids", index, ["contact_id must be a UUID"]))
    return targets


def _phones(items: list[Any], default_country: str, invalid: list[InvalidTarget]) -> list[DeleteTarget]:
    targets: list[DeleteTarget] = []
    for index, raw in enumerate(items):
        try:
            reading = read_phone(raw, default_country)
        except ValueError as exc:
            invalid.append(InvalidTarget("phones", index, [str(exc)]))
            continue
        if reading.warning is not None:
            # A delete is permanent: a number that may be a mistyped national one is not guessed at.
            invalid.append(InvalidTarget("phones", index, [f"{reading.warning}; nothing was deleted"]))
            continue
        targets.append(DeleteTarget(phone=reading.digits))
    return targets


def delete_contacts(
    request: WebhookRequest,
    secrets: Mapping[str, Any],
    settings: IngestSettings,
    clock: Callable[[], datetime],
    buffer: ContactBuffer,
) -> IngestOutcome:
    """Validate and enqueue a bulk delete request's targets; each travels as its own queue message.

    Not de-duplicated: deleting twice changes nothing, but a delete repeated after the contact was created
    again must run.
    """
    authenticate_delete(request, secrets)
    targets, invalid = parse_delete_request(
        request.body,
        request.content_type,
        settings.default_country,
        settings.max_contacts_per_request,
        request.charset,
    )
    rejected = [Rejection(item.index, item.errors, item.field) for item in invalid]
    if not targets:
        raise NothingValid(
            "no valid contact id or phone in the delete request", {"rejected": [r.to_dict() for r in rejected]}
        )
    received_at = clock().isoformat(timespec="milliseconds")
    operations = [DeleteOperation(t, "generic", received_at, request.request_id) for t in targets]
    buffer.forget(
        [t.phone for t in targets if t.phone is not None],
        any(t.contact_id for t in targets),
        rank(None, received_at),
    )
    buffer.enqueue(operations)
    emit_metric("ContactsEnqueued", len(targets))
    logger.info(
        "Delete request accepted",
        extra={
            "source": DELETES_METRIC_SOURCE,
            "outcome": "accepted",
            "accepted": len(targets),
            "rejected": len(rejected),
            "rejections": [r.errors for r in rejected][:20],
        },
    )
    return IngestOutcome(len(targets), rejected)
