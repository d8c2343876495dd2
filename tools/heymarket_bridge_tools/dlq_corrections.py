"""Corrections of refusal letters (contacts the ingest function refused for their content) before a redrive: which
fields `--set` may correct, and the letter validated again as a delivery's contact would be."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from heymarket_bridge.domain.operations import DeadLetter

# Fields that say who a contact is: a `--set` of one corrects one refusal letter (name it with --message-id, or
# select exactly one), never several people at once.
IDENTITY_FIELDS: Final = frozenset({"phone", "contact_id", "email", "first", "last", "name", "display_name"})


# The fields a `--set` may correct: those the contact rules read (heymarket_bridge.domain.contact.read_contact), and the
# phone's country. Any other name would be carried into the letter's fields and silently ignored by validation.
CORRECTABLE_FIELDS: Final = (
    *("phone", "first", "last", "display_name", "email", "avatar", "tags", "lists", "is_opted_out"),
    *("assignee_id", "contact_id", "country", "country_code"),
)


def parse_sets(options: Sequence[str]) -> dict[str, str]:
    """`--set field=value` options as the fields they set (`custom.<id>=value` one custom value); the values stay
    text, as a sender sends them: validation reads them. ValueError names an option without `=` or a field, or a
    field that is not one of CORRECTABLE_FIELDS (listing them)."""
    sets: dict[str, str] = {}
    for option in options:
        name, separator, value = option.partition("=")
        if not separator or not name.strip():
            raise ValueError(f"--set {option!r}: expected FIELD=VALUE, e.g. --set phone=+15105550123")
        name = name.strip()
        custom_id = name.split(".", 1)[1].strip() if name.startswith("custom.") else None
        if name not in CORRECTABLE_FIELDS and not custom_id:
            accepted = ", ".join((*CORRECTABLE_FIELDS, "custom.<id>"))
            raise ValueError(
                f"--set {name!r}: not a field a correction can set (names are lower case); use one of {accepted}"
            )
        if name == "is_opted_out" and not _reads_true(value):
            raise ValueError(
                f"--set is_opted_out={value!r}: a correction may only set is_opted_out=true; an opt-out from a "
                "source always applies and only the person opts back in (by texting START to Heymarket)"
            )
        sets[name] = value
    return sets


def _reads_true(value: Any) -> bool:
    """Whether an is_opted_out value reads as an opt-out, as the contact rules read it
    (heymarket_bridge.domain.contact)."""
    from heymarket_bridge.domain.fields import _TRUE

    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool | int | float):
        return value is True or (not isinstance(value, bool) and value == 1)
    return isinstance(value, str) and value.strip().lower() in _TRUE


def opt_in_by_correction(original: Mapping[str, Any] | None, corrected: Mapping[str, Any]) -> str:
    """Why a corrected refusal letter would drop a person's opt-out ("" when it would not): its `is_opted_out` as
    corrected must read true whenever the letter's fields as received held one that did, and may never be an
    explicit opt-in (false) the letter did not hold as received. A correction fixes what a sender got wrong;
    consent is the person's (README "Consent")."""
    held = (original or {}).get("is_opted_out")
    value = corrected.get("is_opted_out")
    if _reads_true(held) and not _reads_true(value):
        return "the letter holds an opt-out (is_opted_out true): a correction cannot remove it"
    blank = value is None or (isinstance(value, str) and not value.strip())
    if value != held and not blank and not _reads_true(value):
        return "a correction cannot set is_opted_out to false: only the person opts back in"
    return ""


def corrected_fields(letter: DeadLetter, sets: Mapping[str, str]) -> dict[str, Any]:
    """A refusal letter's fields as received, with the operator's corrections."""
    fields = dict(letter.fields or {})
    for name, value in sets.items():
        if name.startswith("custom."):
            held = fields.get("custom")
            fields["custom"] = {**(held if isinstance(held, Mapping) else {}), name.split(".", 1)[1]: value}
        else:
            fields[name] = value
    return fields


def revalidated(letter: DeadLetter, sets: Mapping[str, str], *, force: bool = False) -> str:
    """The queue message of a refusal letter once corrected: its fields validated again exactly as a delivery's
    contact is (heymarket_bridge.domain.contact.read_contact, in the region the ingest function read it in), as an
    upsert
    from its source (so that the source's consent rules apply to it as to any of its contacts). Raises InvalidContact
    (the reasons) when it is still not a contact, ValueError when the correction would drop the person's opt-out
    (opt_in_by_correction). The operation carries no consent claim: a correction is never re-consent."""
    from heymarket_bridge.domain.contact import read_contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation

    fields = corrected_fields(letter, sets)
    refused = opt_in_by_correction(letter.fields, fields)
    if refused:
        raise ValueError(refused)
    contact, _dropped, _warnings = read_contact(fields, letter.region or "US")
    operation = ContactOperation(
        Operation.UPSERT,
        contact,
        letter.source or "generic",
        letter.received_at or letter.failed_at,
        letter.correlation_id,
        operation_id=letter.operation_id or str(uuid.uuid4()),
        force=force,
    )
    return operation.to_json()
