"""Field mappings: where a source's submissions hold the contact fields, for when the defaults are not right.

The SSM parameter named by SOURCE_MAPPINGS_PARAMETER (template parameter SourceMappings) holds one JSON object
keyed by source name, for example:

    {"typeform": {"phone": "mobile", "email": ["work_email", "email"], "name": "full_name",
                  "custom": {"101": "campus"},
                  "constants": {"tags": ["Typeform lead"], "lists": ["Spring open house"]}}}

- A contact field ("phone", "first", "last", "display_name", "email", "avatar", "is_opted_out",
  "assignee_id", "contact_id", "tags", "lists"), "name" (a full name, split into first and last on its last
  space) or "country" / "country_code" (the phone's country: it replaces the source's own country evidence,
  heymarket_bridge.domain.phone.read_phone) takes a reference, or a list of references tried in order. A value that
  is a one-item list is its item (Google Forms' `e.namedValues`). What a reference means is up to the source:
  a Typeform field ref, a Jotform field name, a dotted path into a generic JSON body... (see each source module).
- "custom" maps a Heymarket custom-field ID to a reference.
- "constants" are values that every contact from the source gets unless the submission provides that field
  ("custom" merges key by key; "lists" are ADDED to the submission's lists): a tag per source, an assignee, the
  lists every contact of the source goes on. Tags and lists may be given by id or by name.

A mapped field replaces the source's default for that field: when its references are all absent from a
submission the field is left out (and a missing phone rejects that submission) instead of falling back to a
guess that could text the wrong number. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.contact import contact_evidence, parse_contact
from heymarket_bridge.domain.failures import InvalidContact
from heymarket_bridge.domain.fields import segment_items, single
from heymarket_bridge.domain.records import record

if TYPE_CHECKING:
    from heymarket_bridge.domain.country import CountryEvidence

MAPPED_FIELDS = frozenset(
    (
        *("phone", "first", "last", "name", "display_name", "email", "avatar"),
        *("is_opted_out", "assignee_id", "contact_id", "tags", "lists", "country", "country_code"),
    )
)
CONSTANT_FIELDS = frozenset(
    {"first", "last", "display_name", "email", "avatar", "custom", "tags", "lists", "is_opted_out", "assignee_id"}
)
# Constants merged into what the submission gives rather than replaced by it.
_MERGED_CONSTANTS = frozenset({"custom", "lists"})
# A number that is valid everywhere, used only to check constants through the contact rules at start-up.
_PROBE_PHONE = "+14155552671"

Lookup = Callable[[str], Any]
"""A source's reader of one submission: the value a reference names, or None when the submission lacks it."""
PhoneTest = Callable[[Any, Sequence["CountryEvidence"]], bool]
"""Whether a value reads as a phone number with the given country evidence
(heymarket_bridge.domain.phone.read_phone)."""
EvidenceOf = Callable[[str], Sequence["CountryEvidence"]]
"""A source's evidence about the country of the number a reference holds (heymarket_bridge.domain.country)."""


@record
class Unmappable:
    """A submission that cannot become a contact, with the reasons the sender is told (in the reply's "rejected"),
    and what the source read of it (`fields`, in generic field names: the names, email and country evidence): its
    refusal letter keeps them, so that an operator's `dlq redrive --set phone=...` sends the whole person, its phone
    read with the payload's country."""

    errors: tuple[str, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    # False: nothing an operator could fix (a vendor record that simply has no phone): told in the reply's "rejected"
    # and counted in the logs, but no refusal letter (a letter per phone-less customer would be the DLQ's noise).
    letter: bool = True


Submission = Mapping[str, Any] | Unmappable
"""What a source extracts from a delivery: one contact in generic field names, or why there is none."""


def is_blank(value: Any) -> bool:
    """None, an empty or all-space string, an empty list or object: a value the submission did not give."""
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return value is None


def split_name(full: Any) -> tuple[str | None, str | None]:
    """'Ada King Lovelace' -> ('Ada King', 'Lovelace'); one word is a first name."""
    full = single(full)
    if not isinstance(full, str):
        return None, None
    words = full.split()
    if not words:
        return None, None
    if len(words) == 1:
        return words[0], None
    return " ".join(words[:-1]), words[-1]


@record
class SourceMapping:
    """One source's overrides; the empty mapping keeps every default."""

    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    custom: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    constants: Mapping[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.fields or self.custom or self.constants)

    def overrides(self, name: str) -> bool:
        """True when this mapping decides the field `name` (so the source's default must not be used). A mapped
        `country` or `country_code` decides the phone's country: the source's own evidence is not used."""
        if name == "country_evidence":
            return "country" in self.fields or "country_code" in self.fields
        return name in self.fields or (name in ("first", "last") and "name" in self.fields)

    def apply(
        self,
        defaults: Mapping[str, Any],
        lookup: Lookup,
        is_phone: PhoneTest | None = None,
        phone_evidence: EvidenceOf | None = None,
    ) -> dict[str, Any]:
        """The submission's contact: constants, then the source's defaults, then the mapped references.

        `is_phone` tells a value that reads as a phone number with the submission's country evidence (the source's,
        or the mapped `country` / `country_code`): among a mapped phone's references, the first whose value reads
        wins over an earlier one that does not (an answer "Yes" is never taken for the number). `phone_evidence`
        gives, for a reference, what the source's payload says about the country of THAT field's number (a Jotform
        Phone widget's Country Code sub-field, HubSpot's calculated international form of that property): a mapped
        phone keeps it in "country_evidence". A one-item list is its item (heymarket_bridge.domain.fields.single).
        """
        values = self._defaults_kept(defaults)
        if "name" in self.fields:
            first, last = split_name(first_present(lookup, self.fields["name"]))
            values.update({k: v for k, v in (("first", first), ("last", last)) if v is not None})
        for name, refs in sorted(self.fields.items(), key=lambda item: item[0] == "phone"):
            if name in ("name", "lists"):
                continue
            if name == "phone":
                self._apply_phone(values, refs, lookup, is_phone, phone_evidence)
                continue
            value = first_present(lookup, refs)
            if not is_blank(value):
                values[name] = value
        return self._with_constants(values, defaults, lookup)

    def _defaults_kept(self, defaults: Mapping[str, Any]) -> dict[str, Any]:
        """The source's defaults this mapping does not decide (given, and not merged with constants)."""
        values: dict[str, Any] = {}
        for name, value in defaults.items():
            if name not in _MERGED_CONSTANTS and not is_blank(value) and not self.overrides(name):
                values[name] = value
        if "phone" in self.fields and isinstance(values.get("country_evidence"), list):
            # What the source said about the number it would have chosen is not about the mapped one.
            person = [
                item for item in values["country_evidence"] if not (isinstance(item, dict) and item.get("of_number"))
            ]
            values["country_evidence"] = person
        return values

    def _with_constants(self, values: dict[str, Any], defaults: Mapping[str, Any], lookup: Lookup) -> dict[str, Any]:
        """The contact: the constants, overridden by `values`, with custom fields and lists merged."""
        contact = {k: v for k, v in self.constants.items() if k not in _MERGED_CONSTANTS}
        contact.update(values)
        custom = _merge_custom(self.constants.get("custom"), defaults.get("custom"), self._mapped_custom(lookup))
        if custom is not None:
            contact["custom"] = custom
        given = first_present(lookup, self.fields["lists"]) if "lists" in self.fields else defaults.get("lists")
        lists = _merge_lists(given, self.constants.get("lists"))
        if lists is not None:
            contact["lists"] = lists
        return contact

    @staticmethod
    def _apply_phone(
        values: dict[str, Any],
        refs: tuple[str, ...],
        lookup: Lookup,
        is_phone: PhoneTest | None,
        phone_evidence: EvidenceOf | None,
    ) -> None:
        """Set the mapped phone in `values` (the first reference whose value reads as a phone with its evidence, else
        the first given), with the evidence about that field's own number added to "country_evidence"."""
        person = contact_evidence(values)
        present = [(ref, value) for ref, value in ((ref, single(lookup(ref))) for ref in refs) if not is_blank(value)]
        if not present:
            return
        own = {ref: tuple(phone_evidence(ref)) if phone_evidence is not None else () for ref, _ in present}
        chosen = present[0]
        if is_phone is not None:
            chosen = next((item for item in present if is_phone(item[1], (*own[item[0]], *person))), chosen)
        values["phone"] = chosen[1]
        if own[chosen[0]]:
            given = values.get("country_evidence")
            kept: list[Any] = given if isinstance(given, list) else []
            values["country_evidence"] = [*(item.to_dict() for item in own[chosen[0]]), *kept]

    def _mapped_custom(self, lookup: Lookup) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field_id, refs in self.custom.items():
            value = first_present(lookup, refs)
            if not is_blank(value):
                out[field_id] = value
        return out

    @classmethod
    def from_json(cls, doc: Any) -> SourceMapping:
        """Read one source's entry of the mappings; raises ValueError naming what is wrong."""
        if not isinstance(doc, dict):
            raise ValueError("must be an object of field name to reference")
        fields: dict[str, tuple[str, ...]] = {}
        custom: dict[str, tuple[str, ...]] = {}
        constants: dict[str, Any] = {}
        for key, value in doc.items():
            if key == "custom":
                if not isinstance(value, dict):
                    raise ValueError('"custom" must be an object of custom-field id to reference')
                custom = {str(k): _refs(f"custom.{k}", v) for k, v in value.items()}
            elif key == "constants":
                constants = _constants(value)
            elif key in MAPPED_FIELDS:
                fields[key] = _refs(key, value)
            else:
                raise ValueError(f"unknown key {key!r}; use {sorted(MAPPED_FIELDS | {'custom', 'constants'})}")
        return cls(fields, custom, constants)


def parse_mappings(raw: str, known_sources: frozenset[str]) -> dict[str, SourceMapping]:
    """Read the mappings JSON; raises ValueError naming the source and key that are wrong."""
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from exc
    if not isinstance(doc, dict):
        raise ValueError("must be a JSON object of source name to mapping")
    mappings: dict[str, SourceMapping] = {}
    for source, entry in doc.items():
        name = str(source).strip().lower()
        if name not in known_sources:
            raise ValueError(f"unknown source {source!r}; known sources are {sorted(known_sources)}")
        try:
            mappings[name] = SourceMapping.from_json(entry)
        except ValueError as exc:
            raise ValueError(f"mapping for {name!r}: {exc}") from exc
    return mappings


def first_present(lookup: Lookup, refs: tuple[str, ...], preferred: Callable[[Any], bool] | None = None) -> Any:
    """The first reference's value that is not blank; with `preferred`, the first that also satisfies it, if any."""
    present = [value for value in (single(lookup(ref)) for ref in refs) if not is_blank(value)]
    if preferred is not None:
        return next((value for value in present if preferred(value)), present[0] if present else None)
    return present[0] if present else None


def first_phone(candidates: Any, is_phone: Callable[[Any], bool]) -> Any:
    """Among candidate values in order of preference, the first that parses as a phone; None when none does."""
    return next((value for value in candidates if not is_blank(value) and is_phone(value)), None)


def dotted(data: Any, path: str) -> Any:
    """The value at a dotted path ('data.contact.phone', 'rows.0.mobile'); a literal key wins over a path."""
    if isinstance(data, dict) and path in data:
        return data[path]
    current = data
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def _refs(name: str, value: Any) -> tuple[str, ...]:
    refs = [value] if isinstance(value, str) else value
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        raise ValueError(f'"{name}" must be a reference or a non-empty list of references')
    return tuple(r.strip() for r in refs)


def _constants(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError('"constants" must be an object of contact field to value')
    unknown = set(value) - CONSTANT_FIELDS
    if unknown:
        raise ValueError(f"constants cannot set {sorted(unknown)}; allowed: {sorted(CONSTANT_FIELDS)}")
    try:
        parse_contact({**value, "phone": _PROBE_PHONE}, "US")
    except InvalidContact as exc:
        raise ValueError(f"constants are not valid contact values: {exc}") from exc
    return dict(value)


def _merge_lists(*parts: Any) -> Any:
    """The submission's lists, then the source's constant lists: one list of items (the contact rules split joined
    text and drop repeats). A value that is neither text, a number nor a list is left as it came, to be named."""
    present = [part for part in parts if not is_blank(part)]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    merged: list[Any] = []
    for part in present:
        items = segment_items(part)
        if items is None:
            return part
        merged.extend(items)
    return merged


def _merge_custom(*parts: Any) -> Any:
    present = [part for part in parts if part]
    if not present:
        return None
    if not all(isinstance(part, Mapping) for part in present):
        # Leave a malformed value as it came so that the contact rules name it.
        return next(part for part in present if not isinstance(part, Mapping))
    merged: dict[str, Any] = {}
    for part in present:
        merged.update(part)
    return merged
