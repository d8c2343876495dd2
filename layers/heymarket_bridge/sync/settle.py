"""The sync recipe's last step, pure (it logs, and calls no port): each message's fate, the batch's report, and the
dead letters to write.

Each message shares the fate of what was sent for it: delivered; refused for good (a dead letter with the reason);
left for SQS to redeliver; or, while the bridge itself is misconfigured, or Heymarket is down (or keeps throttling
it, or the contact state is busy, on a message's last receive), put back on the queue to wait without using up its
receives.

"Heymarket is down" and "this contact fails" are told apart by the batch: when every call of the batch failed as
Heymarket fails when down (a 5xx, a 429, a timeout, a connection error: `TransientFailure.unavailable`), or the
invocation's circuit had opened (`circuit_open`), its contacts are redelivered by SQS until their last receive, and
then put back as new messages (their receives counted afresh), each time after a longer delay (`Backoff`): they
wait out the outage. When others of the batch succeeded, the failure is this contact's, and on its last receive it
is dead-lettered, as before. A contact that would outlive the queue's retention while waiting is dead-lettered, with
the reason.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
    failure_kind,
    reworded,
)
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation, QueuedOperation
from heymarket_bridge.domain.records import record
from heymarket_bridge.observability import logger, mask_phone, redact
from heymarket_bridge.sync.failures import StateNotReady
from heymarket_bridge.sync.lists.batch import Finished
from heymarket_bridge.sync.model import (
    Deleted,
    DeleteResult,
    Execution,
    Fate,
    Listed,
    Member,
    NotDone,
    Plan,
    QueueRecord,
    Stored,
    SyncReport,
    UpsertResult,
    Verdict,
)
from heymarket_bridge.sync.state.guard import Admission


@record
class Patience:
    """How long a message may keep failing: `max_receive_count` receives (the queue's redrive policy), and, for a
    message that waits, `max_wait_s` seconds since the bridge received it, as of `now`."""

    max_receive_count: int
    max_wait_s: float
    now: datetime
    outage: Backoff = field(default_factory=lambda: Backoff())

    def waited_too_long(self, operation: QueuedOperation, margin_s: float = 0.0) -> bool:
        """Whether the message, `margin_s` seconds from now, will have waited `max_wait_s` seconds."""
        age = self.age_s(operation)
        return age is not None and age + margin_s >= self.max_wait_s

    def age_s(self, operation: QueuedOperation) -> float | None:
        """Seconds since the bridge received the operation (None: no readable time)."""
        try:
            received = datetime.fromisoformat(operation.received_at)
        except ValueError:
            return None
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        return (self.now - received).total_seconds()


@record
class Backoff:
    """How a contact waits out a Heymarket outage: put back for half as long as it has waited so far, at least
    `base_s` and at most `cap_s` seconds (SQS DelaySeconds: at most 900), so that the delay grows with the outage
    and a contact comes back within `cap_s` of Heymarket's return; dead-lettered once waiting again would bring it
    within `expiry_margin_s` of the queue's retention (`Patience.max_wait_s`)."""

    base_s: int = 60
    cap_s: int = 900
    expiry_margin_s: int = 3600

    def delay_s(self, age_s: float | None) -> int:
        """Seconds to wait before the next try, for a contact received `age_s` seconds ago."""
        return max(self.base_s, min(self.cap_s, int((age_s or 0.0) / 2)))


@dataclass
class Routes:
    """Where the messages of a batch go, besides SQS's redelivery (in the report): back on the queue to wait, or to
    the DLQ (each letter with its record)."""

    waiting: list[tuple[QueueRecord, int | None]]  # each with its delay (None: the queue's put-back delay)
    letters: list[tuple[QueueRecord, DeadLetter]]


def settle(
    plan: Plan,
    execution: Execution,
    patience: Patience,
    also: Sequence[tuple[tuple[Member, ...], Listed | NotDone]] = (),
) -> list[Verdict]:
    """Each member's fate, from the outcome of the step it belongs to (`also`: list-write follow-ups' outcomes)."""
    outcomes: list[tuple[tuple[Member, ...], UpsertResult | DeleteResult | Listed]] = [
        *((d.members, NotDone(d.failure)) for d in plan.decided),
        *zip((s.members for s in plan.deletes), execution.deletes, strict=True),
        *zip((s.members for s in plan.upserts), execution.upserts, strict=True),
        *also,
    ]
    down = heymarket_down(execution)
    return [verdict(member, outcome, patience, down) for members, outcome in outcomes for member in members]


def heymarket_down(execution: Execution) -> bool:
    """Whether the batch met Heymarket down: every call of it failed, and as Heymarket fails when it is down (at
    least one `unavailable`, the others not sent for it); False when one step succeeded or was refused."""
    results = [*execution.deletes, *execution.upserts]
    failures = [result.failure for result in results if isinstance(result, NotDone)]
    return (
        bool(results)
        and len(failures) == len(results)
        and all(isinstance(failure, TransientFailure) for failure in failures)
        and any(isinstance(failure, TransientFailure) and failure.unavailable for failure in failures)
    )


def verdict(
    member: Member, outcome: UpsertResult | DeleteResult | Listed, patience: Patience, down: bool = False
) -> Verdict:
    """One member's fate, from the outcome of its step (`down`: the batch met Heymarket down)."""
    if not isinstance(outcome, NotDone):
        return Verdict(member, Fate.DELIVERED)
    failure = outcome.failure
    if isinstance(failure, PermanentFailure):
        return Verdict(member, Fate.DEAD, failure)
    final = member.record.receive_count >= patience.max_receive_count
    if final and isinstance(failure, TransientFailure) and (down or failure.circuit_open):
        return _wait_out(member, failure, patience)
    waits = isinstance(failure, ConfigurationFailure) or (
        final and isinstance(failure, TransientFailure) and (failure.throttled or isinstance(failure, StateNotReady))
    )
    if waits:
        if patience.waited_too_long(member.operation):
            reason = f"waited as long as the queue keeps messages, and still: {failure.reason}"
            return Verdict(member, Fate.DEAD, reworded(failure, reason))
        return Verdict(member, Fate.WAIT, failure)
    return Verdict(member, Fate.DEAD if final else Fate.REDELIVER, failure)


def _wait_out(member: Member, failure: TransientFailure, patience: Patience) -> Verdict:
    """A contact's fate while Heymarket is down: put back for longer each time, until it would outlive the queue."""
    delay = patience.outage.delay_s(patience.age_s(member.operation))
    if patience.waited_too_long(member.operation, delay + patience.outage.expiry_margin_s):
        reason = f"Heymarket was unavailable for as long as the queue keeps messages, and still: {failure.reason}"
        return Verdict(member, Fate.DEAD, reworded(failure, reason), waited_out=True)
    return Verdict(member, Fate.WAIT, failure, delay)


def recorded(
    verdicts: Sequence[Verdict], unrecorded: Mapping[str, GatewayFailure], admission: Admission, patience: Patience
) -> list[Verdict]:
    """The verdicts once the contact state recorded the outcome (`unrecorded`: by message id, the members delivered
    whose outcome it could not record, and why): those are redelivered; the members the state skipped are
    delivered."""
    again = [
        verdict(v.member, NotDone(unrecorded[v.member.record.message_id]), patience)
        if v.member.record.message_id in unrecorded
        else v
        for v in verdicts
    ]
    return again + [Verdict(skipped.member, Fate.DELIVERED) for skipped in admission.skipped]


def tally(plan: Plan, execution: Execution, lists: Finished, admission: Admission) -> SyncReport:
    """The batch's report, as far as Heymarket's answers and the contact state say (the messages' fates add to it)."""
    counted = SyncReport(merged_messages=plan.merged)
    counted.superseded_operations, counted.unchanged_skipped = admission.superseded, admission.unchanged
    for result in execution.upserts:
        if isinstance(result, Stored):
            counted.delivered_contacts += 1
            counted.updated_existing += result.existed
        elif isinstance(result.failure, PermanentFailure):
            counted.rejected_contacts += 1
    counted.rejected_contacts += sum(isinstance(d.failure, PermanentFailure) for d in plan.decided)
    for deleted in execution.deletes:
        if isinstance(deleted, Deleted):
            counted.deleted_contacts += deleted.count
        elif isinstance(deleted.failure, PermanentFailure):
            counted.rejected_contacts += 1
    counted.listed_contacts = lists.listed + sum(
        isinstance(outcome, Listed) and outcome.lists > 0 for _, outcome in lists.outcomes
    )
    return counted


def route(verdicts: Sequence[Verdict], unreadable: Sequence[tuple[QueueRecord, str]], report: SyncReport) -> Routes:
    """Each message where its fate sends it (logged): redelivered (in the report), back on the queue to wait, or a
    dead letter (the unreadable ones too)."""
    out = Routes([], [(record, _letter_for_unreadable(record, error)) for record, error in unreadable])
    for each in verdicts:
        _log(each)
        if each.fate is Fate.REDELIVER:
            report.retried_messages += 1
            report.failed_message_ids.append(each.member.record.message_id)
        elif each.fate is Fate.WAIT:
            out.waiting.append((each.member.record, each.delay_s))
        elif each.fate is Fate.DEAD:
            assert each.failure is not None
            out.letters.append((each.member.record, _letter(each.member, each.failure, each.waited_out)))
        if isinstance(each.failure, ConfigurationFailure):
            report.configuration_error = each.failure.reason
    return out


def _log(settled: Verdict) -> None:
    if settled.fate is Fate.DELIVERED:
        return
    record, operation, failure = settled.member.record, settled.member.operation, settled.failure
    log_fields = {
        **_identity(operation),
        "operation": operation.op.value,
        "correlation_id": operation.correlation_id,
        "message_id": record.message_id,
        "receive_count": record.receive_count,
        "error": redact(failure.reason if failure else ""),
        "heymarket_request_id": failure.request_id if failure else None,
    }
    if settled.fate is Fate.REDELIVER:
        logger.warning("Contact not delivered; SQS will redeliver it", extra=log_fields)
    elif settled.fate is Fate.WAIT and isinstance(failure, ConfigurationFailure):
        logger.warning("Contact waits for the bridge's configuration to be fixed", extra=log_fields)
    elif settled.fate is Fate.WAIT and settled.delay_s is not None:
        logger.warning("Contact waits out a Heymarket outage", extra={**log_fields, "delay_s": settled.delay_s})
    elif settled.fate is Fate.WAIT:
        logger.warning("Contact put back on the queue to wait (its last receive came too soon)", extra=log_fields)
    else:
        logger.error("Contact dead-lettered", extra=log_fields)


def _identity(operation: QueuedOperation) -> dict[str, str]:
    """How a log line names the contact: masked phone, or the Heymarket id (not personal data)."""
    if isinstance(operation, ContactOperation):
        return {"phone": mask_phone(operation.contact.phone)}
    if operation.target.phone is not None:
        return {"phone": mask_phone(operation.target.phone)}
    return {"contact_id": operation.target.contact_id or ""}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _letter(member: Member, failure: GatewayFailure, waited_out: bool) -> DeadLetter:
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
        error_kind="heymarket_unavailable" if waited_out else failure_kind(failure),
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
        error_kind="unreadable",
    )
