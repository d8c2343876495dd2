"""Contact state: what the sync function remembers of each phone between batches, and the rules it applies. Pure: no
I/O (its values are heymarket_bridge.sync.model's, its port `ContactStatePort` heymarket_bridge.sync.ports', the
table `heymarket_bridge.adapters.aws.contact_state`).

Per phone (E.164 digits), the state holds:

- `applied_ms`: the time of the newest operation applied to the contact. An operation's time is the source's own
  event time where the source gives one (`occurred_at`, never later than when the bridge received it), else when the
  bridge received it (`received_at`). An operation older than what was applied is superseded: skipped, not sent;
- after a delete, a tombstone (kept `tombstone_s`, longer than any operation can stay in the queue and the DLQ), so
  that an older upsert arriving late cannot bring the contact back, while a newer one can;
- what Heymarket's answers said identifies the contact (integer id, UUID) and the contact as its last answer showed
  it (`snapshot`): the next write goes straight to the contact, with no search;
- `digests` of the fields last confirmed stored: an upsert whose every field equals them changes nothing and costs no
  Heymarket request. They count only if confirmed after the last delete by contact id (`void_ms`): such a delete
  does not say which phone it removed, so nothing confirmed before it is taken for granted;
- which phone each contact id is bound to (`Binding`): a write that stores a contact for one phone releases every
  other phone bound to that contact before (a `contact_id` update that moved it, a number corrected in Heymarket's
  app and found by a look-up), so that the old number's next owner is never written onto this person's contact;
- a `lease` while an invocation applies an operation to the contact. Writes are conditional, never read-then-write:
  a lease is taken only if the entry is still as read (so on the time applied, and on no live lease), and given back
  with the outcome only by its holder. An operation meeting another invocation's live lease waits (redelivered).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation, QueuedOperation
from heymarket_bridge.sync.model import Binding, ContactState, Identity

# Added to a lease beyond the invocation's own deadline: clocks of two Lambda hosts, and a request still in flight.
LEASE_MARGIN_MS = 30_000
# ContactQueue keeps messages 4 days and the DLQ 14; a letter redriven on its last day may wait 4 more in the queue.
DEFAULT_TOMBSTONE_S = (4 + 14 + 4) * 24 * 3600


# ------------------------------------------------------------------------------------------------ rules


def operation_ms(operation: QueuedOperation) -> int:
    """An operation's time in epoch milliseconds: the source's event time if it gave one (never later than when the
    bridge received it), else when the bridge received it; 0 for a time that cannot be read (oldest of all)."""
    received = _epoch_ms(operation.received_at)
    occurred = _epoch_ms(operation.occurred_at) if operation.occurred_at else None
    if occurred is None or received is None:
        return received or occurred or 0
    return min(occurred, received)


RANK_SCALE: Final = 10**13  # epoch milliseconds take 13 digits until the year 2286


def operation_rank(operation: QueuedOperation) -> int:
    """An operation's place among the changes of its contact, as one number (what the table's `applied` holds): its
    time (`operation_ms`) first, then when the bridge received it. Sources give event times in whole seconds
    (Shopify's `updated_at`), so two changes within one second are ordered as the bridge received them; the same
    operation received again has the same rank."""
    return operation_ms(operation) * RANK_SCALE + received_ms(operation)


def received_ms(operation: QueuedOperation) -> int:
    """When the bridge received the operation, in epoch milliseconds (0 if that cannot be read)."""
    return _epoch_ms(operation.received_at) or 0


def _epoch_ms(text: str | None) -> int | None:
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def operation_phone(operation: QueuedOperation) -> str | None:
    """The phone an operation is on: an upsert's, a delete's by phone; None for a delete by contact id."""
    if isinstance(operation, ContactOperation):
        return operation.contact.phone
    return operation.target.phone


def field_digests(contact: Contact) -> dict[str, str]:
    """A digest of each field the contact carries (custom fields one per key), its phone and contact id aside."""
    values = contact.to_dict()
    values.pop("phone", None)
    values.pop("contact_id", None)
    custom = values.pop("custom", None) or {}
    named = {**values, **{f"custom.{key}": value for key, value in custom.items()}}
    return {name: _digest(value) for name, value in named.items()}


def _digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def superseded(operation: QueuedOperation, entry: ContactState | None) -> bool:
    """An operation older than the newest applied to its contact (unless an operator forced it)."""
    return entry is not None and not operation.force and operation_rank(operation) < entry.applied_ms


def surviving_opt_out(operation: QueuedOperation, entry: ContactState | None) -> ContactOperation | None:
    """What still applies of an operation `superseded` by a newer one: its opt-out, alone (its phone and
    `is_opted_out` true, its consent claim kept for the record), or None. The superseded rule is per field for
    consent: a newer operation that did not opt the person in says nothing against an older opt-out ("opt-outs from
    sources always apply", issue 21), so a name change dated later (a public generic post, a Shopify customers/update
    delivered before the consent event) cannot suppress it. Over a newer opt-in too: the safe side (a person texted
    in error is a TCPA violation; one opted out in error texts START). Not over a delete applied since (a tombstone):
    the contact is gone, and an opt-out alone would create one."""
    if (
        not isinstance(operation, ContactOperation)
        or operation.op is not Operation.UPSERT
        or operation.contact.is_opted_out is not True
        or (entry is not None and entry.deleted)
    ):
        return None
    return replace(operation, contact=Contact(phone=operation.contact.phone, is_opted_out=True))


def unchanged(contact: Contact, entry: ContactState | None, void_ms: int) -> bool:
    """Whether storing `contact` would change nothing the bridge knows of: every field it carries equals the digest
    of the one last confirmed stored for a contact that is not deleted, confirmed after the last delete by id."""
    if entry is None or entry.deleted or not entry.digests or entry.confirmed_ms <= void_ms:
        return False
    if contact.contact_id is not None and (entry.identity is None or entry.identity.uuid != contact.contact_id):
        return False
    return all(entry.digests.get(name) == digest for name, digest in field_digests(contact).items())


def stored_state(
    before: ContactState | None,
    contact: Contact,
    identity: Identity,
    held: Contact | None,
    *,
    existed: bool,
    applied_ms: int,
    confirmed_ms: int,
    void_ms: int,
) -> ContactState:
    """The entry after `contact` was stored (Heymarket's answer: `identity`, `held`, whether it `existed`).

    The digests add to the ones confirmed before only for an update of the same contact (a create, or another
    contact, starts afresh); the snapshot is the answer's, else the last one with the fields just sent.
    """
    prior = before if _same_contact(before, identity, existed=existed) else None
    kept = dict(prior.digests) if prior is not None and prior.confirmed_ms > void_ms else {}
    uuid = identity.uuid or (prior.identity.uuid if prior is not None and prior.identity is not None else None)
    known = Identity(identity.id, uuid) if identity.id is not None or uuid is not None else None
    return ContactState(
        phone=contact.phone,
        applied_ms=max(applied_ms, before.applied_ms if before is not None else 0),
        identity=known,
        snapshot=held if held is not None else _with_sent(prior, contact),
        digests={**kept, **field_digests(contact)},
        confirmed_ms=confirmed_ms,
    )


def _same_contact(before: ContactState | None, identity: Identity, *, existed: bool) -> bool:
    """Whether a write that answered `identity` updated the contact `before` held (a create, or another contact,
    is not)."""
    if before is None or before.deleted or before.identity is None or not existed:
        return False
    held = before.identity
    return (held.uuid is not None and held.uuid == identity.uuid) or (held.id is not None and held.id == identity.id)


def _with_sent(prior: ContactState | None, contact: Contact) -> Contact:
    """The last snapshot of the same contact with the fields just sent (its custom fields merged), for an answer that
    showed none."""
    sent = {k: v for k, v in contact.to_dict().items() if k != "contact_id"}
    base = prior.snapshot.to_dict() if prior is not None and prior.snapshot is not None else {}
    custom = {**(base.get("custom") or {}), **(sent.get("custom") or {})}
    return Contact.from_dict({**base, **sent, **({"custom": custom} if custom else {})})


def rebound(before: ContactState | None, after: ContactState) -> Binding | None:
    """The binding to record when `after` (the entry after a write) binds its phone to a contact `before` did not
    name: a new contact, or another one than before. None when the contact is the one the entry already held."""
    identity = after.identity
    if identity is None or (identity.uuid is None and identity.id is None):
        return None
    held = before.identity if before is not None and not before.deleted else None
    same_uuid = held is not None and identity.uuid is not None and held.uuid == identity.uuid
    same_id = held is not None and identity.id is not None and held.id == identity.id
    if same_uuid or same_id:
        return None
    return Binding(after.phone, identity)


def tombstone(before: ContactState | None, phone: str, applied_ms: int, expires_s: int) -> ContactState:
    """The entry after the contact holding `phone` was deleted: its time, kept until `expires_s`."""
    newest = max(applied_ms, before.applied_ms if before is not None else 0)
    return ContactState(phone=phone, applied_ms=newest, deleted=True, expires_s=expires_s)


def forgotten(before: ContactState | None, phone: str, applied_ms: int) -> ContactState:
    """The entry of a phone an operation moved its contact away from: its time kept, nothing else known."""
    return ContactState(phone=phone, applied_ms=max(applied_ms, before.applied_ms if before is not None else 0))
