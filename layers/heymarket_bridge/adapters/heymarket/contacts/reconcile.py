"""What an answer to a bulk write says: pure, no I/O.

Which contact each stored or failed item of a `POST /v2/contacts` answer is (`match_answer`), what an update of a
known contact cleared (`what_cleared`: Heymarket does not document whether an update keeps the fields it leaves out,
nor whether a custom map sent replaces or merges; shared/HEYMARKET_API.md), the write that puts back what a write
meant for another phone changed (`undo_write`), and how a result reads once settled.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from heymarket_bridge.adapters.heymarket.answers import BulkAnswer, HeardContact
from heymarket_bridge.adapters.heymarket.contacts.writes import (
    BulkWrite,
    Learned,
    phone_of,
    same_contact,
    shown_values,
    without_phone,
)
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import GatewayFailure, TransientFailure
from heymarket_bridge.domain.records import record
from heymarket_bridge.sync.model import NotDone, Stored, UpsertResult


@record
class Cleared:
    """What an update of a known contact cleared: the values to write back, and what it shows of Heymarket's ways."""

    restore: dict[str, Any]
    omitted: str | None  # "keep" or "clear", when the answer shows it
    custom_map: str | None  # "merge" or "replace", when the answer shows it
    # An opt-out the snapshot held, left out of the update, that the answer no longer shows, with no field left out
    # shown kept: written back (in `restore`)
    opt_out_gone: bool = False


def what_cleared(sent: Contact, snapshot: Contact, shown: Contact) -> Cleared:
    """Compare the answer to an update (`shown`) with the contact as last stored (`snapshot`), for what `sent` left
    out: a field the snapshot held that the answer no longer shows was cleared by the update.

    An opt-out the answer no longer shows is written back where the answer shows the update cleared what it left out,
    or shows nothing that could tell (no other field left out held a value: opt-out wins on doubt); where the other
    fields left out were kept, a cleared opt-out is a change made in Heymarket (the person texted START), not the
    update's doing.
    """
    values, before, after = sent.to_dict(), snapshot.to_dict(), shown.to_dict()
    restore, kept = _fields_cleared(values, before, after)
    custom_map, kept_custom = _custom_cleared(sent, before, after, restore)
    kept = kept or kept_custom
    cleared_others = any(name != "custom" for name in restore) or ("custom" in restore and sent.custom is None)
    opt_out_gone = before.get("is_opted_out") is True and after.get("is_opted_out") is not True
    # Opt-out wins on doubt: gone where nothing shows the update kept what it left out (a START texted since the
    # snapshot cannot be told from an update that cleared the STOP).
    doubted = "is_opted_out" not in values and opt_out_gone and (cleared_others or not kept)
    if doubted:
        restore["is_opted_out"] = True
    omitted = "clear" if cleared_others else ("keep" if kept else None)
    return Cleared(restore, omitted, custom_map, doubted)


def contradicts(sent: Contact, snapshot: Contact, cleared: Cleared, learned: Learned) -> list[str]:
    """The behaviours known (`learned`) that an answer contradicts: "omitted" where any field (custom values included)
    the update left out and the snapshot held is gone, or an opt-out the snapshot held is no longer shown; "custom_map"
    where a custom map sent merges by what is known and a value it left out is gone so.

    One field gone is enough: it may be a person's clear in Heymarket's app since the snapshot, but it may as well be
    the update's doing, and where updates clear what they leave out a STOP texted since the snapshot is cleared with
    it, unseen (docs/heymarket-behaviour.md). Doubt unlearns: the next writes are looked up and completed."""
    held_out, held_custom = _held_left_out(sent, snapshot)
    restored_custom = cleared.restore.get("custom") or {}
    if len(_lost(held_out, held_custom, cleared)) < CONTRADICTION_FIELDS:
        return []
    found: list[str] = []
    if learned.omitted == "keep" and (sent.custom is None or held_out or cleared.opt_out_gone):
        found.append("omitted")
    if sent.custom is not None and any(k in restored_custom for k in held_custom) and learned.custom_map == "merge":
        found.append("custom_map")
    return found


def _lost(held_out: list[str], held_custom: list[str], cleared: Cleared) -> list[str]:
    """The fields and custom keys held and left out that the answer shows gone (and the opt-out, where doubted)."""
    restored_custom = cleared.restore.get("custom") or {}
    lost = [n for n in held_out if n in cleared.restore] + [k for k in held_custom if k in restored_custom]
    return [*lost, "is_opted_out"] if cleared.opt_out_gone else lost


def _held_left_out(sent: Contact, snapshot: Contact) -> tuple[list[str], list[str]]:
    """The fields (not custom, nor the opt-out) and the custom values the snapshot held that an update left out."""
    values, before = sent.to_dict(), snapshot.to_dict()
    held_out = [n for n in before if n not in values and n not in ("phone", "contact_id", "is_opted_out", "custom")]
    held_custom = [k for k in (before.get("custom") or {}) if k not in (sent.custom or {})]
    return held_out, held_custom


def _evidence(sent: Contact, snapshot: Contact, cleared: Cleared, *, contradicted: bool = False) -> str:
    """What an answer showed, in words (field names, never a value or a phone)."""
    values, before = sent.to_dict(), snapshot.to_dict()
    left_out = sorted(n for n in before if n not in values and n not in ("phone", "contact_id"))
    gone = sorted({*cleared.restore, *(("is_opted_out",) if cleared.opt_out_gone else ())})
    shown = f"an update that left out {', '.join(left_out) or 'nothing'} answered with {', '.join(gone) or 'none'} gone"
    return f"{shown}, against what was learned" if contradicted else shown


def _fields_cleared(
    values: Mapping[str, Any], before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[dict[str, Any], bool]:
    """The fields (not custom) an update left out that the snapshot held and the answer no longer shows, and whether
    the answer shows one such field kept."""
    names = ("first", "last", "display_name", "email", "avatar", "assignee_id", "tags")
    left_out = [name for name in names if name in before and name not in values]
    return {name: before[name] for name in left_out if name not in after}, any(name in after for name in left_out)


def _custom_cleared(
    sent: Contact, before: Mapping[str, Any], after: Mapping[str, Any], restore: dict[str, Any]
) -> tuple[str | None, bool]:
    """The custom values the update cleared (into `restore`), what it shows of a custom map sent ("merge" or
    "replace"), and whether it shows a custom map left out kept."""
    held_custom, shown_custom = before.get("custom") or {}, after.get("custom") or {}
    others = [key for key in held_custom if key not in (sent.custom or {})]
    if not others:
        return None, False
    lost = [key for key in others if key not in shown_custom]
    if lost:
        restore["custom"] = {**{key: held_custom[key] for key in lost}, **(sent.custom or {})}
    if sent.custom is not None:
        return ("replace" if lost else "merge"), False
    return None, not lost  # a custom map left out: cleared with the rest, or kept


# Fields left out that the snapshot held (or its opt-out), gone from an update's answer, that contradict updates known
# to keep what they leave out: one is enough (a person's clear in Heymarket's app cannot be told from the update's).
CONTRADICTION_FIELDS = 1


def repair(
    write: BulkWrite, sent: Contact, heard: HeardContact, learned: Learned
) -> tuple[BulkWrite | None, Cleared | None]:
    """The write that puts back what an update of a known contact (`write.snapshot`) cleared, or None; and what the
    answer showed (None: nothing to compare, updates being known to keep what they leave out, and not contradicted).
    Learns from the answer what Heymarket does with what an update leaves out (`learned`, where not yet known), and
    unlearns it where the answer contradicts it (`contradicts`)."""
    assert write.snapshot is not None
    assert write.target is not None
    cleared = what_cleared(sent, write.snapshot, shown_values(sent.phone, heard.fields))
    if learned.keeps(sent):
        contradicted = contradicts(sent, write.snapshot, cleared, learned)
        if not contradicted:
            # Known to keep what it leaves out: a field the answer no longer shows was cleared in Heymarket's app, by
            # a person, since the snapshot; it is left as they left it.
            return None, None
        for name in contradicted:
            learned.unlearn(name, _evidence(sent, write.snapshot, cleared, contradicted=True))
    if cleared.omitted is not None:
        learned.learn("omitted", cleared.omitted, _evidence(sent, write.snapshot, cleared))
    if cleared.custom_map is not None:
        learned.learn("custom_map", cleared.custom_map, _evidence(sent, write.snapshot, cleared))
    if not cleared.restore:
        return None, cleared
    repaired = Contact.from_dict({**sent.to_dict(), **cleared.restore, "contact_id": write.target})
    return BulkWrite(write.index, repaired.to_heymarket(), existed=True, target=write.target), cleared


def undo_write(index: int, sent: Contact, snapshot: Contact, target: str, shown: Contact) -> BulkWrite | None:
    """The write that puts back, on a contact found holding another phone, what a write meant for `sent.phone`
    changed: each field sent that the answer (`shown`) still holds as sent, as the snapshot (the contact as the bridge
    last stored it) held it; a field the answer shows otherwise was written since by someone else (another write of
    the same request), and is left alone. An opt-out is put back if the snapshot held one, never an opt-in (a STOP
    texted since the snapshot cannot be told apart); a field the snapshot did not hold cannot be cleared (an update
    never sends empty values), and stays as written."""
    before, values, after = snapshot.to_dict(), sent.to_dict(), shown.to_dict()
    restore: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("phone", "contact_id", "lists") or (name != "custom" and after.get(name, value) != value):
            continue
        previous = _previous(name, value, before)
        if previous is not None:
            restore[name] = previous
    if not restore:
        return None
    item = without_phone(Contact.from_dict({**restore, "phone": sent.phone}).to_heymarket())
    return BulkWrite(index, {**item, "contact_id": target}, existed=True, target=target, undo=True)


def _previous(name: str, value: Any, before: Mapping[str, Any]) -> Any:
    """What field `name`, written as `value`, is put back to from the snapshot (`before`); None: left as written."""
    if name == "is_opted_out":
        return True if before.get(name) is True and value is not True else None
    if name == "custom":
        kept = {key: before["custom"][key] for key in value if key in (before.get("custom") or {})}
        return kept or None
    return before[name] if name in before and before[name] != value else None


def match_answer(
    writes: list[BulkWrite], answer: BulkAnswer
) -> tuple[dict[int, HeardContact], dict[int, str], list[str]]:
    """Tie the answer's contacts and failures to the writes: by UUID for updates, else by the integer id of a contact
    written by its identifier (answers without UUIDs), else by phone (the phone a write without one was for).

    Returns (stored: write index -> the contact shown, failed: write index -> Heymarket's error, the errors tied to
    no write)."""
    by_uuid = {w.item["contact_id"]: w.index for w in writes if w.item.get("contact_id")}
    by_id = {w.known_id: w.index for w in writes if w.known_id is not None}
    by_phone: dict[str, list[int]] = {}
    for w in writes:
        by_phone.setdefault(phone_of(w.item) or w.expects_phone or "", []).append(w.index)
    failed, untied = _tie_failures(answer, by_uuid, by_phone)
    stored: dict[int, HeardContact] = {}
    for contact in answer.stored:
        index = _index_of(contact, by_uuid, by_id)
        if index is None:
            index = next((c for c in by_phone.get(contact.phone, []) if c not in stored and c not in failed), None)
        if index is not None and index not in failed:
            stored[index] = contact
    return stored, failed, untied


def _tie_failures(
    answer: BulkAnswer, by_uuid: Mapping[str, int], by_phone: Mapping[str, list[int]]
) -> tuple[dict[int, str], list[str]]:
    """The answer's failed items tied to writes (by the UUID sent, else by phone), and the errors tied to none."""
    failed: dict[int, str] = {}
    untied: list[str] = []
    for item in answer.failed:
        sent_id = item.sent.get("contact_id")
        index = by_uuid.get(str(sent_id)) if sent_id else None
        if index is None:
            index = next((c for c in by_phone.get(phone_of(item.sent), []) if c not in failed), None)
        if index is None:
            untied.append(item.error)
        else:
            failed[index] = item.error
    return failed, untied


def _index_of(contact: HeardContact, by_uuid: Mapping[str, int], by_id: Mapping[int, int]) -> int | None:
    """The write a stored contact of the answer is, by its UUID, else by its integer id (None: tie it by phone)."""
    index = by_uuid.get(contact.identity.uuid) if contact.identity.uuid else None
    if index is None and contact.identity.id is not None:
        index = by_id.get(contact.identity.id)
    return index


def creates_on_hold(writes: list[BulkWrite], failure: TransientFailure) -> dict[int, NotDone]:
    """The creates of a bulk write whose outcome is unknown, settled as not done for this invocation: a look-up made
    now could miss a create still in flight, and where Heymarket makes a second contact for a phone it holds (not
    documented), sending it again would. The message is redelivered; by then the look-up shows whether it landed."""
    return {
        write.index: NotDone(
            TransientFailure(
                f"the create may still be taking effect ({failure.reason}); it is looked up again on the next receive "
                "before anything is sent",
                request_id=failure.request_id,
            )
        )
        for write in writes
        if write.target is None
    }


def opted_out_of(answered: Mapping[str, Any], sent: Mapping[str, Any]) -> bool | None:
    """Whether a stored contact is opted out: as the answer's Contact object says, else as sent (None: unknown)."""
    for values in (answered, sent):
        if isinstance(values.get("is_opted_out"), bool):
            return bool(values["is_opted_out"])
    return None


def with_prior_consent(result: UpsertResult, prior: HeardContact | None) -> UpsertResult:
    """A stored result with whether the contact it updated was opted out before, as its look-up showed."""
    if not isinstance(result, Stored) or prior is None or not same_contact(prior.identity, result.identity):
        return result
    before = prior.fields.get("is_opted_out")
    return replace(result, opted_out_before=before) if isinstance(before, bool) else result


def doubtful(failure: GatewayFailure) -> GatewayFailure:
    """The failure of a contact a write of which had an unknown outcome earlier: marked so (a copy, the failure may
    serve other contacts), whatever failed last."""
    if failure.outcome_unknown:
        return failure
    marked = copy.copy(failure)
    marked.outcome_unknown = True
    return marked
