"""Readers of Heymarket's answers, each accepting exactly the shape its endpoint documents. Pure.

Shapes from Heymarket's API reference as summarised in shared/HEYMARKET_API.md ("Contacts: the documented contract,
exactly") and shared/heymarket-examples/. A reader raises `UnreadableAnswer` for anything else (an object where an
array is documented, items that are not objects, a missing list): the caller treats that as a transient failure,
never as success and never as a refusal of the contacts sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heymarket_bridge.custom_fields import CustomField
from heymarket_bridge.heymarket_port import Identity
from heymarket_bridge.phone import phone_digits


class UnreadableAnswer(ValueError):
    """A 2xx answer that is not of the documented shape; str() says what was wrong with it."""


@dataclass(frozen=True)
class HeardContact:
    """A Contact object from an answer: its identifiers, its phone (E.164 digits, '' if none) and its fields."""

    identity: Identity
    phone: str
    fields: Mapping[str, Any]


@dataclass(frozen=True)
class FailedItem:
    """One `failed_contacts` entry: the contact as sent, and Heymarket's error text (undocumented, shown as is)."""

    sent: Mapping[str, Any]
    error: str


@dataclass(frozen=True)
class BulkAnswer:
    """`POST /v2/contacts`: `{"contacts": [Contact...], "failed_contacts": [{"contact": ..., "error": ...}]}`."""

    stored: Sequence[HeardContact]
    failed: Sequence[FailedItem]


def read_contact(item: Any, where: str) -> HeardContact:
    """A Contact object: an object with an integer `id` (the reference's type: a string is not taken) and, if any,
    a `uuid`."""
    if not isinstance(item, Mapping):
        raise UnreadableAnswer(f"{where} is {_kind(item)}, not a Contact object")
    raw_id, raw_uuid = item.get("id"), item.get("uuid")
    if isinstance(raw_id, bool) or not isinstance(raw_id, int):
        raise UnreadableAnswer(f"{where} has no integer id (its id is {_kind(raw_id)})")
    uuid = raw_uuid if isinstance(raw_uuid, str) and raw_uuid else None
    return HeardContact(Identity(raw_id, uuid), phone_digits(item.get("phone")), item)


def read_bulk_answer(data: Any) -> BulkAnswer:
    """The answer of `POST /v2/contacts`. `failed_contacts` may be left out (nothing failed)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("contacts"), list):
        raise UnreadableAnswer(f"the answer is {_kind(data)} without a contacts array")
    failed_raw = data.get("failed_contacts")
    if failed_raw is None:
        failed_raw = []
    if not isinstance(failed_raw, list):
        raise UnreadableAnswer(f"failed_contacts is {_kind(failed_raw)}, not an array")
    stored = [read_contact(item, f"contacts[{n}]") for n, item in enumerate(data["contacts"])]
    failed: list[FailedItem] = []
    for n, item in enumerate(failed_raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("contact"), Mapping):
            raise UnreadableAnswer(f"failed_contacts[{n}] is not an object holding the contact as sent")
        error = item.get("error")
        failed.append(FailedItem(item["contact"], str(error) if error not in (None, "") else "refused by Heymarket"))
    return BulkAnswer(stored, failed)


def read_search_answer(data: Any) -> list[HeardContact]:
    """The answer of `POST /v2/contacts/search`: a bare JSON array of Contact objects."""
    if not isinstance(data, list):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not an array of contacts")
    return [read_contact(item, f"item {n}") for n, item in enumerate(data)]


def read_ok(data: Any) -> None:
    """`DELETE /v2/contacts` and `DELETE /v1/contact/{id}` answer the JSON string "ok"."""
    if not (isinstance(data, str) and data.strip().lower() == "ok"):
        raise UnreadableAnswer(f'the answer is {_kind(data)}, not "ok"')


def read_write_answer(data: Any) -> Identity:
    """`POST /v1/contact` and `PUT /v1/contact/{id}` answer `{"id": 98765, "rev": 1, "uuid": "..."}`."""
    if not isinstance(data, Mapping):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not {{id, rev, uuid}}")
    return read_contact(data, "the answer").identity


def read_v1_batch_answer(data: Any) -> list[Mapping[str, Any]]:
    """`POST /v1/batch/contacts` answers "ok" (all stored: an empty list here) or the array of contacts that failed."""
    if isinstance(data, str) and data.strip().lower() == "ok":
        return []
    if not isinstance(data, list):
        raise UnreadableAnswer(f'the answer is {_kind(data)}, neither "ok" nor an array of failed contacts')
    for n, item in enumerate(data):
        if not isinstance(item, Mapping):
            raise UnreadableAnswer(f"failed item {n} is {_kind(item)}, not a contact")
    return list(data)


def read_custom_fields(data: Any) -> list[CustomField]:
    """`POST /v1/contact-fields` lists the team's fields (id and title); the exact shape is not documented.

    Accepts an array of field objects, or an object holding it under a usual name. Items without an id and a
    title are skipped (a title that cannot be found is reported where it is used); anything else is unreadable.
    """
    items: Any = data
    if isinstance(data, Mapping):
        items = next((data[k] for k in ("contact_fields", "fields", "custom_fields", "data") if k in data), None)
    if not isinstance(items, list):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not a list of custom fields")
    fields: list[CustomField] = []
    for item in items:
        if not isinstance(item, Mapping):
            raise UnreadableAnswer(f"a custom field is {_kind(item)}, not an object")
        field_id, title = item.get("id"), item.get("title", item.get("name"))
        if isinstance(field_id, bool) or not isinstance(field_id, int | str) or not isinstance(title, str):
            continue
        if str(field_id).strip() and title.strip():
            fields.append(CustomField(str(field_id).strip(), title))
    return fields


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
