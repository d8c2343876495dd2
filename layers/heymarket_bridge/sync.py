"""The sync domain: plan a batch of queued operations, send them in bulk, decide each message's fate.

A batch is planned into lanes, one per contact (heymarket_bridge.ordering): the deletes of every lane are sent
first, then the upserts, each upsert merged from its lane's messages. Every message then shares the fate of what
was sent for it: delivered, refused for good (DLQ), or left for SQS to redeliver.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from typing import Any, Protocol, TypeVar

from heymarket_bridge.adapters.heymarket import (
    AuthFailed,
    BulkResult,
    DeleteResult,
    HeymarketError,
    RequestRejected,
    redact,
)
from heymarket_bridge.adapters.secrets import SecretUnavailable
from heymarket_bridge.contact import Contact
from heymarket_bridge.custom_fields import CustomField, CustomFieldIndex, titles_in
from heymarket_bridge.messages import (
    ContactOperation,
    DeadLetter,
    DeleteOperation,
    DeleteTarget,
    MalformedMessage,
    QueuedOperation,
    parse_operation,
)
from heymarket_bridge.observability import logger, mask_phone
from heymarket_bridge.ordering import merge_contacts, plan_lanes
from heymarket_bridge.ratelimit import RequestBudget
from heymarket_bridge.settings import ApiMode, ConfigError

T = TypeVar("T")


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

    def ids_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, list[str]]:
        """Every contact id Heymarket holds for each phone; phones it does not hold are absent."""
        ...

    def bulk_delete(self, contact_ids: Sequence[str], *, timeout_s: float | None = None) -> DeleteResult: ...

    def batch_create_v1(
        self, contacts: Sequence[Mapping[str, Any]], *, overwrite: bool, timeout_s: float | None = None
    ) -> BulkResult: ...

    def list_custom_fields(self, *, timeout_s: float | None = None) -> list[CustomField]: ...


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


Member = tuple[QueueRecord, QueuedOperation]


@dataclass
class DeleteGroup:
    """A lane's deletes, sent together; the upserts they make moot are members too and share their fate."""

    targets: list[DeleteTarget]
    members: list[Member] = field(default_factory=list)
    contact_ids: list[str] = field(default_factory=list)  # the targets as ids, once phones are resolved
    outcome: Outcome | None = None


@dataclass
class ContactGroup:
    """A lane's upserts, merged into the one contact that is sent; after `follows` only if that delete succeeded."""

    contact: Contact
    members: list[Member] = field(default_factory=list)
    follows: DeleteGroup | None = None
    outcome: Outcome | None = None

    def operations(self) -> list[ContactOperation]:
        return [op for _, op in self.members if isinstance(op, ContactOperation)]


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
    deleted_contacts: int = 0  # ids Heymarket deleted (or reported already gone)


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
        api_mode: ApiMode = ApiMode.V2,
        v1_overwrite: bool = True,
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
        self._api_mode = api_mode
        self._v1_overwrite = v1_overwrite
        self._reserve_s = deadline_reserve_s
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        # The team's custom fields, read once per cold start and again (once per invocation) for an unknown title.
        self._field_index: CustomFieldIndex | None = None
        self._fields_read_this_invocation = False

    def process(self, records: Sequence[QueueRecord], remaining_s: Callable[[], float]) -> SyncReport:
        deadline = self._clock() + remaining_s() - self._reserve_s
        report = SyncReport()
        self._fields_read_this_invocation = False
        letters: list[tuple[QueueRecord, DeadLetter]] = []
        parsed = self._parse(records, letters)
        deletes, upserts = self._plan(parsed)
        report.merged_messages = len(parsed) - len(deletes) - len(upserts)
        self._delete(deletes, deadline, report)
        ready = [group for group in upserts if self._ready_after_delete(group)]
        ready = self._check_v1_fields(ready)
        ready = self._resolve_titles(ready, deadline, report)
        for start in range(0, len(ready), self._max_batch):
            self._deliver(ready[start : start + self._max_batch], deadline, report)
        settled: list[ContactGroup | DeleteGroup] = [*deletes, *upserts]
        for group in settled:
            self._settle(group, letters, report)
        self._write_letters(letters, report)
        return report

    # ---------------------------------------------------------------- planning

    @staticmethod
    def _parse(records: Sequence[QueueRecord], letters: list[tuple[QueueRecord, DeadLetter]]) -> list[Member]:
        parsed: list[Member] = []
        for record in records:
            try:
                parsed.append((record, parse_operation(record.body)))
            except MalformedMessage as exc:
                logger.error("Unreadable queue message", extra={"message_id": record.message_id, "error": str(exc)})
                letters.append((record, _letter_for_unreadable(record, str(exc))))
        # Received order: when the bridge received them, then when SQS got them.
        parsed.sort(key=lambda item: (item[1].received_at, item[0].sent_timestamp_ms))
        return parsed

    @staticmethod
    def _plan(parsed: list[Member]) -> tuple[list[DeleteGroup], list[ContactGroup]]:
        deletes: list[DeleteGroup] = []
        upserts: list[ContactGroup] = []
        for lane in plan_lanes([operation for _, operation in parsed]):
            delete: DeleteGroup | None = None
            if lane.deletes:
                targets: list[DeleteTarget] = []
                for index in lane.deletes:
                    target = _target(parsed[index][1])
                    if target not in targets:
                        targets.append(target)
                members = [parsed[i] for i in sorted(lane.deletes + lane.superseded)]
                delete = DeleteGroup(targets, members)
                deletes.append(delete)
            if lane.upserts:
                members = [parsed[i] for i in lane.upserts]
                group = ContactGroup(merge_contacts([_contact(op) for _, op in members]), members, follows=delete)
                upserts.append(group)
        return deletes, upserts

    # ---------------------------------------------------------------- deletes

    def _delete(self, groups: list[DeleteGroup], deadline: float, report: SyncReport) -> None:
        """Resolve phone targets to ids (one search per chunk of phones), then delete the ids in chunks.

        A phone Heymarket holds no contact for is a delete with nothing to do, and succeeds: the state the sender
        asked for (no contact with that phone) already holds. It is what happens when a contact was never synced,
        was deleted in Heymarket's app, or was created and deleted within one batch (the create is then not sent).
        A dead letter would alert an operator with nothing to fix.
        """
        if not groups:
            return
        self._resolve_phones(groups, deadline, report)
        pending = [group for group in groups if group.outcome is None]
        for group in pending:
            if not group.contact_ids:
                group.outcome = Outcome(Fate.DELIVERED)
        chunk: list[DeleteGroup] = []
        for group in (g for g in pending if g.contact_ids):
            if chunk and sum(len(g.contact_ids) for g in chunk) + len(group.contact_ids) > self._max_batch:
                self._send_deletes(chunk, deadline, report)
                chunk = []
            chunk.append(group)
        if chunk:
            self._send_deletes(chunk, deadline, report)

    def _resolve_phones(self, groups: list[DeleteGroup], deadline: float, report: SyncReport) -> None:
        phones = list(dict.fromkeys(t.phone for g in groups for t in g.targets if t.phone is not None))
        found: dict[str, list[str]] = {}
        failed: dict[str, Outcome] = {}
        for start in range(0, len(phones), self._max_batch):
            chunk = phones[start : start + self._max_batch]
            answer = self._call(partial(self._search, chunk), deadline, report)
            if isinstance(answer, Outcome):
                lookup_failed = replace(answer, error=f"looking up the phones to delete failed: {answer.error}")
                failed.update(dict.fromkeys(chunk, lookup_failed))
            else:
                found.update(answer)
        for group in groups:
            ids: list[str] = []
            for target in group.targets:
                if target.contact_id is not None:
                    ids.append(target.contact_id)
                elif target.phone in failed:
                    group.outcome = failed[target.phone]
                elif target.phone is not None and target.phone not in found:
                    logger.info(
                        "No contact holds the phone to delete; nothing to do",
                        extra={"phone": mask_phone(target.phone), "correlation_ids": _correlation_ids(group.members)},
                    )
                else:
                    ids.extend(found.get(target.phone or "", []))
            group.contact_ids = list(dict.fromkeys(ids))

    def _search(self, phones: list[str], timeout_s: float) -> dict[str, list[str]]:
        return self._gateway.ids_by_phone(phones, timeout_s=timeout_s)

    def _send_deletes(self, groups: list[DeleteGroup], deadline: float, report: SyncReport) -> None:
        ids = list(dict.fromkeys(contact_id for group in groups for contact_id in group.contact_ids))
        answer = self._call(lambda t: self._gateway.bulk_delete(ids, timeout_s=t), deadline, report)
        if isinstance(answer, Outcome):
            if answer.fate is Fate.REJECTED and len(groups) > 1:
                middle = len(groups) // 2
                self._send_deletes(groups[:middle], deadline, report)
                self._send_deletes(groups[middle:], deadline, report)
                return
            _mark(groups, answer)
            return
        if answer.not_found:
            # Deleted already (in Heymarket's app, or by an earlier delivery of this message): the goal holds.
            logger.info(
                "Contacts to delete were already gone",
                extra={"count": len(answer.not_found), "heymarket_request_id": answer.request_id},
            )
        report.deleted_contacts += len(answer.deleted) + len(answer.not_found)
        _mark(groups, Outcome(Fate.DELIVERED, request_id=answer.request_id))

    @staticmethod
    def _ready_after_delete(group: ContactGroup) -> bool:
        """Whether an upsert can go now: it follows no delete, or one that succeeded (then it is rebuilt)."""
        delete = group.follows
        if delete is None:
            return True
        assert delete.outcome is not None  # every delete group is settled before the upserts run
        if delete.outcome.fate is Fate.DELIVERED:
            group.contact = merge_contacts([op.contact for op in group.operations()], frozenset(delete.contact_ids))
            return True
        # Sending it would let the delete, when retried, remove what the upsert wrote: it waits with the delete.
        why = "failed" if delete.outcome.fate is Fate.REJECTED else "could not be sent yet"
        group.outcome = replace(delete.outcome, error=f"the delete received before it {why}: {delete.outcome.error}")
        return False

    # ---------------------------------------------------------------- upserts

    def _check_v1_fields(self, groups: list[ContactGroup]) -> list[ContactGroup]:
        """In v1 mode, refuse contacts with fields the v1 batch endpoint does not take, rather than lose them."""
        if self._api_mode is not ApiMode.V1:
            return groups
        ready: list[ContactGroup] = []
        for group in groups:
            extra = group.contact.fields_v1_cannot_send()
            if not extra:
                ready.append(group)
                continue
            group.outcome = Outcome(
                Fate.REJECTED,
                f"HeymarketApiMode is v1, and Heymarket's v1 batch endpoint does not take {', '.join(extra)}: "
                "switch to v2 mode, then redrive this message",
            )
        return ready

    def _resolve_titles(self, groups: list[ContactGroup], deadline: float, report: SyncReport) -> list[ContactGroup]:
        """Key custom values by field id: titles are mapped with the team's field list; an unknown title is refused."""
        needing = [g for g in groups if any(titles_in(op.contact.custom) for op in g.operations())]
        if not needing:
            return groups
        index = self._custom_fields(deadline, report, refresh=False)
        if not isinstance(index, Outcome) and any(_unknown_titles(g, index) for g in needing):
            # A title may be a field created since the list was read: read it again, once per invocation.
            index = self._custom_fields(deadline, report, refresh=True)
        if isinstance(index, Outcome):
            failed = replace(index, error=f"reading Heymarket's custom fields failed: {index.error}")
            _mark(needing, failed)
            return [g for g in groups if g not in needing]
        for group in needing:
            unknown = _unknown_titles(group, index)
            if unknown:
                names = ", ".join(repr(title) for title in unknown)
                logger.error(
                    "Custom field title unknown to Heymarket; contact dead-lettered",
                    extra={
                        "titles": unknown,
                        "phone": mask_phone(group.contact.phone),
                        "correlation_ids": _correlation_ids(group.members),
                    },
                )
                group.outcome = Outcome(
                    Fate.REJECTED,
                    f"custom field {names} is not a custom field title of this Heymarket account "
                    "(create it in Heymarket, or key the value by the field's id)",
                )
                continue
            resolved = [
                replace(op.contact, custom=index.resolve(op.contact.custom)) if op.contact.custom else op.contact
                for op in group.operations()
            ]
            deleted = frozenset(group.follows.contact_ids) if group.follows is not None else frozenset()
            group.contact = merge_contacts(resolved, deleted)
        return [g for g in groups if g.outcome is None]

    def _custom_fields(self, deadline: float, report: SyncReport, *, refresh: bool) -> CustomFieldIndex | Outcome:
        if self._field_index is not None and (not refresh or self._fields_read_this_invocation):
            return self._field_index
        fields = self._call(lambda t: self._gateway.list_custom_fields(timeout_s=t), deadline, report)
        if isinstance(fields, Outcome):
            return fields
        self._field_index = CustomFieldIndex(fields)
        self._fields_read_this_invocation = True
        logger.info("Read Heymarket's custom fields", extra={"count": len(self._field_index)})
        return self._field_index

    def _deliver(self, groups: list[ContactGroup], deadline: float, report: SyncReport) -> None:
        """Send one chunk, retrying transient errors and splitting a rejected chunk to find its culprits."""
        contacts = [self._wire(g.contact) for g in groups]
        answer = self._call(lambda t: self._send_upserts(contacts, t), deadline, report)
        if isinstance(answer, Outcome):
            if answer.fate is Fate.REJECTED and len(groups) > 1:
                middle = len(groups) // 2
                self._deliver(groups[:middle], deadline, report)
                self._deliver(groups[middle:], deadline, report)
                return
            _mark(groups, answer)
            return
        self._apply(groups, answer)
        if self._api_mode is ApiMode.V2:
            # v1 never refuses an existing phone: it skips or overwrites it (HEYMARKET_V1_OVERWRITE).
            self._update_existing(groups, deadline, report)

    def _wire(self, contact: Contact) -> dict[str, Any]:
        return contact.to_heymarket_v1() if self._api_mode is ApiMode.V1 else contact.to_heymarket()

    def _send_upserts(self, contacts: list[dict[str, Any]], timeout_s: float) -> BulkResult:
        if self._api_mode is ApiMode.V1:
            return self._gateway.batch_create_v1(contacts, overwrite=self._v1_overwrite, timeout_s=timeout_s)
        return self._gateway.bulk_upsert(contacts, timeout_s=timeout_s)

    def _update_existing(self, groups: list[ContactGroup], deadline: float, report: SyncReport) -> None:
        """Turn refused creates for phones Heymarket already holds into updates of those contacts.

        Heymarket does not document what a create for an existing phone does. Rather than reading its error
        text, every refused create is looked up by phone (one search for all of them): a phone that exists
        is sent again as an update with its contact id; one that does not keeps its original error.
        """
        refused = [
            g
            for g in groups
            if g.contact.contact_id is None and g.outcome is not None and g.outcome.fate is Fate.REJECTED
        ]
        if not refused:
            return
        phones = [g.contact.phone for g in refused]
        existing = self._call(lambda t: self._gateway.find_by_phone(phones, timeout_s=t), deadline, report)
        if isinstance(existing, Outcome):
            # The creates were refused and the lookup could not say why: try the whole thing again later.
            failed = Outcome(Fate.UNSENT, f"looking up existing contacts failed: {existing.error}", existing.request_id)
            _mark(refused, failed)
            return
        updates = [g for g in refused if g.contact.phone in existing]
        for group in updates:
            group.contact = replace(group.contact, contact_id=existing[group.contact.phone])
            group.outcome = None
        report.updated_existing += len(updates)
        if updates:
            self._deliver(updates, deadline, report)

    @staticmethod
    def _apply(groups: list[ContactGroup], result: BulkResult) -> None:
        by_phone = {g.contact.phone: g for g in groups}
        unattributed: list[str] = []
        for failure in result.failed:
            group = by_phone.get(_phone_of(failure.contact))
            if group is not None and group.outcome is None:
                group.outcome = Outcome(Fate.REJECTED, failure.error, result.request_id)
            else:
                unattributed.append(failure.error)
        confirmed = {_phone_of(c) for c in result.contacts}
        for phone, group in by_phone.items():
            if group.outcome is not None:
                continue
            if unattributed and phone not in confirmed:
                # A failure we cannot tie to a contact: never count an unconfirmed contact as delivered.
                group.outcome = Outcome(Fate.REJECTED, unattributed[0], result.request_id)
            else:
                group.outcome = Outcome(Fate.DELIVERED, request_id=result.request_id)

    # ---------------------------------------------------------------- calls

    def _call(self, send: Callable[[float], T], deadline: float, report: SyncReport) -> T | Outcome:
        """One Heymarket call within the request budget, retrying transient errors with backoff until the deadline.

        Returns the call's answer, or the outcome for everything that depended on it: REJECTED for an answer that
        will not change (4xx), UNSENT for what may succeed on a later receive (5xx, 429, timeouts, credentials).
        """
        attempt = 0
        last = Outcome(Fate.UNSENT, "the invocation ran out of time before the request could be made")
        while True:
            if self._clock() >= deadline or not self._budget.acquire(deadline):
                return last
            try:
                report.heymarket_requests += 1
                return send(deadline - self._clock())
            except RequestRejected as exc:
                return Outcome(Fate.REJECTED, str(exc), exc.request_id)
            except AuthFailed as exc:
                # The client already re-read the secret once; looping here would only hammer Heymarket.
                return Outcome(Fate.UNSENT, str(exc), exc.request_id)
            except (ConfigError, SecretUnavailable) as exc:
                logger.error("Cannot authenticate to Heymarket", extra={"error": str(exc)})
                return Outcome(Fate.UNSENT, str(exc))
            except HeymarketError as exc:
                attempt += 1
                last = Outcome(Fate.UNSENT, str(exc), exc.request_id)
                delay = self._backoff(attempt, exc.retry_after_s)
                if self._clock() + delay >= deadline:
                    return last
                self._sleep(delay)

    def _backoff(self, attempt: int, retry_after_s: float | None) -> float:
        delay: float = self._jitter() * min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
        return max(delay, retry_after_s) if retry_after_s is not None else delay

    # ---------------------------------------------------------------- settling

    def _settle(
        self,
        group: ContactGroup | DeleteGroup,
        letters: list[tuple[QueueRecord, DeadLetter]],
        report: SyncReport,
    ) -> None:
        outcome = group.outcome or Outcome(Fate.UNSENT, "not sent")
        if outcome.fate is Fate.DELIVERED:
            if isinstance(group, ContactGroup):
                report.delivered_contacts += 1
            return
        if outcome.fate is Fate.REJECTED:
            report.rejected_contacts += 1
        for record, operation in group.members:
            final_receive = record.receive_count >= self._max_receive_count
            log_fields = {
                **_identity(operation),
                "operation": operation.op.value,
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


def _mark(groups: Sequence[ContactGroup | DeleteGroup], outcome: Outcome) -> None:
    for group in groups:
        group.outcome = outcome


def _target(operation: QueuedOperation) -> DeleteTarget:
    assert isinstance(operation, DeleteOperation)  # lanes list deletes by index
    return operation.target


def _contact(operation: QueuedOperation) -> Contact:
    assert isinstance(operation, ContactOperation)  # lanes list upserts by index
    return operation.contact


def _unknown_titles(group: ContactGroup, index: CustomFieldIndex) -> list[str]:
    unknown: list[str] = []
    for operation in group.operations():
        unknown.extend(title for title in index.unknown(operation.contact.custom) if title not in unknown)
    return unknown


def _identity(operation: QueuedOperation) -> dict[str, str]:
    """How a log line names the contact: masked phone, or the Heymarket id (not personal data)."""
    if isinstance(operation, ContactOperation):
        return {"phone": mask_phone(operation.contact.phone)}
    if operation.target.phone is not None:
        return {"phone": mask_phone(operation.target.phone)}
    return {"contact_id": operation.target.contact_id or ""}


def _correlation_ids(members: Sequence[Member]) -> list[str]:
    return list(dict.fromkeys(operation.correlation_id for _, operation in members))[:10]


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


def _letter(record: QueueRecord, operation: QueuedOperation, outcome: Outcome) -> DeadLetter:
    contact = (
        operation.contact.to_heymarket() if isinstance(operation, ContactOperation) else operation.target.to_dict()
    )
    return DeadLetter(
        error=outcome.error or "not delivered",
        attempts=record.receive_count,
        source=operation.source,
        received_at=operation.received_at,
        contact=contact,
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
