"""The contact: the validated value, its queue and Heymarket wire forms, and how a source's submission becomes one
(`read_contact`: the phone read by heymarket_bridge.domain.phone, the optional fields by
heymarket_bridge.domain.fields). Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.e164 import MAX_PHONE_DIGITS
from heymarket_bridge.domain.failures import InvalidContact
from heymarket_bridge.domain.fields import (
    read_avatar,
    read_bool,
    read_contact_id,
    read_custom,
    read_email,
    read_int,
    read_segments,
    read_text,
    single,
)
from heymarket_bridge.domain.records import record

if TYPE_CHECKING:  # loaded where a phone is read (the ingest side), not by the sync function, which reads none
    from heymarket_bridge.domain.country import CountryEvidence

MAX_TAGS = 5
# Lists a contact may be put on by one message: each costs one request per chunk of contacts (README, "Tags and lists").
MAX_LISTS = 10
# Fields a submission may name its phone's country with (generic senders, mappings): an ISO code, a name or a
# calling code (heymarket_bridge.domain.country).
COUNTRY_FIELDS = ("country", "country_code")
# The fields Heymarket documents for the legacy POST /v1/batch/contacts (the phone matches existing contacts).
V1_FIELDS = ("phone", "first", "last", "display_name", "email", "is_opted_out")


@record
class DroppedField:
    """An optional field left out of a contact because its value is not valid: the contact is sent without it."""

    field: str
    error: str


@record
class Contact:
    """A validated contact. `None` means "the source did not provide it" and is never sent."""

    phone: str
    first: str | None = None
    last: str | None = None
    display_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    custom: Mapping[str, str] | None = None
    # Tag ids (int) or tag names (str): the sync side turns names into ids before anything is sent.
    tags: tuple[int | str, ...] | None = None
    is_opted_out: bool | None = None
    assignee_id: int | None = None
    contact_id: str | None = None
    # Heymarket lists to put the contact on, by id (int) or by name (str, a list the bridge manages). Not a field of
    # Heymarket's contact: written with the lists endpoints once the contact is stored
    # (heymarket_bridge.sync.lists.rules).
    lists: tuple[int | str, ...] | None = None

    def __post_init__(self) -> None:
        # The one guard no path can bypass: E.164 allows at most 15 digits, and anything else is not a phone.
        if not isinstance(self.phone, str) or not re.fullmatch(r"[0-9]{1,15}", self.phone):
            raise ValueError(f"phone must be 1 to {MAX_PHONE_DIGITS} digits (E.164, without '+')")

    def to_dict(self) -> dict[str, Any]:
        """The provided fields only, JSON-ready (the queue message form)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "custom":
                value = dict(value)
            elif f.name in ("tags", "lists"):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        """Rebuild a contact from `to_dict` output (trusted: it was validated before it was queued)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("tags", "lists"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def tag_names(self) -> list[str]:
        """The tags given by name (the sync side resolves them to ids before the contact is sent)."""
        return [tag for tag in self.tags or () if isinstance(tag, str)]

    def to_heymarket(self) -> dict[str, Any]:
        """The v2 contact body: phone both as the field and as a phone channel, nothing the source left out.

        `lists` is not a contact field and is left out. A tag still given by name (only a dead letter can hold one:
        the sync side resolves names before it sends a contact) is shown as `{"tag": name}`, the shape in which
        `POST /v1/tag` takes a name, never as a `tag_id`.
        """
        body = self.to_dict()
        body.pop("lists", None)
        if self.tags is not None:
            body["tags"] = [{"tag_id": tag} if isinstance(tag, int) else {"tag": tag} for tag in self.tags]
        body["contact_channels"] = [{"channel_type": "phone", "channel_id": self.phone}]
        return body

    def to_heymarket_v1(self) -> dict[str, Any]:
        """The legacy v1 batch body: the documented v1 fields only (see `fields_v1_cannot_send`)."""
        return {name: value for name, value in self.to_dict().items() if name in V1_FIELDS}

    def fields_v1_cannot_send(self) -> list[str]:
        """Data fields the v1 batch endpoint does not document; contact_id is left out (v1 matches by phone), and so
        are lists (written with the v2 lists endpoints in either mode)."""
        return [name for name in self.to_dict() if name not in V1_FIELDS and name not in ("contact_id", "lists")]

    def merged_with(self, later: Contact) -> Contact:
        """Field by field, a value from `later` wins; custom fields merge key by key. An opt-out is the exception: a
        later opt-in does not undo it (only the person opts back in: heymarket_bridge.domain.consent)."""
        values = self.to_dict()
        newer = later.to_dict()
        if "custom" in newer and "custom" in values:
            newer["custom"] = {**values["custom"], **newer["custom"]}
        if self.is_opted_out is True:
            newer.pop("is_opted_out", None)
        values.update(newer)
        return Contact.from_dict(values)


def _tags(raw: Any, errors: list[str]) -> tuple[int | str, ...] | None:
    return read_segments("tags", raw, errors, limit=MAX_TAGS, objects=("tag_id", "tag"))


def _lists(raw: Any, errors: list[str]) -> tuple[int | str, ...] | None:
    return read_segments("lists", raw, errors, limit=MAX_LISTS)


_OPTIONAL_FIELDS: tuple[tuple[str, Callable[[Any, list[str]], Any]], ...] = (
    ("first", lambda raw, errors: read_text("first", raw, errors)),
    ("last", lambda raw, errors: read_text("last", raw, errors)),
    ("display_name", lambda raw, errors: read_text("display_name", raw, errors)),
    ("email", read_email),
    ("avatar", read_avatar),
    ("custom", read_custom),
    ("tags", _tags),
    ("is_opted_out", lambda raw, errors: read_bool("is_opted_out", raw, errors)),
    ("assignee_id", lambda raw, errors: read_int("assignee_id", raw, errors)),
    ("contact_id", read_contact_id),
    ("lists", _lists),
)


def read_contact(raw: Any, default_country: str) -> tuple[Contact, list[DroppedField], list[str]]:
    """A contact from one source submission, the optional fields left out because their value is not valid, and
    warnings about values kept (a phone read as international, see `read_phone`).

    Only the phone decides whether there is a contact: raises InvalidContact when the submission is not an object
    or its phone is missing or not a number (naming the other problems too). An invalid optional field (an email, a
    tag) costs the contact nothing but that field, which is named in the returned list.
    """
    if not isinstance(raw, dict):
        raise InvalidContact(["contact must be a JSON object"])
    raw = {name: _one_value(name, value) for name, value in raw.items()}
    values: dict[str, Any] = {}
    dropped: list[DroppedField] = []
    for name, read in _OPTIONAL_FIELDS:
        errors: list[str] = []
        values[name] = read(raw.get(name), errors)
        dropped.extend(DroppedField(name, error) for error in errors)
    phone = raw.get("phone")
    if phone is None or (isinstance(phone, str) and not phone.strip()):
        raise InvalidContact(["phone is required", *(item.error for item in dropped)])
    # Imported here: reading a phone (its patterns, tables and phonenumbers) is the ingest side's; the sync function,
    # which only loads contacts the queue carries, never needs it (about 4 ms of its cold start on python3.13).
    from heymarket_bridge.domain.phone import read_phone

    try:
        reading = read_phone(phone, default_country, contact_evidence(raw))
    except ValueError as exc:
        raise InvalidContact([str(exc), *(item.error for item in dropped)]) from exc
    return Contact(phone=reading.digits, **values), dropped, [reading.warning] if reading.warning else []


def contact_evidence(raw: Mapping[str, Any]) -> list[CountryEvidence]:
    """What a submission says about its phone's country: the evidence its source found ("country_evidence"), and a
    `country` or `country_code` field (the generic source's, or a mapping's), both about the person."""
    from heymarket_bridge.domain.country import CountryEvidence, evidence_of

    given = [CountryEvidence(name, single(raw[name])) for name in COUNTRY_FIELDS if raw.get(name) is not None]
    return [*evidence_of(raw.get("country_evidence")), *given]


def _one_value(name: str, value: Any) -> Any:
    """A field's value with a one-item list read as its item, for every field that holds one value (tags and lists
    are lists already: `segment_items` reads a one-item list, and splits its item when it joins ids)."""
    if name in ("tags", "lists", "custom", "country_evidence"):
        return value
    return single(value)


def parse_contact(raw: Any, default_country: str) -> Contact:
    """Validate and normalise one contact strictly; raises InvalidContact naming every problem, phone or not."""
    contact, dropped, _ = read_contact(raw, default_country)
    if dropped:
        raise InvalidContact([item.error for item in dropped])
    return contact
