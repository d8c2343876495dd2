"""Readers of Heymarket's answers: the shape each endpoint documents, and the deviations whose meaning is not in doubt.

Shapes from Heymarket's API reference as summarised in shared/HEYMARKET_API.md ("Contacts: the documented contract,
exactly") and shared/heymarket-examples/. The reference itself is inconsistent (its Contact object lists an integer
`id` while its v2 endpoints take UUIDs, and its examples disagree), so a reader takes, and counts, a deviation that
can mean one thing only (DEVIATIONS): an `id` that is a UUID string is the contact's UUID; an `id` of decimal digits
is that integer; a phone written with "+" is that phone; fields the reference does not list are ignored; a bulk
answer without `contacts` whose `failed_contacts` holds every failure stored nothing. Each is counted
(`HeymarketAnswerDeviations`, dimension `kind`) and one sample per kind is logged per execution environment, masked.
A reader raises `UnreadableAnswer` for anything that could mean two things (an `id` of other text, a `uuid` field
that differs from a UUID `id`, an object where an array is documented, items that are not objects, no list at all):
the caller treats that as a transient failure, never as success and never as a refusal of the contacts sent.
"""

from __future__ import annotations

import re
import uuid as uuidlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from heymarket_bridge.adapters.heymarket.failures import UnreadableAnswer
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.e164 import phone_digits
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import shown
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import Identity

# The deviations from the documented shapes a reader takes, by the name they are counted and logged with.
DEVIATIONS: Final = ("id_as_uuid", "id_as_text", "phone_with_plus", "extra_fields", "no_contacts_when_all_failed")
# The fields of the reference's Contact object (shared/HEYMARKET_API.md), and `uuid`, which answers may carry.
DOCUMENTED_CONTACT_FIELDS: Final = frozenset(
    {
        "id", "uuid", "display_name", "first", "last", "email", "phone", "custom", "team_id", "creator_id", "shared",
        "created", "updated", "rev", "op", "assigned_user_id", "tags", "is_opted_out", "avatar", "external_id",
        "external_ref", "inbox_id", "note", "parent_id", "type",
    }
)  # fmt: skip
_INTEGER_TEXT = re.compile(r"[0-9]{1,18}")
# Kinds already logged with a sample by this execution environment: one sample each is enough to find the cause.
_SAMPLED: set[str] = set()


@record
class HeardContact:
    """A Contact object from an answer: its identifiers, its phone (E.164 digits, '' if none) and its fields."""

    identity: Identity
    phone: str
    fields: Mapping[str, Any]


@record
class FailedItem:
    """One `failed_contacts` entry: the contact as sent, and Heymarket's error text (undocumented, shown as is)."""

    sent: Mapping[str, Any]
    error: str


@record
class BulkAnswer:
    """`POST /v2/contacts`: `{"contacts": [Contact...], "failed_contacts": [{"contact": ..., "error": ...}]}`."""

    stored: Sequence[HeardContact]
    failed: Sequence[FailedItem]


@dataclass
class Deviations:
    """The deviations met while reading one answer: how many of each kind, and one sample of each."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def note(self, kind: str, sample: str) -> None:
        self.counts[kind] += 1
        self.samples.setdefault(kind, sample)

    def report(self, endpoint: str) -> None:
        """Count each kind (`HeymarketAnswerDeviations`, by `kind`) and log one sample of each kind once per
        execution environment."""
        for kind, count in self.counts.items():
            emit_metric("HeymarketAnswerDeviations", count, kind=kind)
            if kind not in _SAMPLED:
                _SAMPLED.add(kind)
                logger.warning(
                    "Heymarket answered in an undocumented shape; read as it can only be meant",
                    extra={"kind": kind, "endpoint": endpoint, "sample": self.samples[kind], "count": count},
                )


def read_contact_object(item: Any, where: str, deviations: Deviations | None = None) -> HeardContact:
    """A Contact object: an object with an integer `id` and, if any, a `uuid`; or with its UUID as `id`.

    An `id` of decimal digits is that integer, one that is a UUID is the contact's UUID (then no integer id is known);
    anything else is unreadable. Deviations are noted in `deviations`, or counted at once when none is given.
    """
    own = deviations is None
    noticed = Deviations() if deviations is None else deviations
    if not isinstance(item, Mapping):
        raise UnreadableAnswer(f"{where} is {_kind(item)}, not a Contact object")
    integer_id, uuid = _identity(item.get("id"), item.get("uuid"), where, noticed)
    phone = item.get("phone")
    if isinstance(phone, str) and phone.startswith("+"):
        noticed.note("phone_with_plus", mask_phone(phone))
    extra = sorted(str(name) for name in item if name not in DOCUMENTED_CONTACT_FIELDS)
    if extra:
        noticed.note("extra_fields", shown(", ".join(extra[:5]), limit=80))
    if own:
        noticed.report(where)
    return HeardContact(Identity(integer_id, uuid), phone_digits(phone), item)


def _identity(raw_id: Any, raw_uuid: Any, where: str, noticed: Deviations) -> tuple[int | None, str | None]:
    """A Contact object's (integer id, UUID) from its `id` and `uuid` (see `read_contact_object`)."""
    uuid = raw_uuid if isinstance(raw_uuid, str) and raw_uuid else None
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        return raw_id, uuid
    if isinstance(raw_id, str) and _INTEGER_TEXT.fullmatch(raw_id):
        noticed.note("id_as_text", shown(raw_id))
        return int(raw_id), uuid
    if isinstance(raw_id, str) and (as_uuid := _uuid(raw_id)) is not None:
        if uuid is not None and _uuid(uuid) != as_uuid:
            raise UnreadableAnswer(f"{where} has a UUID id and a different uuid: which one is the contact is unknown")
        noticed.note("id_as_uuid", raw_id)
        return None, uuid or raw_id
    raise UnreadableAnswer(f"{where} has no integer or UUID id (its id is {_kind(raw_id)})")


def _uuid(text: str) -> str | None:
    """`text` as a canonical UUID, or None when it is not one."""
    try:
        return str(uuidlib.UUID(text)) if len(text) <= 45 else None
    except ValueError:
        return None


def read_bulk_answer(data: Any) -> BulkAnswer:
    """The answer of `POST /v2/contacts`. `failed_contacts` may be left out (nothing failed); `contacts` may be left
    out when `failed_contacts` names failures (nothing was stored), never when both are missing."""
    deviations = Deviations()
    if not isinstance(data, Mapping):
        raise UnreadableAnswer(f"the answer is {_kind(data)} without a contacts array")
    failed_raw = data.get("failed_contacts")
    if failed_raw is None:
        failed_raw = []
    if not isinstance(failed_raw, list):
        raise UnreadableAnswer(f"failed_contacts is {_kind(failed_raw)}, not an array")
    contacts = data.get("contacts")
    if contacts is None and "contacts" not in data and failed_raw:
        contacts = []
        deviations.note("no_contacts_when_all_failed", shown(", ".join(sorted(map(str, data)))))
    if not isinstance(contacts, list):
        raise UnreadableAnswer(f"the answer is {_kind(data)} without a contacts array")
    stored = [read_contact_object(item, f"contacts[{n}]", deviations) for n, item in enumerate(contacts)]
    failed: list[FailedItem] = []
    for n, item in enumerate(failed_raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("contact"), Mapping):
            raise UnreadableAnswer(f"failed_contacts[{n}] is not an object holding the contact as sent")
        error = item.get("error")
        failed.append(FailedItem(item["contact"], str(error) if error not in (None, "") else "refused by Heymarket"))
    deviations.report("POST /v2/contacts")
    return BulkAnswer(stored, failed)


def read_search_answer(data: Any) -> list[HeardContact]:
    """The answer of `POST /v2/contacts/search`: a bare JSON array of Contact objects."""
    if not isinstance(data, list):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not an array of contacts")
    deviations = Deviations()
    contacts = [read_contact_object(item, f"item {n}", deviations) for n, item in enumerate(data)]
    deviations.report("POST /v2/contacts/search")
    return contacts


def read_ok(data: Any) -> None:
    """`DELETE /v2/contacts` and `DELETE /v1/contact/{id}` answer the JSON string "ok"."""
    if not (isinstance(data, str) and data.strip().lower() == "ok"):
        raise UnreadableAnswer(f'the answer is {_kind(data)}, not "ok"')


def read_write_answer(data: Any) -> Identity:
    """`POST /v1/contact` and `PUT /v1/contact/{id}` answer `{"id": 98765, "rev": 1, "uuid": "..."}`."""
    if not isinstance(data, Mapping):
        raise UnreadableAnswer(f"the answer is {_kind(data)}, not {{id, rev, uuid}}")
    return read_contact_object(data, "the answer").identity


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
