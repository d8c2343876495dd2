"""The contact state applied to one batch (rules: heymarket_bridge.sync.state.rules), through its port.

`ContactStateGuard.admit` runs before Heymarket is called:

1. read the entries of every phone in the batch at once;
2. skip the operations older than the newest applied to their contact (superseded: delivered, counted, logged);
3. plan the rest (the caller's `plan_batch`); a lane whose contact would not change is delivered without a request,
   its time recorded (`Advance`); every other lane takes a lease on its phones (`Claim`), both as conditional writes
   in one batch: written only if the entry is still as read. A refused write brings the entry as it now is, and its
   lane is decided again (it may now be superseded); a lane meeting another invocation's live lease waits
   (`StateNotReady`: redelivered), never applied out of order;
4. the plan of the lanes admitted, each known contact's identifiers attached to its upsert.

`ContactStateGuard.record` runs once Heymarket answered and each message's fate is known: it gives every lease back
with its lane's outcome (the contact stored, or a tombstone after a delete; or the entry as it was, for a lane not
delivered; a lane whose request may still take effect keeps its lease a while longer, the lease margin, so that no
newer write lands before it). A delivered lane whose outcome could not be recorded is sent again (redelivered), so
that the table never misses the newest operation applied; a delete by contact id records its time (`void`). A
contact stored for a phone the state did not bind to it is bound to that phone (`bind`), which releases the phone
it was bound to before: the contact moved (a `contact_id` update, or a number corrected in Heymarket's app).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum

from heymarket_bridge.domain.failures import GatewayFailure
from heymarket_bridge.domain.operations import DeleteOperation
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import Deleted, NotDone, Stored
from heymarket_bridge.sync.service import (
    Decided,
    Execution,
    Fate,
    Member,
    Plan,
    UpsertStep,
    Verdict,
    claim_received_at,
)
from heymarket_bridge.sync.state.rules import (
    DEFAULT_TOMBSTONE_S,
    LEASE_MARGIN_MS,
    RANK_SCALE,
    Advance,
    Binding,
    Claim,
    ContactState,
    ContactStatePort,
    Lease,
    Release,
    StateNotReady,
    StateUnavailable,
    WriteResult,
    forgotten,
    operation_ms,
    operation_phone,
    operation_rank,
    rebound,
    received_ms,
    stored_state,
    superseded,
    surviving_opt_out,
    tombstone,
    unchanged,
)

# Rounds of conditional writes before a lane whose entries keep changing under it is left to a later receive.
MAX_ROUNDS = 3
# Added to the time of a delete by contact id: a claim made on a host whose clock runs a little ahead is not trusted.
VOID_MARGIN_MS = 5_000
BUSY = "another invocation is applying an operation to this contact; tried again later"


class Skip(Enum):
    SUPERSEDED = "superseded"  # older than the newest operation applied to its contact
    UNCHANGED = "unchanged"  # its contact would not change


@dataclass(frozen=True)
class Skipped:
    """A member delivered without a Heymarket request."""

    member: Member
    why: Skip


@dataclass(frozen=True)
class Admission:
    """What `admit` decided: the plan to execute, the members skipped, and the leases it holds."""

    plan: Plan
    skipped: tuple[Skipped, ...] = ()
    token: str = ""
    now_ms: int = 0
    void_ms: int = 0
    before: Mapping[str, ContactState | None] | None = None  # entries of the phones leased, as before the lease

    @property
    def superseded(self) -> int:
        return sum(skipped.why is Skip.SUPERSEDED for skipped in self.skipped)

    @property
    def unchanged(self) -> int:
        return sum(skipped.why is Skip.UNCHANGED for skipped in self.skipped)


@dataclass(frozen=True)
class _Lane:
    """One contact's steps in a plan (indexes into its deletes and upserts), its members and the phones they name."""

    delete: int | None
    upsert: int | None
    members: tuple[Member, ...]
    phones: tuple[str, ...]


class ContactStateGuard:
    """Keeps the newest operation winning across batches and concurrent invocations (see the module docstring).

    `skip_unchanged` False sends every upsert, changed or not (an operator's setting); `tombstone_s` is how long a
    delete keeps older upserts out (longer than any message can wait in the queue and the DLQ); `lease_margin_ms` how
    long a lease outlasts its invocation's deadline, and how long one is kept after a request whose outcome is unknown.
    """

    def __init__(
        self,
        port: ContactStatePort,
        *,
        skip_unchanged: bool = True,
        tombstone_s: int = DEFAULT_TOMBSTONE_S,
        lease_margin_ms: int = LEASE_MARGIN_MS,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
        reconsent: ReconsentRule = NO_RECONSENT,
    ) -> None:
        self._port = port
        self._skip_unchanged = skip_unchanged
        self._tombstone_s = tombstone_s
        self._margin_ms = lease_margin_ms
        self._clock_ms = wall_clock_ms
        self._new_token = new_token
        self._reconsent = reconsent

    # ------------------------------------------------------------------ before Heymarket

    def admit(
        self, members: Sequence[Member], plan: Callable[[Sequence[Member]], Plan], remaining_s: float
    ) -> Admission:
        """Decide the batch against the contact state; `plan` is the batch planner (pure), `remaining_s` how long
        the invocation may still run (its leases last that long, and a margin)."""
        now, token = self._clock_ms(), self._new_token()
        lease = Lease(token, now + int(max(remaining_s, 0.0) * 1000) + self._margin_ms)
        phones = list(dict.fromkeys(p for m in members if (p := operation_phone(m.operation)) is not None))
        try:
            read = self._port.read(phones)
        except StateUnavailable as exc:
            logger.warning("Contact state table unavailable; the batch is tried again later", extra={"error": str(exc)})
            failure = StateNotReady(f"the contact state table could not be read ({exc}); tried again later")
            return Admission(_holding(plan([]), [(m, failure) for m in members]), token=token, now_ms=now)
        entries: dict[str, ContactState | None] = {p: read.entries.get(p) for p in phones}
        before: dict[str, ContactState | None] = {}
        skipped: list[Skipped] = []
        held: list[tuple[Member, GatewayFailure]] = []
        admitted: list[Member] = []
        pending = list(members)
        for _ in range(MAX_ROUNDS):
            live = [live for m in pending if (live := self._live(m, entries, skipped)) is not None]
            drafted = plan(live)
            admitted.extend(m for decided in drafted.decided for m in decided.members)  # settled without a request
            writes: list[Claim | Advance] = []
            actions: list[tuple[_Lane, Skip | None, list[str]]] = []
            for lane in _lanes(drafted):
                if any((e := entries.get(p)) is not None and e.leased_to_another(token, now) for p in lane.phones):
                    held.extend((m, StateNotReady(BUSY)) for m in lane.members)
                    continue
                entry = self._unchanged(drafted, lane, entries, before, read.void_ms)
                if entry is not None:
                    newest = max(operation_rank(m.operation) for m in lane.members)
                    if newest > entry.applied_ms:
                        writes.append(Advance(entry.phone, entry, newest))
                        actions.append((lane, Skip.UNCHANGED, [entry.phone]))
                    else:
                        skipped.extend(Skipped(m, Skip.UNCHANGED) for m in lane.members)
                    continue
                claims = [Claim(p, entries.get(p), lease) for p in lane.phones if p not in before]
                writes.extend(claims)
                actions.append((lane, None, [claim.phone for claim in claims]))
            try:
                result = self._port.write(writes, now) if writes else WriteResult(frozenset())
            except StateUnavailable as exc:
                logger.warning(
                    "Contact state table unavailable; contacts are tried again later", extra={"error": str(exc)}
                )
                failure = StateNotReady(f"the contact state table could not be written ({exc}); tried again later")
                held.extend((m, failure) for lane, _, _ in actions for m in lane.members)
                pending = []
                break
            for write in writes:
                if write.phone in result.written:
                    if isinstance(write, Claim):
                        before[write.phone] = write.expected
                        entries[write.phone] = replace(write.expected or ContactState(write.phone), lease=write.lease)
                    else:
                        entries[write.phone] = replace(write.expected, applied_ms=write.applied_ms, rev=-1)
                elif write.phone in result.refused:
                    entries[write.phone] = result.refused[write.phone]
            pending = []
            for lane, skip, written in actions:
                if not all(phone in result.written for phone in written):
                    pending.extend(lane.members)  # decided again with the entries as they now are
                elif skip is not None:
                    skipped.extend(Skipped(m, skip) for m in lane.members)
                else:
                    admitted.extend(lane.members)
            if not pending:
                break
        held.extend((m, StateNotReady(BUSY)) for m in pending)
        if held:
            logger.info("Contacts being changed by another invocation wait", extra={"count": len(held)})
        final = plan(admitted)
        upserts = tuple(_known(step, before) for step in final.upserts)
        return Admission(
            _holding(replace(final, upserts=upserts), held),
            tuple(skipped),
            token,
            now,
            read.void_ms,
            before,
        )

    def _live(
        self, member: Member, entries: Mapping[str, ContactState | None], skipped: list[Skipped]
    ) -> Member | None:
        """The member to plan: itself, or, when superseded, its opt-out alone (`surviving_opt_out`: applied and
        recorded as applied), or None when it is skipped (then in `skipped`)."""
        phone = operation_phone(member.operation)
        entry = entries.get(phone) if phone is not None else None
        # Received longer ago than tombstones are kept: a delete that followed it may be forgotten already (a letter
        # redriven and dead-lettered again starts a new stay in the DLQ), so it is not applied unless forced.
        expired = not member.operation.force and received_ms(member.operation) < (
            self._clock_ms() - self._tombstone_s * 1000
        )
        if not expired and not superseded(member.operation, entry):
            return member
        survivor = None if expired else surviving_opt_out(member.operation, entry)
        if survivor is not None:
            logger.info(
                "Operation older than the newest applied to its contact; its opt-out alone applies",
                extra={
                    "phone": mask_phone(phone),
                    "correlation_id": member.operation.correlation_id,
                    "message_id": member.record.message_id,
                },
            )
            return replace(member, operation=survivor)
        skipped.append(Skipped(member, Skip.SUPERSEDED))
        logger.info(
            "Operation older than the tombstones the contact state keeps; skipped (redrive it with --force to apply it)"
            if expired
            else "Operation older than the newest applied to its contact; skipped",
            extra={
                "phone": mask_phone(phone),
                "operation": member.operation.op.value,
                "operation_time_ms": operation_ms(member.operation),
                "applied_time_ms": entry.applied_ms // RANK_SCALE if entry is not None else None,
                "correlation_id": member.operation.correlation_id,
                "message_id": member.record.message_id,
            },
        )
        return None

    def _unchanged(
        self,
        drafted: Plan,
        lane: _Lane,
        entries: Mapping[str, ContactState | None],
        before: Mapping[str, ContactState | None],
        void_ms: int,
    ) -> ContactState | None:
        """The entry of a lane that would change nothing (one upsert step, one phone not leased by this invocation,
        nothing forced), or None."""
        if not self._skip_unchanged or lane.delete is not None or lane.upsert is None or len(lane.phones) != 1:
            return None
        phone = lane.phones[0]
        entry = entries.get(phone)
        contact = drafted.upserts[lane.upsert].contact
        # An opt-out is always sent: what the entry says was stored is the bridge's memory, not Heymarket's state (a
        # START texted to Heymarket since changes it with no request from the bridge), and a person texted after a
        # STOP is a TCPA violation, so one request more is cheap.
        if phone in before or contact.is_opted_out is True or any(m.operation.force for m in lane.members):
            return None
        # Likewise a re-consent the operator's rule allows: a STOP texted since the bridge last wrote the contact is
        # not in the entry, and only the gateway's look-up shows whether the opt-in must be written over it. (With
        # re-consent on for a source, its opt-ins cost a look-up and a write even when nothing else changed.)
        step = drafted.upserts[lane.upsert]
        if contact.is_opted_out is False and self._reconsent.consent_time(
            step.consent_source, step.consent, claim_received_at(step)
        ):
            return None
        return entry if unchanged(contact, entry, void_ms) else None

    # ------------------------------------------------------------------ after Heymarket

    def record(
        self, admission: Admission, execution: Execution, verdicts: Sequence[Verdict]
    ) -> dict[str, GatewayFailure]:
        """Give back every lease with its outcome. Returns the members delivered whose outcome could not be recorded
        (by message id, with the failure to redeliver them with)."""
        before = admission.before or {}
        fates = {verdict.member.record.message_id: verdict.fate for verdict in verdicts}
        releases: dict[str, Release] = {}
        outcomes: list[tuple[_Lane, list[Member], frozenset[str]]] = []
        voids: list[Member] = []
        hold = self._clock_ms() + self._margin_ms
        for lane in _lanes(admission.plan):
            delivered = [m for m in lane.members if fates.get(m.record.message_id) is Fate.DELIVERED]
            states = self._outcome(admission, execution, lane, delivered) if delivered else {}
            in_doubt = not delivered and _in_doubt(execution, lane)
            for phone in lane.phones:
                if phone in before:
                    state, entry = states.get(phone), before[phone]
                    if in_doubt and entry is not None:
                        # The write may have landed: what the entry says was last stored may no longer be, so an
                        # operation equal to it is sent, not skipped as unchanged, and the contact is looked up. A
                        # lane dead-lettered so (its last receive) counts as applied for the order: an older
                        # operation arriving later must not undo what may have landed (a STOP); its members come
                        # back only by a redrive, which says so. A lane redelivered comes back whole instead.
                        dead = all(fates.get(m.record.message_id) is Fate.DEAD for m in lane.members)
                        newest = max(operation_rank(m.operation) for m in lane.members) if dead else 0
                        state = _in_doubt_state(entry, newest)
                    releases[phone] = Release(phone, admission.token, state, hold if in_doubt else None)
            outcomes.append((lane, delivered, frozenset(states)))
            deleted = lane.delete is not None and isinstance(execution.deletes[lane.delete], Deleted)
            if deleted and any(_by_id(m) for m in delivered):
                voids.extend(delivered)
        for phone in before:  # leased for a lane that was held in the end
            releases.setdefault(phone, Release(phone, admission.token, None))
        released = self._port.release(list(releases.values())) if releases else frozenset()
        self._bind(
            [
                binding
                for phone, release in releases.items()
                if phone in released
                and release.state is not None
                and release.hold_until_ms is None
                and (binding := rebound(before[phone], release.state)) is not None
            ]
        )
        unrecorded: dict[str, GatewayFailure] = {}
        lost = StateNotReady(
            "Heymarket has the change, but the contact state table could not record it; it is sent again later"
        )
        for _lane, delivered, recorded in outcomes:
            if any(phone not in released for phone in recorded):
                unrecorded.update((m.record.message_id, lost) for m in delivered)
        if voids:
            try:
                self._port.void(self._clock_ms() + VOID_MARGIN_MS)
            except StateUnavailable as exc:
                logger.warning("Could not record a delete by contact id", extra={"error": str(exc)})
                unrecorded.update((m.record.message_id, lost) for m in voids)
        if unrecorded:
            logger.warning(
                "Contact state not recorded; the operations are sent again", extra={"count": len(unrecorded)}
            )
        return unrecorded

    def _bind(self, bindings: Sequence[Binding]) -> None:
        """Bind the contacts stored for phones they were not bound to, releasing their old phones. A failure is
        logged: the old phone's next write by that contact's id finds the contact moved (the gateway compares the
        answer's phone with the phone sent) and goes through a look-up."""
        if not bindings:
            return
        try:
            moved = self._port.bind(bindings)
        except StateUnavailable as exc:
            logger.warning("Could not record which phone a contact is bound to", extra={"error": str(exc)})
            return
        if moved:
            emit_metric("PhoneBindingsReleased", value=len(moved))
            logger.info(
                "Contacts stored for a new phone: their old phones are no longer bound to them",
                extra={"phones": [mask_phone(phone) for phone in sorted(moved)][:20], "count": len(moved)},
            )

    def _outcome(
        self, admission: Admission, execution: Execution, lane: _Lane, delivered: list[Member]
    ) -> dict[str, ContactState]:
        """Each phone's entry after a lane whose `delivered` members were applied."""
        before = admission.before or {}
        newest = max(operation_rank(m.operation) for m in delivered)
        upserted = execution.upserts[lane.upsert] if lane.upsert is not None else None
        if isinstance(upserted, Stored):
            assert lane.upsert is not None
            contact = admission.plan.upserts[lane.upsert].contact
            if upserted.consent_held_back is not None:
                # What was stored, not the opt-in held back: a later opt-in is then not skipped as unchanged (a
                # re-consent must reach the gateway, and a repeated one is held back again, on record).
                contact = replace(contact, is_opted_out=upserted.opted_out)
            states = {
                phone: forgotten(before.get(phone), phone, newest) for phone in lane.phones if phone != contact.phone
            }
            states[contact.phone] = stored_state(
                before.get(contact.phone),
                contact,
                upserted.identity,
                upserted.held,
                existed=upserted.existed,
                applied_ms=newest,
                confirmed_ms=admission.now_ms,
                void_ms=admission.void_ms,
            )
            return states
        if lane.delete is not None and isinstance(execution.deletes[lane.delete], Deleted):
            expires = admission.now_ms // 1000 + self._tombstone_s
            return {phone: tombstone(before.get(phone), phone, newest, expires) for phone in lane.phones}
        return {}


def _lanes(plan: Plan) -> list[_Lane]:
    """A plan's steps grouped by contact: each delete step with the upsert step that follows it, if any."""
    following = {step.after: n for n, step in enumerate(plan.upserts) if step.after is not None}
    lanes: list[_Lane] = []
    for d, step in enumerate(plan.deletes):
        u = following.get(d)
        members = step.members + (plan.upserts[u].members if u is not None else ())
        lanes.append(_Lane(d, u, members, _phones(members)))
    lanes.extend(
        _Lane(None, u, step.members, _phones(step.members)) for u, step in enumerate(plan.upserts) if step.after is None
    )
    return lanes


def _phones(members: Sequence[Member]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p for m in members if (p := operation_phone(m.operation)) is not None))


def _in_doubt(execution: Execution, lane: _Lane) -> bool:
    """Whether a step of the lane failed with a request whose outcome is unknown: it may still take effect."""
    results = [
        *([execution.deletes[lane.delete]] if lane.delete is not None else []),
        *([execution.upserts[lane.upsert]] if lane.upsert is not None else []),
    ]
    return any(isinstance(r, NotDone) and r.failure.outcome_unknown for r in results)


def _by_id(member: Member) -> bool:
    return isinstance(member.operation, DeleteOperation) and member.operation.target.contact_id is not None


def _known(step: UpsertStep, before: Mapping[str, ContactState | None]) -> UpsertStep:
    """An upsert step with what the state knows of its contact, if it names none itself and follows no delete."""
    entry = before.get(step.contact.phone)
    if step.after is not None or step.contact.contact_id is not None or entry is None:
        return step
    return replace(step, known=entry.known())


def _holding(plan: Plan, held: Sequence[tuple[Member, GatewayFailure]]) -> Plan:
    """The plan with the members that wait added, each with the failure that makes it wait."""
    if not held:
        return plan
    return replace(plan, decided=plan.decided + tuple(Decided((member,), failure) for member, failure in held))


def _in_doubt_state(entry: ContactState, newest: int) -> ContactState:
    """The entry after a write whose outcome is unknown (`newest`: the rank to record as applied, 0 for none): its
    time, identifiers and snapshot, without the digests of what was last confirmed stored (the write may have
    changed it) nor the confirmation (`ContactState.known` then says the contact is in doubt: it is looked up, and
    what the look-up shows empty is filled from the snapshot)."""
    return replace(entry, applied_ms=max(entry.applied_ms, newest), digests={}, confirmed_ms=0, lease=None)
