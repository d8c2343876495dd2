"""Which write each contact needs, and its request body: pure, no I/O (the chunk runner, `chunk.py`, sends them).

What Heymarket does not document, and what the choice does about it (shared/HEYMARKET_API.md):

- What a v2 create does for a phone it already holds: a create is chosen only for a phone a fresh look-up showed no
  contact holding; any other contact is an update by `contact_id` (`choose_write`).
- Whether answers carry a contact's UUID next to its integer id: v2 updates need the UUID; a contact known by its
  integer id only is written with the documented `PUT /v1/contact/{id}?overwrite=false` (`V1Update`).
- Whether an update keeps the fields it leaves out, and whether a custom map sent replaces the stored one or merges
  into it (`Learned`): until the answers of this execution environment have shown it, an update carries the values
  a look-up just read for every field the sender left out (`complete_update`), and one update per chunk leaves a
  field out on purpose to learn it (`probe_update`).
- Opt-out wins: an opt-out is said again by an update that completes a contact; an opt-in never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final

from heymarket_bridge.adapters.heymarket.answers import HeardContact
from heymarket_bridge.domain.contact import V1_FIELDS, Contact
from heymarket_bridge.domain.e164 import phone_digits
from heymarket_bridge.domain.failures import PermanentFailure
from heymarket_bridge.domain.records import record
from heymarket_bridge.sync.model import Identity, KnownContact

# Fields the v1 contact write (PUT /v1/contact/{id}) documents; others follow in a v2 update by UUID.
V1_WRITE_FIELDS: Final = (*V1_FIELDS, "custom")
# The failure of a contact a call settled nothing for.
NOT_SENT: Final = "the invocation ran out of time before the contact was sent"
# Fields a probe may leave out of an update (see `probe_update`), the least consequential first.
PROBE_FIELDS: Final = ("avatar", "display_name", "email", "last", "first")
# Fields an update is completed with from a look-up (`complete_update`), besides `is_opted_out` and `custom`.
_COMPLETED: Final = ("first", "last", "email", "avatar", "display_name", "assignee_id", "tags")


@record
class Change:
    """A change of what an execution environment knows, for the stack to hear of (`learning.StackLearning`): `value`
    learned (None: `contradicted`, the value an answer showed wrong), with the answer's `evidence` (never a phone)."""

    name: str
    value: str | None
    evidence: str
    contradicted: str | None = None


@dataclass
class Learned:
    """What this execution environment knows of Heymarket's undocumented behaviours (None: not yet seen): from answers
    to updates of known contacts, and from what the stack learned (`learning.StackLearning`)."""

    omitted: str | None = None  # "keep" or "clear": what an update does with the fields it leaves out
    custom_map: str | None = None  # "merge" or "replace": what an update does with the custom map it sends
    changes: list[Change] = field(default_factory=list)  # learned or unlearned here, the stack not told yet

    def learn(self, name: str, value: str, evidence: str) -> None:
        """What an answer showed of behaviour `name` ("omitted", "custom_map"), where it is not known yet."""
        if getattr(self, name) is None:
            setattr(self, name, value)
            self.changes.append(Change(name, value, evidence))

    def unlearn(self, name: str, evidence: str) -> None:
        """An answer contradicted what behaviour `name` was known to be: not known any more (look-ups resume)."""
        was = getattr(self, name)
        if was is not None:
            setattr(self, name, None)
            self.changes.append(Change(name, None, evidence, contradicted=was))

    def merges(self, contact: Contact) -> bool:
        """Whether the custom map `contact` sends (if any) is known to merge into the stored one."""
        return contact.custom is None or self.custom_map == "merge"

    def keeps(self, contact: Contact) -> bool:
        """Whether an update of `contact` is known to keep what it leaves out (and merge the custom map it sends)."""
        return self.omitted == "keep" and self.merges(contact)


@record
class BulkWrite:
    """One item of a bulk `POST /v2/contacts`, and what its answer is checked against."""

    index: int
    item: dict[str, Any]
    existed: bool
    target: str | None  # the UUID updated, or None for a create
    snapshot: Contact | None = None  # a known contact written without a search: its answer is checked against this
    sent: Contact | None = None  # the contact as sent, when it is not the sender's (a probe: see `probe_update`)
    # Written by an identifier, not found by a look-up of the phone: the phone its answer must show.
    expects_phone: str | None = None
    undo: bool = False  # puts back a contact a write meant for another phone changed: settles no contact
    known_id: int | None = None  # the integer id of the contact written by its identifier, when known


@record
class V1Update:
    """`PUT /v1/contact/{id}` of a contact known by its integer id only; fields v1 does not take follow in v2."""

    index: int
    contact_id: int
    body: dict[str, Any]
    holder: HeardContact | None  # the contact a look-up just found; None: known from an earlier answer


@record
class WriteCase:
    """Everything the choice of one contact's write depends on.

    `looked_up`: stored through a look-up of its phone, `holder` being the oldest contact holding it (None: none).
    Otherwise written by an identifier: the sender's `contact_id` (`holder` the named contact as just read, None when
    not read), else the contact state's binding (`known`).
    """

    index: int
    contact: Contact  # as it is to be written (its opt-in decided)
    looked_up: bool
    holder: HeardContact | None = None
    known: KnownContact | None = None
    uuid: str | None = None  # the holder's UUID: as the answer gives it, else as the contact state learned it
    restore: Contact | None = None  # values to fill what a look-up shows empty (see `complete_update`)
    refused: tuple[str | None, PermanentFailure] | None = None  # the target last refused for it, and why
    probe_from: Contact | None = None  # the snapshot a probe of this write may be checked against (None: no probe)
    named_snapshot: Contact | None = None  # the contact state's snapshot of the contact named by `contact_id`


Choice = BulkWrite | V1Update | PermanentFailure


def choose_write(case: WriteCase, learned: Learned) -> Choice:
    """The write `case` needs: a bulk item (`BulkWrite`), a v1 update, or the refusal that stands."""
    if case.looked_up:
        return _write_found(case, learned)
    contact = case.contact
    if contact.contact_id is not None and case.holder is not None:
        # An update of the contact the sender named, completed from it as just read.
        kept = case.restore if case.named_snapshot is not None else None
        named_update = replace(complete_update(contact, case.holder, kept), contact_id=contact.contact_id)
        return BulkWrite(
            case.index,
            named_update.to_heymarket(),
            existed=True,
            target=contact.contact_id,
            expects_phone=contact.phone,
        )
    if contact.contact_id is not None:
        item = contact.to_heymarket()
        return BulkWrite(case.index, item, True, contact.contact_id, case.named_snapshot, expects_phone=contact.phone)
    known = case.known
    assert known is not None, "a write by an identifier needs a contact_id or a known contact"
    if known.identity.uuid is not None:
        # Without the phone: were the contact's number changed in Heymarket's app, the update could move it back to
        # this one, onto the old number's next owner; its answer shows it (`expects_phone`).
        item = without_phone(replace(contact, contact_id=known.identity.uuid).to_heymarket())
        return BulkWrite(
            case.index,
            item,
            True,
            known.identity.uuid,
            known.snapshot,
            expects_phone=contact.phone,
            known_id=known.identity.id,
        )
    assert known.identity.id is not None, "a known contact has a UUID or an integer id"
    return V1Update(case.index, known.identity.id, v1_fields(contact), None)


def _write_found(case: WriteCase, learned: Learned) -> Choice:
    contact, holder, uuid = case.contact, case.holder, case.uuid
    if case.refused is not None and case.refused[0] == target_key(holder):
        return case.refused[1]  # looked up again: nothing changed, the refusal stands
    if holder is None:
        return BulkWrite(case.index, replace(contact, contact_id=None).to_heymarket(), existed=False, target=None)
    if uuid is not None and learned.omitted == "keep":
        # Known to keep what it leaves out: only what the sender sent, the custom map completed unless a custom map
        # sent is known to merge (the opt-out read a moment ago is not said again, so a STOP texted since the look-up
        # stands).
        sent = contact if learned.keeps(contact) else with_held_custom(contact, holder)
        return BulkWrite(case.index, replace(sent, contact_id=uuid).to_heymarket(), True, uuid)
    if uuid is not None:
        completed = complete_update(contact, holder, case.restore)
        probe = probe_update(contact, holder, case.probe_from, completed, learned) if case.probe_from else None
        if probe is not None:
            item = replace(probe, contact_id=uuid).to_heymarket()
            return BulkWrite(
                case.index, item, True, uuid, snapshot=shown_values(contact.phone, holder.fields), sent=probe
            )
        return BulkWrite(case.index, replace(completed, contact_id=uuid).to_heymarket(), True, uuid)
    assert holder.identity.id is not None  # read_contact_object requires it
    return V1Update(case.index, holder.identity.id, v1_body(contact, holder, case.restore), holder)


def probe_update(
    contact: Contact, holder: HeardContact, snapshot: Contact, completed: Contact, learned: Learned
) -> Contact | None:
    """The update to send instead of `completed` so that its answer shows what Heymarket does with what an update
    leaves out, while this execution environment does not know it yet; None when there is nothing to learn here.

    Left out: one field the look-up showed that the sender did not send, else one the sender sent unchanged (its
    value is what the look-up showed), so that senders that send every field teach it too (the least used first,
    never `is_opted_out` or tags: a STOP is never at stake); and the custom values the sender did not send, else one
    it sent unchanged beside another (the map sent then shows whether it replaces or merges); only where `snapshot`
    (the contact state's) holds the same values for what is left out, so that whatever happens to the answer, what
    the update cleared can be put back, and with the sender's own value: never one a person set in Heymarket's app
    (docs/heymarket-behaviour.md).
    """
    shown, kept, values = shown_values(contact.phone, holder.fields).to_dict(), snapshot.to_dict(), completed.to_dict()
    left_out = False
    if learned.omitted is None:
        name = _probe_field(contact.to_dict(), shown, kept)
        if name is not None:
            values.pop(name)
            left_out = True
    probe_custom = _probe_custom(contact.custom, shown, kept) if learned.custom_map is None and contact.custom else None
    if probe_custom is not None:
        values["custom"] = probe_custom
        left_out = True
    return Contact.from_dict(values) if left_out else None


def _probe_field(sent: Mapping[str, Any], shown: Mapping[str, Any], kept: Mapping[str, Any]) -> str | None:
    """The field a probe leaves out: shown by the look-up, held the same in the snapshot, and not sent, else sent
    unchanged (None: none)."""
    held = [n for n in PROBE_FIELDS if n in shown and kept.get(n) == shown[n]]
    unsent = next((n for n in held if n not in sent), None)
    return unsent if unsent is not None else next((n for n in held if sent.get(n) == shown[n]), None)


def _probe_custom(
    custom: Mapping[str, str], shown: Mapping[str, Any], kept: Mapping[str, Any]
) -> dict[str, str] | None:
    """The custom map a probe sends (None: none): the values sent, where the look-up shows others, all held so in
    the snapshot; else the values sent but one sent unchanged (as shown, and held so in the snapshot)."""
    held, before = shown.get("custom") or {}, kept.get("custom") or {}
    others = {k: v for k, v in held.items() if k not in custom}
    if others:
        return dict(custom) if all(before.get(k) == v for k, v in others.items()) else None
    same = next((k for k, v in custom.items() if held.get(k) == v and before.get(k) == v), None)
    if same is None or len(custom) < 2:
        return None
    return {k: v for k, v in custom.items() if k != same}


def needs_search(contact: Contact, known: KnownContact | None, learned: Learned, *, reconsent: bool) -> bool:
    """Whether a contact not named by `contact_id` is stored through a search of its phone rather than by the
    identifier the contact state knows (`reconsent`: its opt-in is written only over what a look-up just showed)."""
    if reconsent or known is None or known.in_doubt or unrepairable_by_id(contact, known.snapshot):
        return True
    if known.identity.uuid is not None and known.snapshot is not None:
        # Only once updates are known to keep what they leave out (and merge a custom map sent): before that, an
        # update without a look-up could clear a STOP made in Heymarket's app since the snapshot, which nothing
        # could then tell apart from an opt-in (`probe_update` learns it).
        return not learned.keeps(contact)
    # Known by its integer id only: the v1 write by that id needs the phone and answers only identifiers, so nothing
    # would show that the contact holds another phone now: looked up first. Otherwise only once updates are known
    # to keep what they leave out (and merge a custom map sent).
    return known.identity.uuid is None or not learned.keeps(contact)


def reads_named(contact: Contact, learned: Learned, *, reconsent: bool) -> bool:
    """Whether the contact the sender named by `contact_id` is read before its update, to complete it like any update
    (`complete_update`): unless updates are known to keep what they leave out (and merge a custom map sent). A
    snapshot alone is not enough: it cannot tell a STOP texted to Heymarket since."""
    if contact.contact_id is None:
        return False
    return reconsent or not learned.keeps(contact)


def uuid_of(holder: HeardContact, known: KnownContact | None) -> str | None:
    """The UUID of the contact a look-up found: as the answer gives it, else as the contact state learned it for the
    same integer id (answers without UUIDs: a v1 update's answer gave it)."""
    if holder.identity.uuid is not None:
        return holder.identity.uuid
    if known is not None and known.identity.id is not None and known.identity.id == holder.identity.id:
        return known.identity.uuid
    return None


def target_key(holder: HeardContact | None) -> str | None:
    """What a write targets: the holder's UUID, 'id:<n>' when only its integer id is known, None for a create."""
    if holder is None:
        return None
    return holder.identity.uuid or f"id:{holder.identity.id}"


def complete_update(contact: Contact, holder: HeardContact, restore: Contact | None = None) -> Contact:
    """An update of `holder` that leaves nothing the sender did not send to chance.

    Heymarket does not document whether an update keeps the fields it leaves out, nor whether a custom map sent
    replaces the stored one or merges into it. The search that found `holder` just read its values, so the update
    carries them for every field the sender left out, and the stored custom values merged with the new ones: the
    contact ends the same whichever way Heymarket behaves (and an opt-out is never reverted by an update that left
    `is_opted_out` out). Empty and null values are never sent. `restore` (the values a probe's look-up showed, or the
    snapshot of a contact whose last write had an unknown outcome) fills what the look-up shows empty: what a write
    that left it out may have cleared. Of `is_opted_out`, only an opt-out is filled (never an opt-in).
    """
    held = shown_values(contact.phone, holder.fields).to_dict()
    if restore is not None:
        kept = restore.to_dict()
        held = {**{k: v for k, v in kept.items() if k != "custom"}, **held}
        if kept.get("custom"):
            held["custom"] = {**kept["custom"], **(held.get("custom") or {})}
    values = contact.to_dict()
    for field_name in _COMPLETED:
        if field_name not in values and field_name in held:
            values[field_name] = held[field_name]
    if "is_opted_out" not in values and held.get("is_opted_out") is True:
        # An opt-out is said again (an update may clear what it leaves out); an opt-in never is: said over a STOP
        # texted since the look-up, it would undo it.
        values["is_opted_out"] = True
    merged = {**(held.get("custom") or {}), **(contact.custom or {})}
    if merged:
        values["custom"] = merged
    return Contact.from_dict(values)


def with_held_custom(contact: Contact, holder: HeardContact) -> Contact:
    """`contact` with the custom values `holder` holds and the sender did not send (a custom map sent may replace the
    stored one)."""
    held = shown_values(contact.phone, holder.fields).custom or {}
    merged = {**held, **(contact.custom or {})}
    return replace(contact, custom=merged) if merged else contact


def shown_values(phone: str, fields: Mapping[str, Any]) -> Contact:
    """A Contact object from an answer as the contact values it shows: its non-empty writable fields (a display name
    only if it is one of its own, not the one Heymarket derives from first and last; an assignee only if assigned;
    tags only if given in a form that names them)."""
    values: dict[str, Any] = {"phone": phone, **_names(fields)}
    if isinstance(fields.get("is_opted_out"), bool):
        values["is_opted_out"] = fields["is_opted_out"]
    assigned = fields.get("assigned_user_id")
    if isinstance(assigned, int) and not isinstance(assigned, bool) and assigned > 0:
        values["assignee_id"] = assigned
    if isinstance(fields.get("custom"), Mapping):
        custom = {str(k): _text(v) for k, v in fields["custom"].items() if v not in (None, "")}
        if custom:
            values["custom"] = custom
    tags = _tag_ids(fields.get("tags"))
    if tags:
        values["tags"] = tags
    return Contact.from_dict(values)


def _names(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The non-empty text fields of a Contact object, and its display name if it is not the one Heymarket derives
    from first and last."""
    values: dict[str, Any] = {}
    for field_name in ("first", "last", "email", "avatar"):
        value = fields.get(field_name)
        if isinstance(value, str) and value.strip():
            values[field_name] = value
    first, last = fields.get("first"), fields.get("last")
    derived = " ".join(part for part in (first, last) if isinstance(part, str) and part)
    name = fields.get("display_name")
    if isinstance(name, str) and name.strip() and name != derived:
        values["display_name"] = name
    return values


def unrepairable_by_id(contact: Contact, snapshot: Contact | None) -> bool:
    """Whether a write of `contact` by the identifier the contact state bound to its phone could not be put back
    (`reconcile.undo_write`) were that contact found holding another phone (its person moved): an opt-out the snapshot
    does not hold (undoing it would write an opt-in onto a person, which the consent rules forbid, and would text them
    meanwhile), a field or custom value the snapshot does not hold (an update never sends empty values, so it could
    not be cleared), or no snapshot at all. Such a write goes through a look-up of its phone instead: the next owner
    of a recycled number never gets the previous owner's contact."""
    if snapshot is None:
        return True
    values, before = contact.to_dict(), snapshot.to_dict()
    if values.get("is_opted_out") is True and before.get("is_opted_out") is not True:
        return True
    for name, value in values.items():
        if name in ("phone", "contact_id", "lists", "is_opted_out") or value == before.get(name):
            continue
        if name == "custom":
            if not set(value) <= set(before.get("custom") or {}):
                return True
        elif name not in before:
            return True
    return False


def without_phone(item: dict[str, Any]) -> dict[str, Any]:
    """An update by `contact_id` that leaves the contact's phone as Heymarket holds it."""
    return {name: value for name, value in item.items() if name not in ("phone", "contact_channels")}


def v1_fields(contact: Contact) -> dict[str, Any]:
    """The v1 write of a known contact: the documented v1 fields the sender sent (updates keep what they leave out)."""
    body = {k: v for k, v in contact.to_dict().items() if k in V1_WRITE_FIELDS}
    body["phone"] = contact.phone
    return body


def v1_body(contact: Contact, holder: HeardContact, restore: Contact | None = None) -> dict[str, Any]:
    """The v1 write: the documented v1 fields, completed from what Heymarket holds (see `complete_update`; a v1 write
    always overwrites the names)."""
    body = {k: v for k, v in complete_update(contact, holder, restore).to_dict().items() if k in V1_WRITE_FIELDS}
    body["phone"] = contact.phone
    return body


def phone_of(contact: Mapping[str, Any]) -> str:
    """The digits of the phone a contact item is for: `phone`, else its phone channel."""
    phone = contact.get("phone")
    if not phone:
        for channel in contact.get("contact_channels") or []:
            if isinstance(channel, Mapping) and channel.get("channel_type") == "phone":
                phone = channel.get("channel_id")
                break
    return phone_digits(phone)


def same_contact(a: Identity, b: Identity) -> bool:
    """Whether two identities name one contact (by UUID, else by integer id)."""
    return (a.uuid is not None and a.uuid == b.uuid) or (a.id is not None and a.id == b.id)


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _tag_ids(tags: Any) -> list[int]:
    """Tag ids of a Contact object's `tags`, if they are given in a form that names them (ids, or objects with
    `tag_id` or `id`); the read form is not documented, so anything else is left alone."""
    if not isinstance(tags, list):
        return []
    ids: list[int] = []
    for tag in tags:
        value = tag.get("tag_id", tag.get("id")) if isinstance(tag, Mapping) else tag
        if isinstance(value, bool) or not isinstance(value, int):
            return []
        ids.append(value)
    return ids
