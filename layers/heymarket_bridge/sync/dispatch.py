"""What the sync recipe writes once a batch is settled (heymarket_bridge.sync.settle): the consent record, the messages
put back on the queue to wait, the dead letters, and the list writes' follow-ups. Through the ports `ConsentLog`,
`Requeue` and `DeadLetterSink`; whatever cannot be written is counted in the report, and its message redelivered
(SQS moves it to the DLQ itself as a last resort)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heymarket_bridge.domain.failures import ConsentRecordUnavailable
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter
from heymarket_bridge.observability import logger, mask_phone
from heymarket_bridge.sync.consent_record import consent_changes, superseded_changes
from heymarket_bridge.sync.model import Execution, Member, Plan, QueueRecord, SyncReport, as_upsert
from heymarket_bridge.sync.state.guard import Admission

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import ConsentLog, DeadLetterSink, Requeue


class Dispatcher:
    """Writes a settled batch's messages where they go, and its consent changes (`consent_log` None: none kept)."""

    def __init__(
        self,
        dead_letters: DeadLetterSink,
        waiting_room: Requeue,
        consent_log: ConsentLog | None,
        wall_clock: Callable[[], datetime],
    ) -> None:
        self._dead_letters = dead_letters
        self._waiting_room = waiting_room
        self._consent_log = consent_log
        self._wall_clock = wall_clock

    def record_consent(self, plan: Plan, execution: Execution, report: SyncReport, admission: Admission) -> None:
        """Write the batch's consent changes to the consent record (heymarket_bridge.sync.consent_record), once
        Heymarket answered. A record that cannot be written is counted and logged (masked) and never holds a contact
        back: the contact's opt-out reaching Heymarket matters more than its proof, and a redelivery would not record
        it either (its contact, unchanged since, is skipped without a write)."""
        if self._consent_log is None:
            return
        steps = [
            ([as_upsert(member.operation) for member in step.members], step.contact, result)
            for step, result in zip(plan.upserts, execution.upserts, strict=True)
        ]
        now = self._wall_clock().astimezone(UTC).isoformat(timespec="milliseconds")
        skipped = [
            as_upsert(skip.member.operation)
            for skip in admission.skipped
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

    def put_back(self, waiting: list[tuple[QueueRecord, int | None]], report: SyncReport) -> None:
        """Put the waiting messages back on the queue, each after its delay (None: the queue's put-back delay)."""
        if not waiting:
            return
        unsent = set(self._waiting_room.put_back([record.body for record, _ in waiting], [d for _, d in waiting]))
        for index, (record, _) in enumerate(waiting):
            if index in unsent:
                report.failed_message_ids.append(record.message_id)  # SQS redelivers it instead
            else:
                report.waiting_messages += 1
        if unsent:
            logger.error("Could not put waiting messages back on the queue", extra={"count": len(unsent)})

    def write_letters(self, letters: list[tuple[QueueRecord, DeadLetter]], report: SyncReport) -> None:
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

    def write_list_letters(self, letters: Sequence[tuple[tuple[Member, ...], DeadLetter]], report: SyncReport) -> None:
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
