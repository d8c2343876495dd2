"""The contact model: validation, normalisation and the Heymarket wire form. Pure: no I/O."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

MAX_TAGS = 5
MAX_TEXT = 255
MAX_CUSTOM_FIELDS = 100
# The fields Heymarket documents for the legacy POST /v1/batch/contacts (the phone matches existing contacts).
V1_FIELDS = ("phone", "first", "last", "display_name", "email", "is_opted_out")
_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# What SQS (and XML) can carry: tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000 and above.
# Anything else (control characters, lone surrogates from JSON escapes, U+FFFE/U+FFFF) would make the queue
# refuse the message on every retry, or botocore fail to encode it: such text is refused here, by name.
_UNSENDABLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_TRUE = {"true", "yes", "1", "y", "on"}
_FALSE = {"false", "no", "0", "n", "off"}


class InvalidContact(ValueError):
    """A contact that cannot be sent; `errors` names every problem found, one sentence each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Contact:
    """A validated contact. `None` means "the source did not provide it" and is never sent."""

    phone: str
    first: str | None = None
    last: str | None = None
    display_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    custom: Mapping[str, str] | None = None
    tags: tuple[int, ...] | None = None
    is_opted_out: bool | None = None
    assignee_id: int | None = None
    contact_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The provided fields only, JSON-ready (the queue message form)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "custom":
                value = dict(value)
            elif f.name == "tags":
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        """Rebuild a contact from `to_dict` output (trusted: it was validated before it was queued)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "tags" in values:
            values["tags"] = tuple(values["tags"])
        return cls(**values)

    def to_heymarket(self) -> dict[str, Any]:
        """The v2 contact body: phone both as the field and as a phone channel, nothing the source left out."""
        body = self.to_dict()
        if self.tags is not None:
            body["tags"] = [{"tag_id": tag} for tag in self.tags]
        body["contact_channels"] = [{"channel_type": "phone", "channel_id": self.phone}]
        return body

    def to_heymarket_v1(self) -> dict[str, Any]:
        """The legacy v1 batch body: the documented v1 fields only (see `fields_v1_cannot_send`)."""
        return {name: value for name, value in self.to_dict().items() if name in V1_FIELDS}

    def fields_v1_cannot_send(self) -> list[str]:
        """Data fields the v1 batch endpoint does not document; contact_id is left out: v1 matches by phone."""
        return [name for name in self.to_dict() if name not in V1_FIELDS and name != "contact_id"]

    def merged_with(self, later: Contact) -> Contact:
        """Field by field, a value from `later` wins; custom fields merge key by key."""
        values = self.to_dict()
        newer = later.to_dict()
        if "custom" in newer and "custom" in values:
            newer["custom"] = {**values["custom"], **newer["custom"]}
        values.update(newer)
        return Contact.from_dict(values)


def normalise_phone(raw: Any, default_country: str) -> str:
    """E.164 digits without '+', e.g. '(510) 555-1234' -> '15105551234'. Raises ValueError."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError("phone must be a string")
    text = str(raw).strip()
    if not text:
        raise ValueError("phone is empty")
    if len(text) > 40:
        raise ValueError("phone is too long")
    if text.startswith("00"):
        text = "+" + text[2:]
    # Imported here so that the sync function, which never parses a phone, does not load it at its cold start;
    # the ingest function loads it at init (its sources import it).
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone is not a valid number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def _text(name: str, raw: Any, errors: list[str]) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        errors.append(f"{name} must be a string")
        return None
    text = raw.strip()
    if len(text) > MAX_TEXT:
        errors.append(f"{name} is longer than {MAX_TEXT} characters")
        return None
    if (problem := _unsendable(text)) is not None:
        errors.append(f"{name} {problem}")
        return None
    return text or None


def _unsendable(text: str) -> str | None:
    """Why `text` cannot be queued, or None when it can."""
    found = _UNSENDABLE.search(text)
    return None if found is None else f"contains a character that cannot be sent (U+{ord(found.group()):04X})"


def _email(raw: Any, errors: list[str]) -> str | None:
    text = _text("email", raw, errors)
    if text is not None and not _EMAIL.match(text):
        errors.append("email is not a valid address")
        return None
    return text


def _int(name: str, raw: Any, errors: list[str]) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        errors.append(f"{name} must be an integer")
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}", raw.strip()):
        return int(raw.strip())
    errors.append(f"{name} must be an integer")
    return None


def _bool(name: str, raw: Any, errors: list[str]) -> bool | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    errors.append(f"{name} must be true or false")
    return None


def _tags(raw: Any, errors: list[str]) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        errors.append("tags must be a list of tag ids")
        return None
    tags: list[int] = []
    for item in raw:
        value = item.get("tag_id") if isinstance(item, dict) else item
        tag = _int("tags", value, [])
        if tag is None or tag <= 0:
            errors.append("tags must be a list of positive tag ids")
            return None
        if tag not in tags:
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        errors.append(f"tags has {len(tags)} ids; Heymarket allows at most {MAX_TAGS}")
        return None
    return tuple(tags)


def _custom(raw: Any, errors: list[str]) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append("custom must be an object of custom-field id (or title) to value")
        return None
    if len(raw) > MAX_CUSTOM_FIELDS:
        errors.append(f"custom has more than {MAX_CUSTOM_FIELDS} fields")
        return None
    custom: dict[str, str] = {}
    for key, value in raw.items():
        if value is None or value == "":
            continue
        if isinstance(value, dict | list):
            errors.append(f"custom field {str(key)[:40]!r} must be a text, number or boolean")
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if len(text) > 4096:
            errors.append(f"custom field {str(key)[:40]!r} is longer than 4096 characters")
            continue
        if (problem := _unsendable(str(key)) or _unsendable(text)) is not None:
            errors.append(f"custom field {str(key)[:40]!a} {problem}")
            continue
        custom[str(key)] = text
    return custom or None


def _contact_id(raw: Any, errors: list[str]) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        errors.append("contact_id must be a UUID")
        return None


def _avatar(raw: Any, errors: list[str]) -> str | None:
    text = _text("avatar", raw, errors)
    if text is not None and not re.match(r"^https?://\S+$", text):
        errors.append("avatar must be an http(s) URL")
        return None
    return text


def parse_contact(raw: Any, default_country: str) -> Contact:
    """Validate and normalise one source contact; raises InvalidContact naming every problem."""
    if not isinstance(raw, dict):
        raise InvalidContact(["contact must be a JSON object"])
    errors: list[str] = []
    phone: str | None = None
    if raw.get("phone") in (None, ""):
        errors.append("phone is required")
    else:
        try:
            phone = normalise_phone(raw["phone"], default_country)
        except ValueError as exc:
            errors.append(str(exc))
    contact_values: dict[str, Any] = {
        "first": _text("first", raw.get("first"), errors),
        "last": _text("last", raw.get("last"), errors),
        "display_name": _text("display_name", raw.get("display_name"), errors),
        "email": _email(raw.get("email"), errors),
        "avatar": _avatar(raw.get("avatar"), errors),
        "custom": _custom(raw.get("custom"), errors),
        "tags": _tags(raw.get("tags"), errors),
        "is_opted_out": _bool("is_opted_out", raw.get("is_opted_out"), errors),
        "assignee_id": _int("assignee_id", raw.get("assignee_id"), errors),
        "contact_id": _contact_id(raw.get("contact_id"), errors),
    }
    if errors or phone is None:
        raise InvalidContact(errors)
    return Contact(phone=phone, **contact_values)
