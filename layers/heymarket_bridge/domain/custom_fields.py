"""Custom fields named by title: which keys are titles, and how a team's field list turns them into ids. Pure.

Heymarket's writes take custom values keyed by custom-field ID; a value keyed by the field's TITLE is reported
to be dropped without an error. Senders often only know the title (it is what a form or a CRM shows), so the
bridge accepts either and maps titles to ids with the list from `POST /v1/contact-fields`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from heymarket_bridge.domain.records import record


def is_title(key: str) -> bool:
    """A key that is not all digits names a custom field by its title."""
    return not key.isdigit()


def titles_in(custom: Mapping[str, str] | None) -> list[str]:
    return [key for key in custom or {} if is_title(key)]


@record
class CustomField:
    """A custom field of the team, as `POST /v1/contact-fields` lists it: its `id` and `title`."""

    id: str
    title: str


def parse_contact_fields(data: Any) -> list[CustomField]:
    """The fields in an answer of `POST /v1/contact-fields`, whose shape Heymarket does not document.

    Accepts a list of field objects, or an object holding that list under a usual name; each field needs an id
    and a title (or name). Anything else is skipped: a title that cannot be found is reported where it is used.
    """
    items: Any = data
    if isinstance(data, Mapping):
        for name in ("contact_fields", "fields", "custom_fields", "data"):
            if isinstance(data.get(name), list):
                items = data[name]
                break
    if not isinstance(items, list):
        return []
    fields: list[CustomField] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        field_id, title = item.get("id"), item.get("title", item.get("name"))
        if isinstance(field_id, bool) or not isinstance(field_id, int | str) or not isinstance(title, str):
            continue
        if str(field_id).strip() and title.strip():
            fields.append(CustomField(str(field_id).strip(), title))
    return fields


class CustomFieldIndex:
    """Custom-field ids by title: an exact title first, else one that differs only in case and outer spaces."""

    def __init__(self, fields: Iterable[CustomField]) -> None:
        self._exact: dict[str, str] = {}
        folded: dict[str, set[str]] = {}
        for field in fields:
            self._exact.setdefault(field.title, field.id)
            folded.setdefault(_fold(field.title), set()).add(field.id)
        # A folded title shared by two fields is ambiguous: only its exact spellings resolve.
        self._folded = {title: next(iter(ids)) for title, ids in folded.items() if len(ids) == 1}

    def __len__(self) -> int:
        return len(self._exact)

    def lookup(self, title: str) -> str | None:
        return self._exact.get(title) or self._folded.get(_fold(title))

    def unknown(self, custom: Mapping[str, str] | None) -> list[str]:
        """The titles in `custom` that name no field."""
        return [key for key in titles_in(custom) if self.lookup(key) is None]

    def resolve(self, custom: Mapping[str, str]) -> dict[str, str]:
        """`custom` keyed by ids only; call `unknown` first: an unknown title raises KeyError."""
        resolved: dict[str, str] = {}
        for key, value in custom.items():
            if not is_title(key):
                resolved[key] = value
                continue
            field_id = self.lookup(key)
            if field_id is None:
                raise KeyError(key)
            resolved[field_id] = value
        return resolved


def _fold(title: str) -> str:
    return " ".join(title.split()).casefold()
