"""A plan seen per contact, and the entry each of its phones ends with once Heymarket answered. Pure: no I/O.

The contact state guard (heymarket_bridge.sync.state.guard) takes its leases per `ContactLane` (one contact's delete
step and the upsert step that follows it) and gives them back with `entries_after`, or `in_doubt_entry` for a lane
whose request may still take effect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from heymarket_bridge.domain.failures import GatewayFailure
from heymarket_bridge.domain.operations import DeleteOperation
from heymarket_bridge.domain.records import record
from heymarket_bridge.sync.model import (
    Binding,
    ContactState,
    Decided,
    Deleted,
    Execution,
    Fate,
    Member,
    NotDone,
    Plan,
    Release,
    Stored,
    UpsertStep,
)
from heymarket_bridge.sync.state.rules import (
    forgotten,
    operation_phone,
    operation_rank,
    rebound,
    stored_state,
    tombstone,
)


@record
class ContactLane:
    """One contact's steps in a plan (indexes into its deletes and upserts), its members and the phones they name."""

    delete: int | None
    upsert: int | None
    members: tuple[Member, ...]
    phones: tuple[str, ...]


def contact_lanes(plan: Plan) -> list[ContactLane]:
    """A plan's steps grouped by contact: each delete step with the upsert step that follows it, if any."""
    following = {step.after: n for n, step in enumerate(plan.upserts) if step.after is not None}
    lanes: list[ContactLane] = []
    for d, step in enumerate(plan.deletes):
        u = following.get(d)
        members = step.members + (plan.upserts[u].members if u is not None else ())
        lanes.append(ContactLane(d, u, members, phones_of(members)))
    lanes.extend(
        ContactLane(None, u, step.members, phones_of(step.members))
        for u, step in enumerate(plan.upserts)
        if step.after is None
    )
    return lanes


def phones_of(members: Sequence[Member]) -> tuple[str, ...]:
    """The phones the members' operations are on, once each, in order (a delete by contact id names none)."""
    return tuple(dict.fromkeys(p for m in members if (p := operation_phone(m.operation)) is not None))


def newest_rank(members: Sequence[Member]) -> int:
    """The rank (`operation_rank`) of the newest of the members' operations."""
    return max(operation_rank(m.operation) for m in members)


def with_known(step: UpsertStep, before: Mapping[str, ContactState | None]) -> UpsertStep:
    """An upsert step with what the state knows of its contact, if it names none itself and follows no delete."""
    entry = before.get(step.contact.phone)
    if step.after is not None or step.contact.contact_id is not None or entry is None:
        return step
    return replace(step, known=entry.known())


def holding(plan: Plan, held: Sequence[tuple[Member, GatewayFailure]]) -> Plan:
    """The plan with the members that wait added, each with the failure that makes it wait."""
    if not held:
        return plan
    return replace(plan, decided=plan.decided + tuple(Decided((member,), failure) for member, failure in held))


def entries_after(
    plan: Plan,
    execution: Execution,
    lane: ContactLane,
    delivered: Sequence[Member],
    before: Mapping[str, ContactState | None],
    *,
    now_ms: int,
    void_ms: int,
    tombstone_s: int,
) -> dict[str, ContactState]:
    """Each phone's entry after a lane whose `delivered` members were applied (`now_ms`: when the leases were taken;
    a tombstone is kept `tombstone_s`)."""
    newest = newest_rank(delivered)
    upserted = execution.upserts[lane.upsert] if lane.upsert is not None else None
    if isinstance(upserted, Stored):
        assert lane.upsert is not None
        contact = plan.upserts[lane.upsert].contact
        if upserted.consent_held_back is not None:
            # What was stored, not the opt-in held back: a later opt-in is then not skipped as unchanged (a
            # re-consent must reach the gateway, and a repeated one is held back again, on record).
            contact = replace(contact, is_opted_out=upserted.opted_out)
        states = {phone: forgotten(before.get(phone), phone, newest) for phone in lane.phones if phone != contact.phone}
        states[contact.phone] = stored_state(
            before.get(contact.phone),
            contact,
            upserted.identity,
            upserted.held,
            existed=upserted.existed,
            applied_ms=newest,
            confirmed_ms=now_ms,
            void_ms=void_ms,
        )
        return states
    if lane.delete is not None and isinstance(execution.deletes[lane.delete], Deleted):
        expires = now_ms // 1000 + tombstone_s
        return {phone: tombstone(before.get(phone), phone, newest, expires) for phone in lane.phones}
    return {}


def in_doubt(execution: Execution, lane: ContactLane) -> bool:
    """Whether a step of the lane failed with a request whose outcome is unknown: it may still take effect."""
    results = [
        *([execution.deletes[lane.delete]] if lane.delete is not None else []),
        *([execution.upserts[lane.upsert]] if lane.upsert is not None else []),
    ]
    return any(isinstance(r, NotDone) and r.failure.outcome_unknown for r in results)


def in_doubt_entry(entry: ContactState, newest: int) -> ContactState:
    """The entry after a write whose outcome is unknown (`newest`: the rank to record as applied, 0 for none): its
    time, identifiers and snapshot, without the digests of what was last confirmed stored (the write may have
    changed it) nor the confirmation (`ContactState.known` then says the contact is in doubt: it is looked up, and
    what the look-up shows empty is filled from the snapshot)."""
    return replace(entry, applied_ms=max(entry.applied_ms, newest), digests={}, confirmed_ms=0, lease=None)


def deleted_by_id(member: Member) -> bool:
    """Whether the member is a delete by contact id (it does not say which phone it removed)."""
    return isinstance(member.operation, DeleteOperation) and member.operation.target.contact_id is not None


def releases_of(
    lane: ContactLane,
    states: Mapping[str, ContactState],
    before: Mapping[str, ContactState | None],
    fates: Mapping[str, Fate],
    token: str,
    hold_until_ms: int | None,
) -> dict[str, Release]:
    """The releases of the phones a lane leased: each with its entry after the lane (`states`; none: as it was).
    With `hold_until_ms`, a step of the lane may still take effect, and the lease is held until then."""
    releases: dict[str, Release] = {}
    for phone in lane.phones:
        if phone not in before:
            continue
        state, entry = states.get(phone), before[phone]
        if hold_until_ms is not None and entry is not None:
            # The write may have landed: what the entry says was last stored may no longer be, so an operation equal
            # to it is sent, not skipped as unchanged, and the contact is looked up. A lane dead-lettered so (its
            # last receive) counts as applied for the order: an older operation arriving later must not undo what
            # may have landed (a STOP); its members come back only by a redrive, which says so. A lane redelivered
            # comes back whole instead.
            dead = all(fates.get(m.record.message_id) is Fate.DEAD for m in lane.members)
            state = in_doubt_entry(entry, newest_rank(lane.members) if dead else 0)
        releases[phone] = Release(phone, token, state, hold_until_ms)
    return releases


def bindings_to_record(
    releases: Mapping[str, Release], released: frozenset[str], before: Mapping[str, ContactState | None]
) -> list[Binding]:
    """The bindings to record: each phone released with a contact stored for it that its entry did not name."""
    return [
        binding
        for phone, release in releases.items()
        if phone in released
        and release.state is not None
        and release.hold_until_ms is None
        and (binding := rebound(before[phone], release.state)) is not None
    ]


def voids_of(execution: Execution, lane: ContactLane, delivered: Sequence[Member]) -> list[Member]:
    """The delivered members of a lane whose delete by contact id was done: their time is recorded (`void`)."""
    deleted = lane.delete is not None and isinstance(execution.deletes[lane.delete], Deleted)
    return list(delivered) if deleted and any(deleted_by_id(m) for m in delivered) else []


def unrecorded_members(
    outcomes: Sequence[tuple[list[Member], frozenset[str]]], released: frozenset[str]
) -> list[Member]:
    """The members delivered whose lane's entries (`outcomes`: the members and the phones whose entry changed) were
    not all recorded."""
    return [
        m for delivered, recorded in outcomes if any(phone not in released for phone in recorded) for m in delivered
    ]
