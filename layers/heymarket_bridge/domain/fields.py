"""Readers of a contact's optional fields as senders write them: text, email, avatar URL, integers, booleans, custom
fields, a contact id, tags and lists. Each reader takes the raw value and a list it appends its one-sentence
problems to, and returns the normalised value or None (absent, or not valid). Pure."""

from __future__ import annotations

import itertools
import math
import re
import uuid
from typing import Any

from heymarket_bridge.domain.text import fold_name, shown, without_format_characters

MAX_TEXT = 255


MAX_CUSTOM_FIELDS = 100


# The most tag or list items one field may hold, repeats and blanks left out: more is refused whole, before any item
# is read (each costs a normalisation: a megabyte of "a,a,a" was 500,000 of them, 1.5 s of CPU).
MAX_SEGMENT_ITEMS = 100


# The longest text read as a name or a phone before its invisible characters and spaces are removed: longer is
# refused as it comes, so that normalising costs at most this much whatever a sender sends.
MAX_RAW_TEXT = 4 * MAX_TEXT


# An address as RFC 6531/6532 allow it (internationalised: any Unicode letter or digit in both parts), without the
# quoted or commented forms no sender uses: a local part without spaces, "@", and a domain of dot-separated labels
# of letters, digits and inner hyphens (IDNA labels included, as Unicode or as xn--).
_EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\\\]]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_](?:[\w-]{0,61}[^\W_])?$")


# What SQS (and XML) can carry: tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000 and above.
# Anything else (control characters, lone surrogates from JSON escapes, U+FFFE/U+FFFF) would make the queue
# refuse the message on every retry, or botocore fail to encode it: such text is refused here, by name.
# Written as the characters refused (the complement of those, up to U+10FFFF), not as a negated class of the ones
# allowed: the same matches, but the negated class over a million code points took ~4 ms to compile at every cold
# start of every function; this one takes ~0.1 ms.
_UNSENDABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# Booleans as senders write them: JSON, spreadsheets (1/0, TRUE), forms ("on" for a ticked checkbox), people.
_TRUE = {"true", "yes", "1", "y", "on", "t", "checked", "1.0"}


_FALSE = {"false", "no", "0", "n", "off", "f", "unchecked", "0.0"}


# A list joined into one string by the sender (Zapier joins line items with commas).
_LIST_SEPARATORS = re.compile(r"[,;|]")


_SEPARATED = re.compile(r"[^,;|]+")


# Text that is a number: a tag or list given this way is an id (a positive integer), never a name.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def single(value: Any) -> Any:
    """A one-item list as its item (Google Forms' Apps Script `e.namedValues` sends every answer as one), else the
    value as given: for every field that holds one value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _number_text(raw: Any) -> str | None:
    """An int, or a float holding an int, as its digits; None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return None


def read_text(name: str, raw: Any, errors: list[str]) -> str | None:
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else _number_text(raw)
    if text is None:
        errors.append(f"{name} must be text")
        return None
    text = text.strip()
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


def read_email(raw: Any, errors: list[str]) -> str | None:
    text = read_text("email", raw, errors)
    if text is None:
        return None
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    if len(text) > 254 or not _EMAIL.match(text):
        errors.append("email is not a valid address")
        return None
    return text


def read_int(name: str, raw: Any, errors: list[str]) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, list) and len(raw) == 1:  # a single choice, as forms send it
        raw = raw[0]
    if isinstance(raw, bool):
        errors.append(f"{name} must be an integer")
        return None
    if isinstance(raw, int) and abs(raw) < 10**18:
        return raw
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer() and abs(raw) < 10**18:
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}(?:\.0+)?", raw.strip()):
        return int(raw.strip().split(".", 1)[0])
    errors.append(f"{name} must be an integer")
    return None


def read_bool(name: str, raw: Any, errors: list[str]) -> bool | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, list) and len(raw) == 1:  # a ticked checkbox, as forms send it
        raw = raw[0]
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    errors.append(f"{name} must be true or false")
    return None


def segment_items(raw: Any) -> list[Any] | None:
    """The tags or lists a sender meant: a list, one id or name, or several joined in one string ("3,7", "VIP; Gold").

    An item of a list of two or more is split only when it joins ids ("3,7"): a name inside such a JSON array may
    hold a comma. A one-item list is its item (Apps Script's `e.namedValues` sends every answer as one), split as a
    single string is.
    Reading stops past MAX_SEGMENT_ITEMS items (the field is then refused): the list returned is then longer.
    """
    raw = single(raw) if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str) else raw
    if isinstance(raw, str):
        return _joined_items(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return [raw]
    if not isinstance(raw, list):
        return None
    items: list[Any] = []
    for item in raw:
        if len(items) > MAX_SEGMENT_ITEMS:
            break
        parts = _joined_items(item) if isinstance(item, str) else []
        if len(parts) > 1 and all(_NUMBER.fullmatch(part.strip()) for part in parts):
            items.extend(parts)
        else:
            items.append(item)
    return items


def _joined_items(text: str) -> list[str]:
    """The items of a text joined with separators, blanks left out, at most MAX_SEGMENT_ITEMS + 1 of them."""
    items = (match.group() for match in _SEPARATED.finditer(text) if not match.group().isspace())
    return list(itertools.islice(items, MAX_SEGMENT_ITEMS + 1))


def _segment(what: str, value: Any) -> int | str | None:
    """One tag or list as given: a positive id (an integer, or text that is a number), or a name (any other text)."""
    if isinstance(value, str):
        # A BOM from a spreadsheet export ("\ufeffVIP"), a zero-width space: invisible, so not part of the name.
        value = without_format_characters(value, keep_joiners=True)
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        name = value.strip()
        if not fold_name(name) or len(name) > MAX_TEXT or _unsendable(name) is not None:
            return None
        return name
    number = read_int(what, value, [])
    return number if number is not None and number > 0 else None


def read_segments(
    name: str, raw: Any, errors: list[str], *, limit: int, objects: tuple[str, str] | None = None
) -> tuple[int | str, ...] | None:
    """Ids and names, each once (a name once whatever its case and spacing), at most `limit` of them.

    `objects` names the keys of an object item's id and name (`{"tag_id": 3}`, `{"tag": "VIP"}`).
    """
    if raw is None:
        return None
    items = segment_items(raw)
    if items is None:
        errors.append(f"{name} must be a list of {name[:-1]} ids or names")
        return None
    if len(items) > MAX_SEGMENT_ITEMS:
        errors.append(f"{name} holds more than {MAX_SEGMENT_ITEMS} items")
        return None
    found: dict[Any, int | str] = {}
    for item in items:
        value = item
        if isinstance(item, dict) and objects is not None:
            value = item.get(objects[0], item.get(objects[1]))
        if isinstance(value, str) and len(value) > MAX_RAW_TEXT:
            errors.append(f"{name} must be {name[:-1]} ids or names of at most {MAX_TEXT} characters")
            continue
        segment = None if isinstance(value, dict | list) else _segment(name, value)
        if segment is None:
            errors.append(f"{name} must be positive {name[:-1]} ids or names, not {shown(value)}")
            continue
        found.setdefault(fold_name(segment) if isinstance(segment, str) else segment, segment)
    if len(found) > limit:
        errors.append(f"{name} has {len(found)} {name}; {_limit_reason(name, limit)}")
        return None
    return tuple(found.values()) or None


def _limit_reason(name: str, limit: int) -> str:
    if name == "tags":
        return f"Heymarket allows at most {limit}"
    return f"the bridge puts a contact on at most {limit} per message"


def read_custom(raw: Any, errors: list[str]) -> dict[str, str] | None:
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
        text = _custom_value(str(key), single(value), errors)
        if text is not None:
            custom[str(key)] = text
    return custom or None


def _custom_value(key: str, value: Any, errors: list[str]) -> str | None:
    """One custom field's value as text; None when it is empty or refused (the reason appended to `errors`)."""
    if len(key) > MAX_TEXT:  # refused before it is quoted, searched or normalised anywhere
        errors.append(f"custom has a field id or title longer than {MAX_TEXT} characters")
        return None
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        errors.append(f"custom field {shown(key)} must be a text, number or boolean")
        return None
    text = ("true" if value else "false") if isinstance(value, bool) else (_number_text(value) or str(value))
    if len(text) > 4096:
        errors.append(f"custom field {shown(key)} is longer than 4096 characters")
        return None
    if (problem := _unsendable(key) or _unsendable(text)) is not None:
        errors.append(f"custom field {shown(key)} {problem}")
        return None
    return text


def read_contact_id(raw: Any, errors: list[str]) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return str(uuid.UUID(str(raw).strip()))
    except ValueError:
        errors.append("contact_id must be a UUID")
        return None


def read_avatar(raw: Any, errors: list[str]) -> str | None:
    text = read_text("avatar", raw, errors)
    if text is not None and not re.match(r"^https?://\S+$", text):
        errors.append("avatar must be an http(s) URL")
        return None
    return text
