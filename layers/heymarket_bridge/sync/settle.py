"""The sync recipe's last step, pure (it logs, and calls no port): each message's fate, the batch's report, and the
dead letters to write.

Each message shares the fate of what was sent for it: delivered; refused for good (a dead letter with the reason);
left for SQS to redeliver; or, while the bridge itself is misconfigured (or Heymarket keeps throttling it, or the
contact state is busy, on a message's last receive), put back on the queue to wait without using up its receives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
    reworded,
)
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation, QueuedOperation
from heymarket_bridge.observability import logger, mask_phone, redact
from heymarket_bridge.sync.failures import StateNotReady
from heymarket_bridge.sync.lists.steps import Finished
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


@dataclass(frozen=True)
class Patience:
    """How long a message may keep failing: `max_receive_count` receives (the queue's redrive policy), and, for a
    message that waits, `max_wait_s` seconds since the bridge received it, as of `now`."""

    max_receive_count: int
    max_wait_s: float
    now: datetime

    def waited_too_long(self, operation: QueuedOperation) -> bool:
        try:
            received = datetime.fromisoformat(operation.received_at)
        except ValueError:
            return False
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        return (self.now - received).total_seconds() >= self.max_wait_s


@dataclass
class Routes:
    """Where the messages of a batch go, besides SQS's redelivery (in the report): back on the queue to wait, or to
    the DLQ (each letter with its record)."""

    waiting: list[QueueRecord]
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
    return [verdict(member, outcome, patience) for members, outcome in outcomes for member in members]


def verdict(member: Member, outcome: UpsertResult | DeleteResult | Listed, patience: Patience) -> Verdict:
    """One member's fate, from the outcome of its step."""
    if not isinstance(outcome, NotDone):
        return Verdict(member, Fate.DELIVERED)
    failure = outcome.failure
    if isinstance(failure, PermanentFailure):
        return Verdict(member, Fate.DEAD, failure)
    final = member.record.receive_count >= patience.max_receive_count
    waits = isinstance(failure, ConfigurationFailure) or (
        final and isinstance(failure, TransientFailure) and (failure.throttled or isinstance(failure, StateNotReady))
    )
    if waits:
        if patience.waited_too_long(member.operation):
            reason = f"waited as long as the queue keeps messages, and still: {failure.reason}"
            return Verdict(member, Fate.DEAD, reworded(failure, reason))
        return Verdict(member, Fate.WAIT, failure)
    return Verdict(member, Fate.DEAD if final else Fate.REDELIVER, failure)


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
            out.waiting.append(each.member.record)
        elif each.fate is Fate.DEAD:
            assert each.failure is not None
            out.letters.append((each.member.record, _letter(each.member, each.failure)))
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
