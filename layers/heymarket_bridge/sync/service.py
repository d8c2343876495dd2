"""The sync domain: decide what a batch of queued operations means, have Heymarket do it, then settle each message.

A use case in three steps over immutable values:

1. plan (pure): read each message; group operations on the same contact into lanes (heymarket_bridge.sync.lanes);
   merge each lane's upserts into the one contact to send, once, after custom-field titles are resolved;
2. execute (through `HeymarketPort`): the deletes of every lane first, then the upserts; an upsert that follows a
   delete goes only once that delete succeeded;
3. settle (pure): each message shares the fate of what was sent for it: delivered; refused for good (a dead letter
   with the reason); left for SQS to redeliver; or, while the bridge itself is misconfigured (or Heymarket keeps
   throttling it on a message's last receive), put back on the queue to wait without using up its receives.

Tags by name and lists (heymarket_bridge.sync.lists.steps) hook in around these steps: tag names are looked up before
the
plan, list writes follow the contact writes, and the list-write follow-ups of earlier batches are settled with the rest.

With a contact state (heymarket_bridge.sync.state.guard), the plan covers only what the state admits (operations older
than the newest applied to their contact, and contacts that would not change, are delivered without a request;
contacts another invocation is changing wait), known contacts carry their identifiers, and the outcome is recorded
before the messages are settled.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from heymarket_bridge.domain.consent import ConsentClaim, ConsentLog
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomFieldIndex, titles_in
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    ConsentRecordUnavailable,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
    reworded,
)
from heymarket_bridge.domain.operations import (
    ContactOperation,
    DeadLetter,
    DeleteOperation,
    DeleteTarget,
    MalformedMessage,
    Operation,
    QueuedOperation,
    consent_of,
    parse_operation,
)
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.observability import logger, mask_phone, redact
from heymarket_bridge.sync.consent_record import consent_changes, superseded_changes
from heymarket_bridge.sync.lanes import merge_contacts, plan_lanes
from heymarket_bridge.sync.lists.rules import Listed, TagLookup, resolve_tags, without_superseded_tags
from heymarket_bridge.sync.lists.steps import Segmenter
from heymarket_bridge.sync.model import Deleted, DeleteResult, KnownContact, NotDone, Stored, UpsertResult
from heymarket_bridge.sync.ports import HeymarketPort
from heymarket_bridge.sync.state.rules import StateNotReady, operation_ms

if TYPE_CHECKING:
    from heymarket_bridge.sync.state.guard import Admission, ContactStateGuard


@dataclass(frozen=True)
class QueueRecord:
    """What the sync side needs of one SQS record."""

    message_id: str
    body: str
    receive_count: int
    sent_timestamp_ms: int = 0


@dataclass(frozen=True)
class Member:
    """A queue record and the operation it carries."""

    record: QueueRecord
    operation: QueuedOperation


class DeadLetterSink(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        """Write the letters to the DLQ; return the indexes of those NOT written."""
        ...


class WaitingRoom(Protocol):
    def put_back(self, bodies: Sequence[str]) -> list[int]:
        """Put these message bodies back on the queue, to be received again later as new messages (a receive count
        of zero); return the indexes of those NOT put back."""
        ...


# ------------------------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class DeleteStep:
    """A lane's deletes, sent together; the upserts they make moot are members too and share their fate."""

    targets: tuple[DeleteTarget, ...]
    members: tuple[Member, ...]


@dataclass(frozen=True)
class UpsertStep:
    """A lane's upserts merged into the one contact sent; after the delete step `after` (an index), if any."""

    contact: Contact
    members: tuple[Member, ...]
    after: int | None = None
    known: KnownContact | None = None  # what the contact state knows of the contact (heymarket_bridge.sync.state.guard)
    # The source and consent claim behind the contact's `is_opted_out` (ordering.consent_of), when it carries one.
    consent_source: str | None = None
    consent: ConsentClaim | None = None


@dataclass(frozen=True)
class Decided:
    """Members settled while planning, without a Heymarket call (unreadable, or a custom-field title unknown)."""

    members: tuple[Member, ...]
    failure: GatewayFailure


@dataclass(frozen=True)
class Plan:
    deletes: tuple[DeleteStep, ...] = ()
    upserts: tuple[UpsertStep, ...] = ()
    decided: tuple[Decided, ...] = ()
    merged: int = 0  # messages that share another's request


def plan_batch(
    members: Sequence[Member],
    fields: CustomFieldIndex | GatewayFailure | None,
    tags: TagLookup | GatewayFailure | None = None,
) -> Plan:
    """What to send for a batch (members in received order). `fields` resolves custom-field titles: the team's
    field index, the failure that kept it from being read, or None when no contact uses a title; `tags` resolves
    tag names the same way (heymarket_bridge.sync.lists.rules.resolve_tags)."""
    deletes: list[DeleteStep] = []
    upserts: list[UpsertStep] = []
    decided: list[Decided] = []
    for lane in plan_lanes([member.operation for member in members]):
        after: int | None = None
        if lane.deletes:
            targets = dict.fromkeys(_target(members[i].operation) for i in lane.deletes)
            moot = tuple(members[i] for i in sorted(lane.deletes + lane.superseded))
            after = len(deletes)
            deletes.append(DeleteStep(tuple(targets), moot))
        if not lane.upserts:
            continue
        lane_members = tuple(members[i] for i in lane.upserts)
        contacts = without_superseded_tags([_contact(member.operation) for member in lane_members])
        if any(titles_in(contact.custom) for contact in contacts):
            resolved = _resolve_titles(contacts, fields)
            if isinstance(resolved, GatewayFailure):
                decided.append(Decided(lane_members, resolved))
                continue
            contacts = resolved
        if any(contact.tag_names() for contact in contacts):
            named = resolve_tags(contacts, tags)
            if isinstance(named, GatewayFailure):
                decided.append(Decided(lane_members, named))
                continue
            contacts = named
        deleted_ids = (
            frozenset(t.contact_id for t in deletes[after].targets if t.contact_id)
            if after is not None
            else frozenset()
        )
        source, claim = consent_of([_operation(member.operation) for member in lane_members])
        upserts.append(UpsertStep(merge_contacts(contacts, deleted_ids), lane_members, after, None, source, claim))
    merged = len(members) - len(deletes) - len(upserts) - sum(len(d.members) for d in decided)
    return Plan(tuple(deletes), tuple(upserts), tuple(decided), merged)


def _resolve_titles(
    contacts: list[Contact], fields: CustomFieldIndex | GatewayFailure | None
) -> list[Contact] | GatewayFailure:
    if fields is None or isinstance(fields, GatewayFailure):
        failure = fields or TransientFailure("the custom fields were not read")
        return reworded(failure, f"reading Heymarket's custom fields failed: {failure.reason}")
    unknown = list(dict.fromkeys(title for contact in contacts for title in fields.unknown(contact.custom)))
    if unknown:
        names = ", ".join(repr(title) for title in unknown)
        logger.error(
            "Custom field title unknown to Heymarket; contact dead-lettered",
            extra={"titles": unknown, "phone": mask_phone(contacts[0].phone)},
        )
        return PermanentFailure(
            f"custom field {names} is not a custom field title of this Heymarket account "
            "(create it in Heymarket, or key the value by the field's id)"
        )
    return [
        Contact.from_dict({**contact.to_dict(), "custom": fields.resolve(contact.custom)})
        if contact.custom
        else contact
        for contact in contacts
    ]


# ------------------------------------------------------------------------------------------------ execute


@dataclass(frozen=True)
class Execution:
    """What Heymarket did for each step of a plan, in the plan's order."""

    deletes: tuple[DeleteResult, ...]
    upserts: tuple[UpsertResult, ...]


def execute(
    plan: Plan, heymarket: HeymarketPort, deadline: Deadline, reconsent: ReconsentRule = NO_RECONSENT
) -> Execution:
    """Deletes first, then the upserts whose delete (if any) succeeded; an upsert waits with a delete that failed,
    since sending it would let the delete, when retried, remove what the upsert wrote. `reconsent` names the sources
    whose opt-ins may opt a person back in (heymarket_bridge.domain.reconsent)."""
    targets = [target for step in plan.deletes for target in step.targets]
    answers = iter(heymarket.delete(targets, deadline) if targets else [])
    deletes = tuple(_all_gone([next(answers) for _ in step.targets]) for step in plan.deletes)
    ready = [n for n, step in enumerate(plan.upserts) if step.after is None or isinstance(deletes[step.after], Deleted)]
    contacts, known = [plan.upserts[n].contact for n in ready], [plan.upserts[n].known for n in ready]
    times = _reconsent_times([plan.upserts[n] for n in ready], reconsent)
    stored = dict(zip(ready, heymarket.upsert(contacts, deadline, known, times) if ready else [], strict=True))
    upserts: list[UpsertResult] = []
    for n, step in enumerate(plan.upserts):
        if n in stored:
            upserts.append(stored[n])
            continue
        blocked = deletes[step.after] if step.after is not None else None
        assert isinstance(blocked, NotDone)  # an upsert not sent follows a delete that was not done
        why = "failed" if isinstance(blocked.failure, PermanentFailure) else "could not be sent yet"
        reason = f"the delete received before it {why}: {blocked.failure.reason}"
        upserts.append(NotDone(reworded(blocked.failure, reason)))
    return Execution(deletes, tuple(upserts))


def _reconsent_times(steps: Sequence[UpsertStep], reconsent: ReconsentRule) -> list[str | None]:
    """For each step, the consent time its opt-in may opt a person back in with (None: it may not)."""
    if not reconsent:
        return []
    return [
        reconsent.consent_time(step.consent_source, step.consent, claim_received_at(step))
        if step.contact.is_opted_out is False
        else None
        for step in steps
    ]


def claim_received_at(step: UpsertStep) -> str | None:
    """When the bridge received the (earliest) operation whose consent claim the step carries."""
    times = [
        m.operation.received_at
        for m in step.members
        if isinstance(m.operation, ContactOperation) and m.operation.consent == step.consent
    ]
    return min(times) if times else None


def _all_gone(results: list[DeleteResult]) -> DeleteResult:
    """A delete step is done when every one of its targets is gone; else it shares its first failure."""
    failed = [result for result in results if isinstance(result, NotDone)]
    if failed:
        return failed[0]
    done = [result for result in results if isinstance(result, Deleted)]
    return Deleted(sum(r.count for r in done), next((r.request_id for r in done if r.request_id), None))


# ------------------------------------------------------------------------------------------------ settle


class Fate(Enum):
    DELIVERED = "delivered"
    REDELIVER = "redeliver"  # transient: SQS delivers it again after the visibility timeout
    WAIT = "wait"  # the bridge is misconfigured, or throttled to the end: put back, its receives not used up
    DEAD = "dead"  # refused for good, or failed on its last receive: a dead letter says why


@dataclass(frozen=True)
class Verdict:
    member: Member
    fate: Fate
    failure: GatewayFailure | None = None


@dataclass
class SyncReport:
    failed_message_ids: list[str] = field(default_factory=list)
    delivered_contacts: int = 0
    rejected_contacts: int = 0
    retried_messages: int = 0
    dead_lettered_messages: int = 0
    waiting_messages: int = 0
    merged_messages: int = 0
    heymarket_requests: int = 0
    updated_existing: int = 0  # contacts Heymarket already held, updated
    deleted_contacts: int = 0  # contacts deleted by delete requests
    listed_contacts: int = 0  # stored contacts (and follow-ups) whose lists were all written
    list_follow_ups: int = 0  # stored contacts whose lists are written later, by a follow-up message
    list_writes_dead_lettered: int = 0  # list writes Heymarket refused for good (their contacts are stored)
    superseded_operations: int = 0  # older than the newest operation applied to their contact: skipped
    unchanged_skipped: int = 0  # their contact would not change: delivered without a request
    consent_changes_recorded: int = 0  # consent changes written to the consent record
    consent_records_failed: int = 0  # consent changes the record could not take (counted, logged)
    configuration_error: str | None = None


def settle(
    plan: Plan,
    execution: Execution,
    *,
    max_receive_count: int,
    waited_too_long: Callable[[QueuedOperation], bool],
    also: Sequence[tuple[tuple[Member, ...], Listed | NotDone]] = (),
) -> list[Verdict]:
    """Each member's fate, from the outcome of the step it belongs to (`also`: list-write follow-ups' outcomes)."""
    verdicts: list[Verdict] = []
    outcomes: list[tuple[tuple[Member, ...], UpsertResult | DeleteResult | Listed]] = [
        *((d.members, NotDone(d.failure)) for d in plan.decided),
        *zip((s.members for s in plan.deletes), execution.deletes, strict=True),
        *zip((s.members for s in plan.upserts), execution.upserts, strict=True),
        *also,
    ]
    for members, outcome in outcomes:
        for member in members:
            verdicts.append(_verdict(member, outcome, max_receive_count, waited_too_long))
    return verdicts


def _verdict(
    member: Member,
    outcome: UpsertResult | DeleteResult | Listed,
    max_receive_count: int,
    waited_too_long: Callable[[QueuedOperation], bool],
) -> Verdict:
    if not isinstance(outcome, NotDone):
        return Verdict(member, Fate.DELIVERED)
    failure = outcome.failure
    if isinstance(failure, PermanentFailure):
        return Verdict(member, Fate.DEAD, failure)
    final = member.record.receive_count >= max_receive_count
    waits = isinstance(failure, ConfigurationFailure) or (
        final and isinstance(failure, TransientFailure) and (failure.throttled or isinstance(failure, StateNotReady))
    )
    if waits:
        if waited_too_long(member.operation):
            reason = f"waited as long as the queue keeps messages, and still: {failure.reason}"
            return Verdict(member, Fate.DEAD, reworded(failure, reason))
        return Verdict(member, Fate.WAIT, failure)
    return Verdict(member, Fate.DEAD if final else Fate.REDELIVER, failure)


# ------------------------------------------------------------------------------------------------ the use case


class SyncService:
    """Delivers a batch of queue records to Heymarket and reports which messages SQS must redeliver.

    One instance per execution environment: it keeps the team's custom fields between invocations.
    """

    def __init__(
        self,
        heymarket: HeymarketPort,
        dead_letters: DeadLetterSink,
        waiting_room: WaitingRoom,
        *,
        max_receive_count: int,
        deadline_reserve_s: float = 5.0,
        max_wait_s: float = 4 * 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        segments: Segmenter | None = None,
        contact_state: ContactStateGuard | None = None,
        consent_log: ConsentLog | None = None,
        reconsent: ReconsentRule = NO_RECONSENT,
    ) -> None:
        self._consent_log = consent_log
        self._heymarket = heymarket
        self._reconsent = reconsent
        self._segments = segments or Segmenter.disabled()
        self._state = contact_state
        self._dead_letters = dead_letters
        self._waiting_room = waiting_room
        self._max_receive_count = max_receive_count
        self._reserve_s = deadline_reserve_s
        self._max_wait_s = max_wait_s
        self._clock = clock
        self._wall_clock = wall_clock
        # The team's custom fields, read once per cold start and again (once per invocation) for an unknown title.
        self._fields: CustomFieldIndex | None = None

    def process(self, records: Sequence[QueueRecord], remaining_s: Callable[[], float]) -> SyncReport:
        deadline = Deadline(self._clock() + remaining_s() - self._reserve_s, self._clock)
        members, unreadable = _read(records)
        prepared = self._segments.prepare(members, deadline)  # list-write follow-ups set apart, tag names looked up
        members = prepared.members
        fields = self._custom_fields(members, deadline)
        admission = None
        if self._state is None:
            plan = plan_batch(members, fields, prepared.tags)
        else:
            admission = self._state.admit(
                members, lambda batch: plan_batch(batch, fields, prepared.tags), deadline.remaining()
            )
            plan = admission.plan
        execution = execute(plan, self._heymarket, deadline, self._reconsent)
        plan, execution = self._retagged(plan, execution, deadline)
        if admission is not None:
            admission = replace(admission, plan=plan)
        lists = self._segments.finish(prepared, _stored(plan, execution), deadline)
        verdicts = settle(
            plan,
            execution,
            max_receive_count=self._max_receive_count,
            waited_too_long=self._waited_too_long,
            also=lists.outcomes,
        )
        report = SyncReport(merged_messages=plan.merged)
        if admission is not None:
            verdicts = self._recorded(admission, execution, verdicts, report)
        _count(plan, execution, report)
        self._record_consent(plan, execution, report, admission)
        report.listed_contacts = lists.listed + sum(
            isinstance(outcome, Listed) and outcome.lists > 0 for _, outcome in lists.outcomes
        )
        letters = [(record, _letter_for_unreadable(record, error)) for record, error in unreadable]
        waiting: list[QueueRecord] = []
        for verdict in verdicts:
            self._log(verdict)
            if verdict.fate is Fate.REDELIVER:
                report.retried_messages += 1
                report.failed_message_ids.append(verdict.member.record.message_id)
            elif verdict.fate is Fate.WAIT:
                waiting.append(verdict.member.record)
            elif verdict.fate is Fate.DEAD:
                assert verdict.failure is not None
                letters.append((verdict.member.record, _letter(verdict.member, verdict.failure)))
            if isinstance(verdict.failure, ConfigurationFailure):
                report.configuration_error = verdict.failure.reason
        self._put_back(waiting, report)
        self._write_letters(letters, report)
        unqueued = self._segments.queue(lists.follow_ups)
        report.list_follow_ups = len(lists.follow_ups) - len(unqueued)
        self._write_list_letters([*lists.letters, *unqueued], report)
        return report

    def _record_consent(
        self, plan: Plan, execution: Execution, report: SyncReport, admission: Admission | None = None
    ) -> None:
        """Write the batch's consent changes to the consent record (heymarket_bridge.sync.consent_record), once
        Heymarket
        answered. A record that cannot be written is counted and logged (masked) and never holds a contact back:
        the contact's opt-out reaching Heymarket matters more than its proof, and a redelivery would not record it
        either (its contact, unchanged since, is skipped without a write)."""
        if self._consent_log is None:
            return
        steps = [
            ([_operation(member.operation) for member in step.members], step.contact, result)
            for step, result in zip(plan.upserts, execution.upserts, strict=True)
        ]
        now = self._wall_clock().astimezone(UTC).isoformat(timespec="milliseconds")
        skipped = [
            _operation(skip.member.operation)
            for skip in (admission.skipped if admission is not None else ())
            if skip.why.value == "superseded" and isinstance(skip.member.operation, ContactOperation)
        ]
        changes = consent_changes(steps, now) + superseded_changes(skipped, now)
        if not changes:
            return
        try:
            report.consent_changes_recorded += self._consent_log.record(changes)
        except ConsentRecordUnavailable as exc:
            report.consent_records_failed += len(changes)
            logger.error(
                "Consent changes not recorded",
                extra={
                    "error": str(exc),
                    "changes": [
                        {
                            "phone": mask_phone(change.phone),
                            "source": change.source,
                            "delivery_id": change.delivery_id,
                            "event_id": change.event_id,
                            "opted_out": change.opted_out,
                            "action": change.action.value,
                        }
                        for change in changes[:20]
                    ],
                },
            )

    def _retagged(self, plan: Plan, execution: Execution, deadline: Deadline) -> tuple[Plan, Execution]:
        """Contacts Heymarket refused whose tags were given by name are sent again, once, if the team's tags read
        afresh give other ids (heymarket_bridge.sync.lists.steps.Segmenter.retag)."""
        refused = [
            n
            for n, result in enumerate(execution.upserts)
            if isinstance(result, NotDone) and isinstance(result.failure, PermanentFailure)
        ]
        if not refused:
            return plan, execution
        steps, results = list(plan.upserts), list(execution.upserts)
        fresh = self._segments.retag(
            [(steps[n].contact, [_contact(m.operation) for m in steps[n].members]) for n in refused], deadline
        )
        again: list[int] = []
        for n, found in zip(refused, fresh, strict=True):
            if isinstance(found, Contact):
                steps[n] = replace(steps[n], contact=found)
                again.append(n)
            elif found is not None:
                results[n] = NotDone(found)
        if again:
            contacts, known = [steps[n].contact for n in again], [steps[n].known for n in again]
            times = _reconsent_times([steps[n] for n in again], self._reconsent)
            answers = self._heymarket.upsert(contacts, deadline, known, times)
            for n, answer in zip(again, answers, strict=True):
                earlier = results[n]
                if isinstance(earlier, NotDone) and earlier.failure.outcome_unknown and isinstance(answer, NotDone):
                    answer.failure.outcome_unknown = True  # an earlier write of it may have taken effect
                results[n] = answer
        return replace(plan, upserts=tuple(steps)), replace(execution, upserts=tuple(results))

    def _recorded(
        self, admission: Admission, execution: Execution, verdicts: list[Verdict], report: SyncReport
    ) -> list[Verdict]:
        """The verdicts once the contact state recorded the outcome: a delivered member whose outcome could not be
        recorded is redelivered; the members the state skipped are delivered."""
        assert self._state is not None
        unrecorded = self._state.record(admission, execution, verdicts)
        recorded = [
            self._unrecorded(v.member, unrecorded[v.member.record.message_id])
            if v.member.record.message_id in unrecorded
            else v
            for v in verdicts
        ]
        report.superseded_operations, report.unchanged_skipped = admission.superseded, admission.unchanged
        return recorded + [Verdict(skipped.member, Fate.DELIVERED) for skipped in admission.skipped]

    def _unrecorded(self, member: Member, failure: GatewayFailure) -> Verdict:
        return _verdict(member, NotDone(failure), self._max_receive_count, self._waited_too_long)

    def _custom_fields(self, members: Sequence[Member], deadline: Deadline) -> CustomFieldIndex | GatewayFailure | None:
        """The field index if any contact names a field by title (None if none does): cached, re-read at most once
        per invocation when a title is not in it (a field created since)."""
        contacts = [m.operation.contact for m in members if isinstance(m.operation, ContactOperation)]
        titled = [c for c in contacts if titles_in(c.custom)]
        if not titled:
            return None
        if self._fields is not None and not any(self._fields.unknown(c.custom) for c in titled):
            return self._fields
        try:
            self._fields = CustomFieldIndex(self._heymarket.custom_fields(deadline))
        except GatewayFailure as failure:
            return failure
        logger.info("Read Heymarket's custom fields", extra={"count": len(self._fields)})
        return self._fields

    def _waited_too_long(self, operation: QueuedOperation) -> bool:
        try:
            received = datetime.fromisoformat(operation.received_at)
        except ValueError:
            return False
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        return (self._wall_clock() - received).total_seconds() >= self._max_wait_s

    def _log(self, verdict: Verdict) -> None:
        if verdict.fate is Fate.DELIVERED:
            return
        record, operation, failure = verdict.member.record, verdict.member.operation, verdict.failure
        log_fields = {
            **_identity(operation),
            "operation": operation.op.value,
            "correlation_id": operation.correlation_id,
            "message_id": record.message_id,
            "receive_count": record.receive_count,
            "error": redact(failure.reason if failure else ""),
            "heymarket_request_id": failure.request_id if failure else None,
        }
        if verdict.fate is Fate.REDELIVER:
            logger.warning("Contact not delivered; SQS will redeliver it", extra=log_fields)
        elif verdict.fate is Fate.WAIT and isinstance(failure, ConfigurationFailure):
            logger.warning("Contact waits for the bridge's configuration to be fixed", extra=log_fields)
        elif verdict.fate is Fate.WAIT:
            logger.warning("Contact put back on the queue to wait (its last receive came too soon)", extra=log_fields)
        else:
            logger.error("Contact dead-lettered", extra=log_fields)

    def _put_back(self, waiting: list[QueueRecord], report: SyncReport) -> None:
        if not waiting:
            return
        unsent = set(self._waiting_room.put_back([record.body for record in waiting]))
        for index, record in enumerate(waiting):
            if index in unsent:
                report.failed_message_ids.append(record.message_id)  # SQS redelivers it instead
            else:
                report.waiting_messages += 1
        if unsent:
            logger.error("Could not put waiting messages back on the queue", extra={"count": len(unsent)})

    def _write_letters(self, letters: list[tuple[QueueRecord, DeadLetter]], report: SyncReport) -> None:
        if not letters:
            return
        unwritten = set(self._dead_letters.write([letter for _, letter in letters]))
        for index, (record, _) in enumerate(letters):
            if index in unwritten:
                # Keep the message: SQS redelivers it, and moves it to the DLQ itself as a last resort.
                report.failed_message_ids.append(record.message_id)
            else:
                report.dead_lettered_messages += 1
        if unwritten:
            logger.error(
                "Could not write to the DLQ; leaving the messages in the queue", extra={"count": len(unwritten)}
            )

    def _write_list_letters(self, letters: Sequence[tuple[tuple[Member, ...], DeadLetter]], report: SyncReport) -> None:
        """List writes of stored contacts that go to the DLQ (refused, or not queued for later). A letter that cannot be
        written either has its contact's messages redelivered: the last resort, which writes the contact again."""
        if not letters:
            return
        unwritten = set(self._dead_letters.write([letter for _, letter in letters]))
        for index, (members, _) in enumerate(letters):
            if index in unwritten:
                report.failed_message_ids.extend(member.record.message_id for member in members)
            else:
                report.list_writes_dead_lettered += 1
        if unwritten:
            logger.error(
                "Could not write list writes to the DLQ; redelivering their contacts", extra={"count": len(unwritten)}
            )


def _stored(plan: Plan, execution: Execution) -> list[tuple[tuple[Member, ...], Contact, bool | None]]:
    """The contacts confirmed stored: the members merged into each, the contact sent, and whether it ended opted out."""
    return [
        (step.members, step.contact, result.opted_out)
        for step, result in zip(plan.upserts, execution.upserts, strict=True)
        if isinstance(result, Stored)
    ]


def _read(records: Sequence[QueueRecord]) -> tuple[list[Member], list[tuple[QueueRecord, str]]]:
    members: list[Member] = []
    unreadable: list[tuple[QueueRecord, str]] = []
    for record in records:
        try:
            members.append(Member(record, parse_operation(record.body)))
        except MalformedMessage as exc:
            logger.error("Unreadable queue message", extra={"message_id": record.message_id, "error": str(exc)})
            unreadable.append((record, str(exc)))
    # In the order of the operations' times (the source's event time, else when the bridge received them), then
    # when the bridge received them, then when SQS got them.
    members.sort(key=lambda m: (operation_ms(m.operation), m.operation.received_at, m.record.sent_timestamp_ms))
    return members, unreadable


def _count(plan: Plan, execution: Execution, report: SyncReport) -> None:
    for result in execution.upserts:
        if isinstance(result, Stored):
            report.delivered_contacts += 1
            report.updated_existing += result.existed
        elif isinstance(result.failure, PermanentFailure):
            report.rejected_contacts += 1
    report.rejected_contacts += sum(isinstance(d.failure, PermanentFailure) for d in plan.decided)
    for deleted in execution.deletes:
        if isinstance(deleted, Deleted):
            report.deleted_contacts += deleted.count
        elif isinstance(deleted.failure, PermanentFailure):
            report.rejected_contacts += 1


def _target(operation: QueuedOperation) -> DeleteTarget:
    assert isinstance(operation, DeleteOperation)  # lanes list deletes by index
    return operation.target


def _operation(operation: QueuedOperation) -> ContactOperation:
    assert isinstance(operation, ContactOperation)  # lanes list upserts by index
    return operation


def _contact(operation: QueuedOperation) -> Contact:
    assert isinstance(operation, ContactOperation)  # lanes list upserts by index
    return operation.contact


def _identity(operation: QueuedOperation) -> dict[str, str]:
    """How a log line names the contact: masked phone, or the Heymarket id (not personal data)."""
    if isinstance(operation, ContactOperation):
        return {"phone": mask_phone(operation.contact.phone)}
    if operation.target.phone is not None:
        return {"phone": mask_phone(operation.target.phone)}
    return {"contact_id": operation.target.contact_id or ""}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _letter(member: Member, failure: GatewayFailure) -> DeadLetter:
    operation, record = member.operation, member.record
    if isinstance(operation, ContactOperation):
        # A list-write follow-up shows its phone and lists (the v2 contact body has no lists).
        lists_only = operation.op is Operation.LISTS
        contact = operation.contact.to_dict() if lists_only else operation.contact.to_heymarket()
    else:
        contact = operation.target.to_dict()
    error = failure.reason or "not delivered"
    if failure.outcome_unknown:
        error += " (the last write of this contact may have taken effect in Heymarket)"
    return DeadLetter(
        error=error,
        attempts=record.receive_count,
        source=operation.source,
        received_at=operation.received_at,
        contact=contact,
        correlation_id=operation.correlation_id,
        operation_id=operation.operation_id,
        # The operation's own message, not the record's body: a letter moved back by SQS's redrive and refused
        # again must hold the original message, not a letter inside a letter. An operator's `force` does not
        # outlive the redrive it was given for: a later plain redrive of this letter is skipped if superseded.
        message=dataclasses.replace(operation, force=False).to_json(),
        failed_at=_now(),
        heymarket_request_id=failure.request_id,
    )


def _letter_for_unreadable(record: QueueRecord, error: str) -> DeadLetter:
    return DeadLetter(
        error=error,
        attempts=record.receive_count,
        source="unknown",
        received_at="",
        contact=None,
        message=record.body,
        failed_at=_now(),
    )
