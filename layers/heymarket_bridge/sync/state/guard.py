"""The contact state applied to one batch (rules: heymarket_bridge.sync.state.rules), through its port.

`ContactStateGuard.admit` runs before Heymarket is called:

1. read the entries of every phone in the batch at once;
2. skip the operations older than the newest applied to their contact (superseded: delivered, counted, logged);
3. plan the rest (the caller's `plan_batch`); a lane whose contact would not change is delivered without a request,
   its time recorded (`Advance`); every other lane takes a lease on its phones (`Claim`), both as conditional writes
   in one batch: written only if the entry is still as read. A refused write brings the entry as it now is, and its
   lane is decided again (it may now be superseded); a lane meeting another invocation's live lease waits
   (`StateNotReady`: redelivered), never out of order, and marks that it goes next (`priority.py`: none starves it);
4. the plan of the lanes admitted, each known contact's identifiers attached to its upsert.

`ContactStateGuard.record` runs once each message's fate is known: every lease given back with its lane's outcome
(the contact stored, a tombstone, or the entry as it was; a request that may still take effect keeps the lease a
lease margin longer, so that no newer write lands before it). A delivered lane whose outcome could not be recorded is
redelivered (the table never misses the newest operation applied); a delete by contact id records its time (`void`).
A contact stored for a phone not bound to it is bound to it (`bind`), releasing its old phone (the contact moved).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import TYPE_CHECKING

from heymarket_bridge.domain.failures import GatewayFailure
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.domain.records import record
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.failures import StateNotReady, StateUnavailable
from heymarket_bridge.sync.model import (
    Advance,
    Binding,
    Claim,
    ContactState,
    Execution,
    Fate,
    Lease,
    Member,
    Plan,
    Release,
    Verdict,
    Wait,
    WriteResult,
    claim_received_at,
)
from heymarket_bridge.sync.state.outcome import (
    ContactLane,
    bindings_to_record,
    contact_lanes,
    entries_after,
    holding,
    in_doubt,
    newest_rank,
    phones_of,
    releases_of,
    unrecorded_members,
    voids_of,
    with_known,
)
from heymarket_bridge.sync.state.priority import YIELDS, gives_way, waits_to_record
from heymarket_bridge.sync.state.rules import (
    DEFAULT_TOMBSTONE_S,
    LEASE_MARGIN_MS,
    RANK_SCALE,
    operation_ms,
    operation_phone,
    received_ms,
    superseded,
    surviving_opt_out,
    unchanged,
)

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import ContactStatePort

MAX_ROUNDS = 3  # rounds of conditional writes before a lane whose entries keep changing waits for a later receive
# Added to the time of a delete by contact id: a claim made on a host whose clock runs a little ahead is not trusted.
VOID_MARGIN_MS = 5_000
BUSY = "another invocation is applying an operation to this contact; tried again later"
LOST = "Heymarket has the change, but the contact state table could not record it; it is sent again later"


class Skip(Enum):
    SUPERSEDED = "superseded"  # older than the newest operation applied to its contact
    UNCHANGED = "unchanged"  # its contact would not change


@record
class Skipped:
    """A member delivered without a Heymarket request."""

    member: Member
    why: Skip


@record
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


@dataclass
class _Admitting:
    """What `admit` knows so far of a batch: the entries as last read or written, the entries of the phones it leased
    as they were before (`before`), and where each member went."""

    entries: dict[str, ContactState | None]
    lease: Lease
    now_ms: int
    void_ms: int
    before: dict[str, ContactState | None] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    held: list[tuple[Member, GatewayFailure]] = field(default_factory=list)
    admitted: list[Member] = field(default_factory=list)


# A lane's writes in one round: the lane, why it is skipped once written (None: admitted), the phones they write.
_Action = tuple[ContactLane, Skip | None, list[str]]


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
        phones = list(phones_of(members))
        try:
            read = self._port.read(phones)
        except StateUnavailable as exc:
            logger.warning("Contact state table unavailable; the batch is tried again later", extra={"error": str(exc)})
            failure = StateNotReady(f"the contact state table could not be read ({exc}); tried again later")
            return Admission(holding(plan([]), [(m, failure) for m in members]), token=token, now_ms=now)
        batch = _Admitting({p: read.entries.get(p) for p in phones}, lease, now, read.void_ms)
        pending = list(members)
        for _ in range(MAX_ROUNDS):
            pending = self._round(batch, pending, plan)
            if not pending:
                break
        batch.held.extend((m, StateNotReady(BUSY)) for m in pending)
        if batch.held:
            logger.info("Contacts being changed by another invocation wait", extra={"count": len(batch.held)})
        final = plan(batch.admitted)
        upserts = tuple(with_known(step, batch.before) for step in final.upserts)
        return Admission(
            holding(replace(final, upserts=upserts), batch.held),
            tuple(batch.skipped),
            token,
            now,
            read.void_ms,
            batch.before,
        )

    def _round(
        self, batch: _Admitting, pending: Sequence[Member], plan: Callable[[Sequence[Member]], Plan]
    ) -> list[Member]:
        """One round of conditional writes: plan what is still live, lease or advance each lane's phones. Returns the
        members to decide again (a write refused: the entries as they now are)."""
        going = [m for m in pending if not gives_way(m, batch.entries, batch.now_ms)]
        batch.held.extend((m, StateNotReady(YIELDS)) for m in pending if m not in going)
        live = [live for m in going if (live := self._live(m, batch.entries, batch.skipped)) is not None]
        drafted = plan(live)
        batch.admitted.extend(m for decided in drafted.decided for m in decided.members)  # settled without a request
        writes: list[Claim | Advance | Wait] = []
        actions: list[_Action] = []
        for lane in contact_lanes(drafted):
            self._decide(drafted, lane, batch, writes, actions)
        try:
            result = self._port.write(writes, batch.now_ms) if writes else WriteResult(frozenset())
        except StateUnavailable as exc:
            logger.warning("Contact state table unavailable; contacts are tried again later", extra={"error": str(exc)})
            failure = StateNotReady(f"the contact state table could not be written ({exc}); tried again later")
            batch.held.extend((m, failure) for lane, _, _ in actions for m in lane.members)
            return []
        _apply(batch, writes, result)
        return _sort(batch, actions, result)

    def _decide(
        self,
        drafted: Plan,
        lane: ContactLane,
        batch: _Admitting,
        writes: list[Claim | Advance | Wait],
        actions: list[_Action],
    ) -> None:
        """A lane's writes: while another invocation leases one of its phones (it waits), only the mark that it goes
        next (`Wait`); an `Advance` for an unchanged contact newer than its entry (none if it is not newer: skipped);
        else a `Claim` per phone."""
        token, now = batch.lease.token, batch.now_ms
        if any((e := batch.entries.get(p)) is not None and e.leased_to_another(token, now) for p in lane.phones):
            batch.held.extend((m, StateNotReady(BUSY)) for m in lane.members)
            writes.extend(waits_to_record(lane.members, lane.phones, batch.entries, token, now))
            return
        entry = self._unchanged(drafted, lane, batch.entries, batch.before, batch.void_ms)
        if entry is not None:
            newest = newest_rank(lane.members)
            if newest > entry.applied_ms:
                writes.append(Advance(entry.phone, entry, newest))
                actions.append((lane, Skip.UNCHANGED, [entry.phone]))
            else:
                batch.skipped.extend(Skipped(m, Skip.UNCHANGED) for m in lane.members)
            return
        claims = [Claim(p, batch.entries.get(p), batch.lease) for p in lane.phones if p not in batch.before]
        writes.extend(claims)
        actions.append((lane, None, [claim.phone for claim in claims]))

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
        ids = {"correlation_id": member.operation.correlation_id, "message_id": member.record.message_id}
        if survivor is not None:
            logger.info(
                "Operation older than the newest applied to its contact; its opt-out alone applies",
                extra={"phone": mask_phone(phone), **ids},
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
                **ids,
            },
        )
        return None

    def _unchanged(
        self,
        drafted: Plan,
        lane: ContactLane,
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
        outcomes: list[tuple[list[Member], frozenset[str]]] = []
        voids: list[Member] = []
        for lane in contact_lanes(admission.plan):
            delivered, states, lane_releases = self._lane_outcome(admission, execution, lane, fates)
            releases.update(lane_releases)
            outcomes.append((delivered, frozenset(states)))
            voids += voids_of(execution, lane, delivered)
        for phone in before:  # leased for a lane that was held in the end
            releases.setdefault(phone, Release(phone, admission.token, None))
        released = self._port.release(list(releases.values())) if releases else frozenset()
        self._bind(bindings_to_record(releases, released, before))
        lost = StateNotReady(LOST)
        unrecorded: dict[str, GatewayFailure] = {
            m.record.message_id: lost for m in unrecorded_members(outcomes, released)
        }
        if voids and not self._void():
            unrecorded.update((m.record.message_id, lost) for m in voids)
        if unrecorded:
            logger.warning(
                "Contact state not recorded; the operations are sent again", extra={"count": len(unrecorded)}
            )
        return unrecorded

    def _lane_outcome(
        self, admission: Admission, execution: Execution, lane: ContactLane, fates: Mapping[str, Fate]
    ) -> tuple[list[Member], dict[str, ContactState], dict[str, Release]]:
        """A lane's members delivered, the entries they leave, and the releases of the phones it leased (held a while
        longer when a step of it may still take effect)."""
        delivered = [m for m in lane.members if fates.get(m.record.message_id) is Fate.DELIVERED]
        states = self._entries_after(admission, execution, lane, delivered) if delivered else {}
        hold = self._clock_ms() + self._margin_ms if not delivered and in_doubt(execution, lane) else None
        return delivered, states, releases_of(lane, states, admission.before or {}, fates, admission.token, hold)

    def _entries_after(
        self, admission: Admission, execution: Execution, lane: ContactLane, delivered: list[Member]
    ) -> dict[str, ContactState]:
        """Each phone's entry after a lane whose `delivered` members were applied."""
        return entries_after(
            admission.plan,
            execution,
            lane,
            delivered,
            admission.before or {},
            now_ms=admission.now_ms,
            void_ms=admission.void_ms,
            tombstone_s=self._tombstone_s,
        )

    def _void(self) -> bool:
        """Record a delete by contact id (now, and a margin); False when the table could not record it."""
        try:
            self._port.void(self._clock_ms() + VOID_MARGIN_MS)
        except StateUnavailable as exc:
            logger.warning("Could not record a delete by contact id", extra={"error": str(exc)})
            return False
        return True

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


class Unguarded:
    """No contact state table: each batch is planned on its own (the bridge as it works without the table), and
    nothing is recorded."""

    def admit(
        self, members: Sequence[Member], plan: Callable[[Sequence[Member]], Plan], remaining_s: float
    ) -> Admission:
        return Admission(plan(members))

    def record(
        self, admission: Admission, execution: Execution, verdicts: Sequence[Verdict]
    ) -> dict[str, GatewayFailure]:
        return {}


def _apply(batch: _Admitting, writes: Sequence[Claim | Advance | Wait], result: WriteResult) -> None:
    """The entries once a round's writes were answered: a claim written leases its phone (its entry before kept), an
    advance written moves the time applied, a wait who goes next; a write refused brings the entry as it now is."""
    for write in writes:
        if write.phone in result.written:
            if isinstance(write, Wait):
                batch.entries[write.phone] = replace(write.expected, waiting_rank=write.rank, rev=-1)
            elif isinstance(write, Claim):
                batch.before[write.phone] = write.expected
                batch.entries[write.phone] = replace(write.expected or ContactState(write.phone), lease=write.lease)
            else:
                batch.entries[write.phone] = replace(write.expected, applied_ms=write.applied_ms, rev=-1)
        elif write.phone in result.refused:
            batch.entries[write.phone] = result.refused[write.phone]


def _sort(batch: _Admitting, actions: Sequence[_Action], result: WriteResult) -> list[Member]:
    """Each lane of a round once its writes were answered: skipped or admitted when all were written; else its
    members are returned, to be decided again with the entries as they now are."""
    pending: list[Member] = []
    for lane, skip, written in actions:
        if not all(phone in result.written for phone in written):
            pending.extend(lane.members)
        elif skip is not None:
            batch.skipped.extend(Skipped(m, skip) for m in lane.members)
        else:
            batch.admitted.extend(lane.members)
    return pending
