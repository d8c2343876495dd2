"""The sync domain: merge a batch of queued operations, send them in bulk, decide each message's fate."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Protocol

from heymarket_bridge.adapters.heymarket import (
    AuthFailed,
    BulkResult,
    HeymarketError,
    RequestRejected,
    redact,
)
from heymarket_bridge.adapters.secrets import SecretUnavailable
from heymarket_bridge.contact import Contact
from heymarket_bridge.messages import ContactOperation, DeadLetter, MalformedMessage
from heymarket_bridge.observability import logger, mask_phone
from heymarket_bridge.ratelimit import RequestBudget
from heymarket_bridge.settings import ConfigError


@dataclass(frozen=True)
class QueueRecord:
    """What the sync side needs of one SQS record."""

    message_id: str
    body: str
    receive_count: int
    sent_timestamp_ms: int = 0


class BulkGateway(Protocol):
    def bulk_upsert(self, contacts: Sequence[Mapping[str, Any]], *, timeout_s: float | None = None) -> BulkResult: ...

    def find_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, str]:
        """Contact id by phone, for the phones Heymarket already holds."""
        ...


class DeadLetterSink(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        """Write the letters; return the indexes of those NOT written."""
        ...


class Fate(Enum):
    DELIVERED = "delivered"
    REJECTED = "rejected"  # permanent: Heymarket said no to this contact
    UNSENT = "unsent"  # transient: may succeed on a later receive


@dataclass
class Outcome:
    fate: Fate
    error: str = ""
    request_id: str | None = None


@dataclass
class ContactGroup:
    """Every queued operation for one phone in this batch, merged into the one contact that is sent."""

    contact: Contact
    members: list[tuple[QueueRecord, ContactOperation]] = field(default_factory=list)


@dataclass
class SyncReport:
    failed_message_ids: list[str] = field(default_factory=list)
    delivered_contacts: int = 0
    rejected_contacts: int = 0
    retried_messages: int = 0
    dead_lettered_messages: int = 0
    merged_messages: int = 0
    heymarket_requests: int = 0
    updated_existing: int = 0  # creates refused because the phone existed, sent again as updates


class SyncService:
    """Delivers a batch of queue records to Heymarket and reports which messages SQS must redeliver."""

    def __init__(
        self,
        gateway: BulkGateway,
        dead_letters: DeadLetterSink,
        budget: RequestBudget,
        *,
        max_batch: int,
        max_receive_count: int,
        deadline_reserve_s: float = 5.0,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._gateway = gateway
        self._dead_letters = dead_letters
        self._budget = budget
        self._max_batch = max_batch
        self._max_receive_count = max_receive_count
        self._reserve_s = deadline_reserve_s
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter

    def process(self, records: Sequence[QueueRecord], remaining_s: Callable[[], float]) -> SyncReport:
        deadline = self._clock() + remaining_s() - self._reserve_s
        report = SyncReport()
        letters: list[tuple[QueueRecord, DeadLetter]] = []
        groups = self._group(records, letters)
        report.merged_messages = sum(len(g.members) for g in groups) - len(groups)
        outcomes: dict[str, Outcome] = {}
        for start in range(0, len(groups), self._max_batch):
            self._deliver(groups[start : start + self._max_batch], deadline, outcomes, report)
        for group in groups:
            self._settle(group, outcomes[group.contact.phone], letters, report)
        self._write_letters(letters, report)
        return report

    def _group(
        self, records: Sequence[QueueRecord], letters: list[tuple[QueueRecord, DeadLetter]]
    ) -> list[ContactGroup]:
        parsed: list[tuple[QueueRecord, ContactOperation]] = []
        for record in records:
            try:
                parsed.append((record, ContactOperation.from_json(record.body)))
            except MalformedMessage as exc:
                logger.error("Unreadable queue message", extra={"message_id": record.message_id, "error": str(exc)})
                letters.append((record, _letter_for_unreadable(record, str(exc))))
        # Later operations win: order by when the bridge received them, then by when SQS got them.
        parsed.sort(key=lambda item: (item[1].received_at, item[0].sent_timestamp_ms))
        groups: dict[str, ContactGroup] = {}
        for record, operation in parsed:
            group = groups.get(operation.contact.phone)
            if group is None:
                groups[operation.contact.phone] = ContactGroup(operation.contact, [(record, operation)])
            else:
                group.contact = group.contact.merged_with(operation.contact)
                group.members.append((record, operation))
        return list(groups.values())

    def _deliver(
        self, groups: list[ContactGroup], deadline: float, outcomes: dict[str, Outcome], report: SyncReport
    ) -> None:
        """Send one chunk, retrying transient errors and splitting a rejected chunk to find its culprits."""
        attempt = 0
        last_error = "the invocation ran out of time before the contact could be sent"
        while True:
            if self._clock() >= deadline or not self._budget.acquire(deadline):
                return _mark(groups, outcomes, Outcome(Fate.UNSENT, last_error))
            try:
                report.heymarket_requests += 1
                result = self._gateway.bulk_upsert(
                    [g.contact.to_heymarket() for g in groups], timeout_s=deadline - self._clock()
                )
            except RequestRejected as exc:
                if len(groups) > 1:
                    middle = len(groups) // 2
                    self._deliver(groups[:middle], deadline, outcomes, report)
                    self._deliver(groups[middle:], deadline, outcomes, report)
                    return None
                return _mark(groups, outcomes, Outcome(Fate.REJECTED, str(exc), exc.request_id))
            except AuthFailed as exc:
                # The client already re-read the secret once; looping here would only hammer Heymarket.
                return _mark(groups, outcomes, Outcome(Fate.UNSENT, str(exc), exc.request_id))
            except (ConfigError, SecretUnavailable) as exc:
                logger.error("Cannot authenticate to Heymarket", extra={"error": str(exc)})
                return _mark(groups, outcomes, Outcome(Fate.UNSENT, str(exc)))
            except HeymarketError as exc:
                attempt += 1
                last_error = str(exc)
                delay = self._backoff(attempt, exc.retry_after_s)
                if self._clock() + delay >= deadline:
                    return _mark(groups, outcomes, Outcome(Fate.UNSENT, last_error, exc.request_id))
                self._sleep(delay)
                continue
            self._apply(groups, result, outcomes)
            self._update_existing(groups, deadline, outcomes, report)
            return None

    def _update_existing(
        self, groups: list[ContactGroup], deadline: float, outcomes: dict[str, Outcome], report: SyncReport
    ) -> None:
        """Turn refused creates for phones Heymarket already holds into updates of those contacts.

        Heymarket does not document what a create for an existing phone does. Rather than reading its error
        text, every refused create is looked up by phone (one search for all of them): a phone that exists
        is sent again as an update with its contact id; one that does not keeps its original error.
        """
        refused = [
            g for g in groups if g.contact.contact_id is None and outcomes[g.contact.phone].fate is Fate.REJECTED
        ]
        if not refused:
            return
        if self._clock() >= deadline or not self._budget.acquire(deadline):
            _mark(refused, outcomes, Outcome(Fate.UNSENT, "no time left to look up existing contacts"))
            return
        try:
            report.heymarket_requests += 1
            existing = self._gateway.find_by_phone(
                [g.contact.phone for g in refused], timeout_s=deadline - self._clock()
            )
        except (HeymarketError, ConfigError, SecretUnavailable) as exc:
            # The creates were refused and the lookup could not say why: try the whole thing again later.
            _mark(refused, outcomes, Outcome(Fate.UNSENT, f"looking up existing contacts failed: {exc}"))
            return
        updates = [g for g in refused if g.contact.phone in existing]
        for group in updates:
            group.contact = replace(group.contact, contact_id=existing[group.contact.phone])
            del outcomes[group.contact.phone]
        report.updated_existing += len(updates)
        if updates:
            self._deliver(updates, deadline, outcomes, report)

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        delay: float = self._jitter() * min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
        return max(delay, retry_after_s) if retry_after_s is not None else delay

    @staticmethod
    def _apply(groups: list[ContactGroup], result: BulkResult, outcomes: dict[str, Outcome]) -> None:
        by_phone = {g.contact.phone: g for g in groups}
        unattributed: list[str] = []
        for failure in result.failed:
            phone = _phone_of(failure.contact)
            if phone in by_phone and phone not in outcomes:
                outcomes[phone] = Outcome(Fate.REJECTED, failure.error, result.request_id)
            else:
                unattributed.append(failure.error)
        confirmed = {_phone_of(c) for c in result.contacts}
        for phone in by_phone:
            if phone in outcomes:
                continue
            if unattributed and phone not in confirmed:
                # A failure we cannot tie to a contact: never count an unconfirmed contact as delivered.
                outcomes[phone] = Outcome(Fate.REJECTED, unattributed[0], result.request_id)
            else:
                outcomes[phone] = Outcome(Fate.DELIVERED, request_id=result.request_id)

    def _settle(
        self,
        group: ContactGroup,
        outcome: Outcome,
        letters: list[tuple[QueueRecord, DeadLetter]],
        report: SyncReport,
    ) -> None:
        if outcome.fate is Fate.DELIVERED:
            report.delivered_contacts += 1
            return
        if outcome.fate is Fate.REJECTED:
            report.rejected_contacts += 1
        for record, operation in group.members:
            final_receive = record.receive_count >= self._max_receive_count
            log_fields = {
                "phone": mask_phone(operation.contact.phone),
                "correlation_id": operation.correlation_id,
                "message_id": record.message_id,
                "receive_count": record.receive_count,
                "error": redact(outcome.error),
                "heymarket_request_id": outcome.request_id,
            }
            if outcome.fate is Fate.UNSENT and not final_receive:
                logger.warning("Contact not delivered; SQS will redeliver it", extra=log_fields)
                report.retried_messages += 1
                report.failed_message_ids.append(record.message_id)
                continue
            logger.error("Contact dead-lettered", extra=log_fields)
            letters.append((record, _letter(record, operation, outcome)))

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
                "Could not write to the DLQ; leaving the messages in the queue",
                extra={"count": len(unwritten)},
            )


def _mark(groups: list[ContactGroup], outcomes: dict[str, Outcome], outcome: Outcome) -> None:
    for group in groups:
        outcomes[group.contact.phone] = outcome


def _phone_of(contact: Mapping[str, Any]) -> str:
    phone = contact.get("phone")
    if not phone:
        for channel in contact.get("contact_channels") or []:
            if isinstance(channel, dict) and channel.get("channel_type") == "phone":
                phone = channel.get("channel_id")
                break
    return "".join(ch for ch in str(phone or "") if ch.isdigit())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _letter(record: QueueRecord, operation: ContactOperation, outcome: Outcome) -> DeadLetter:
    return DeadLetter(
        error=outcome.error or "not delivered",
        attempts=record.receive_count,
        source=operation.source,
        received_at=operation.received_at,
        contact=operation.contact.to_heymarket(),
        correlation_id=operation.correlation_id,
        operation_id=operation.operation_id,
        message=record.body,
        failed_at=_now(),
        heymarket_request_id=outcome.request_id,
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
