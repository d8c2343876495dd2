"""What the inspector shows, recorded as the local stack runs: `Journal`.

Every delivery the API answered (`record_exchange`, from `ApiExchange`), the contacts it queued as the sync
function received them (`record_batch`, from the event source's `BatchResult`: each message's `correlation_id` is
the delivery's `request_id`), what the sync function decided for each (`SyncFates`, from its own "Contact ..." log
records, which name the message), the contact writes the Heymarket sandbox stored (`record_write`) and the
Heymarket requests it answered (`record_requests`). Its `snapshot` is the inspector's JSON.

No new personal data: a phone is kept and shown masked (`mask_phone`, as the handlers' logs mask it); names,
emails and bodies are never kept. Bounded: the newest `MAX_DELIVERIES` deliveries and `MAX_REQUESTS` requests.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.operations import ContactOperation, parse_operation
from heymarket_bridge.observability import mask_phone
from heymarket_local.activity import source_of, webhook_line
from heymarket_local.answers import read_answer
from heymarket_local.api import ApiExchange
from heymarket_local.poller import BatchResult

MAX_DELIVERIES: Final = 500
MAX_REQUESTS: Final = 1000
MAX_WRITES_PER_PHONE: Final = 20
# The sync function's log messages for a contact it did not deliver (heymarket_bridge.sync.settle._log).
FATE_MESSAGES: Final = {
    "Contact not delivered; SQS will redeliver it": "retrying",
    "Contact waits for the bridge's configuration to be fixed": "waiting for a configuration fix",
    "Contact put back on the queue to wait (its last receive came too soon)": "waiting",
    "Contact dead-lettered": "dead-lettered",
}


@dataclass
class ContactEntry:
    """One contact a delivery queued: its masked phone, the operation, and what became of it."""

    message_id: str
    phone: str  # masked
    operation: str
    outcome: str = "queued"  # then settled (delivered, deleted with the sandbox), retrying, waiting, dead-lettered
    reason: str = ""
    heymarket: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's writes: {"at": epoch s, "op"}


@dataclass
class DeliveryEntry:
    """One request the API answered: when, for which source, its status and verdict, and what it gave."""

    seq: int
    at: float
    source: str
    method: str
    path: str
    status: int
    verdict: str  # "accepted", "partly accepted", "duplicate", "refused", "failed"
    detail: str
    request_id: str
    refused: list[str] = field(default_factory=list)  # "#2: phone is not a valid number" (each a refusal letter)
    accepted: int = 0  # contacts the answer says were queued
    contacts: dict[str, ContactEntry] = field(default_factory=dict)  # by message id
    updated: int = 0


def verdict_of(exchange: ApiExchange) -> tuple[str, list[str]]:
    """(verdict, refused contacts) of an API answer: `accepted` (every contact queued), `partly accepted` (some
    refused, each with a refusal letter), `duplicate`, `refused` (a 4xx), `failed` (a 5xx)."""
    answer = read_answer(exchange.body)
    refused = [note.line() for note in answer.rejected] if answer is not None else []
    if exchange.status >= 500:
        return "failed", refused
    if exchange.status >= 400:
        return "refused", refused
    if answer is not None and answer.duplicate:
        return "duplicate", refused
    if refused and answer is not None and not answer.accepted:
        return "refused", refused
    return ("partly accepted" if refused else "accepted"), refused


def _request_id(body: bytes) -> str:
    try:
        reply = json.loads(body)
    except ValueError:
        return ""
    value = reply.get("request_id") if isinstance(reply, dict) else None
    return value if isinstance(value, str) else ""


class SyncFates(logging.Handler):
    """The sync function's verdict on each contact it did not deliver, by message id, from its log records."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._fates: dict[str, tuple[str, str]] = {}
        self._lock_fates = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        outcome = FATE_MESSAGES.get(record.getMessage())
        message_id = getattr(record, "message_id", None)
        if outcome is None or not isinstance(message_id, str):
            return
        with self._lock_fates:
            self._fates[message_id] = (outcome, str(getattr(record, "error", "") or ""))

    def take(self, message_id: str) -> tuple[str, str] | None:
        with self._lock_fates:
            return self._fates.pop(message_id, None)


class Journal:
    """The inspector's record of the local stack's activity; every method is safe from any thread."""

    def __init__(self, fates: SyncFates | None = None) -> None:
        self.fates = fates or SyncFates()
        self._lock = threading.Lock()
        self._seq = 0
        self._deliveries: OrderedDict[str, DeliveryEntry] = OrderedDict()  # by request id (or a made-up key)
        # Full digits -> the sandbox's writes of that phone (time, op): kept in memory to match them, never shown.
        self._writes: dict[str, list[tuple[float, str]]] = {}
        self._requests: deque[dict[str, Any]] = deque(maxlen=MAX_REQUESTS)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def record_exchange(self, exchange: ApiExchange) -> None:
        """A delivery answered by the API (its webhook line's detail is the inspector's too)."""
        verdict, refused = verdict_of(exchange)
        detail = webhook_line(exchange).split(f"  {exchange.status}  ", 1)[-1]
        with self._lock:
            seq = self._next()
            key = _request_id(exchange.body) or f"request-{seq}"
            entry = self._delivery(key, seq)
            entry.at, entry.method, entry.path, entry.status = (
                exchange.at,
                exchange.method,
                exchange.path,
                exchange.status,
            )
            entry.source = source_of(exchange)
            entry.verdict, entry.detail, entry.refused, entry.updated = verdict, detail, refused, seq
            answer = read_answer(exchange.body)
            entry.accepted = (answer.accepted or 0) if answer is not None and not answer.duplicate else 0

    def _delivery(self, key: str, seq: int) -> DeliveryEntry:
        """The delivery of `key`, made empty (not shown until its answer is recorded: the sync function may receive
        its contacts first) when new."""
        entry = self._deliveries.get(key)
        if entry is None:
            entry = self._deliveries[key] = DeliveryEntry(seq, time.time(), "", "", "", 0, "", "", key)
            while len(self._deliveries) > MAX_DELIVERIES:
                self._deliveries.popitem(last=False)
        return entry

    def record_batch(self, result: BatchResult) -> None:
        """The contacts one sync invocation received, with what became of each."""
        with self._lock:
            for record in result.records:
                self._record_message(record, result)

    def _record_message(self, record: Mapping[str, Any], result: BatchResult) -> None:
        try:
            operation = parse_operation(str(record.get("body", "")))
        except MalformedMessage:
            return
        seq = self._next()
        delivery = self._delivery(operation.correlation_id, seq)
        message_id = str(record.get("messageId", ""))
        contact = delivery.contacts.get(message_id)
        phone = operation.contact.phone if isinstance(operation, ContactOperation) else operation.target.phone
        digits = "".join(ch for ch in phone or "" if ch.isdigit())
        if contact is None:
            contact = ContactEntry(message_id, mask_phone(phone) or "(by contact id)", operation.op.value)
            delivery.contacts[message_id] = contact
        contact.outcome, contact.reason = self._fate(message_id, result)
        # Writes are stored during the invocation, before its result arrives here.
        since = delivery.at if delivery.status else 0.0  # a delivery not answered yet: its time is not known
        contact.heymarket = [{"at": at, "op": op} for at, op in self._writes.get(digits, []) if at >= since]
        if contact.outcome == "settled" and contact.heymarket:
            contact.outcome = "deleted" if contact.heymarket[-1]["op"] == "delete" else "delivered"
        delivery.updated = seq

    def _fate(self, message_id: str, result: BatchResult) -> tuple[str, str]:
        """(outcome, reason) of a message the sync function received: as its log said, else settled or retrying."""
        fate = self.fates.take(message_id)
        if result.error is not None:
            return "retrying", result.error
        if fate is not None:
            return fate
        return ("retrying", "") if message_id in result.failed_message_ids else ("settled", "")

    def record_write(self, op: str, phone: str, at: float | None = None) -> None:
        """A contact write (`op`: create, update, delete) the Heymarket sandbox stored; `phone` in any form."""
        digits = "".join(ch for ch in phone if ch.isdigit())
        with self._lock:
            writes = self._writes.setdefault(digits, [])
            writes.append((time.time() if at is None else at, op))
            del writes[:-MAX_WRITES_PER_PHONE]

    def record_requests(self, requests: Iterable[tuple[str, str, int]], at: float | None = None) -> None:
        """Heymarket requests answered since the last call: (method, path, status)."""
        moment = time.time() if at is None else at
        with self._lock:
            for method, path, status in requests:
                self._requests.append(
                    {"seq": self._next(), "at": moment, "method": method, "path": path, "status": status}
                )

    def snapshot(self, after: int = 0) -> dict[str, Any]:
        """The inspector's JSON: deliveries and Heymarket requests changed after `after` (0: all), newest first,
        and the `cursor` to pass next time."""
        with self._lock:
            deliveries = [
                _delivery_json(d) for d in reversed(self._deliveries.values()) if d.updated > after and d.status
            ]
            requests = [dict(r) for r in reversed(self._requests) if r["seq"] > after]
            return {"cursor": self._seq, "deliveries": deliveries, "heymarket_requests": requests}


def _delivery_json(entry: DeliveryEntry) -> dict[str, Any]:
    data = asdict(entry)
    data["contacts"] = [asdict(contact) for contact in entry.contacts.values()]
    data["outcome"] = outcome_of(entry)
    return data


def outcome_of(entry: DeliveryEntry) -> str:
    """What the inspector filters on: `refused` (nothing queued), `dead-lettered` (a contact refused at ingest or by
    the sync function: a letter), `in progress` (a contact not settled yet), else `delivered`."""
    if entry.verdict in ("refused", "failed"):
        return "refused"
    outcomes = {contact.outcome for contact in entry.contacts.values()}
    if entry.refused or "dead-lettered" in outcomes:
        return "letter"
    if (entry.accepted and not outcomes) or outcomes - {"delivered", "deleted", "settled"}:
        return "in progress"
    return "delivered"
