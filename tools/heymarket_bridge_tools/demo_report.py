"""The demo's summary: what the senders were told, what the queue carried, what Heymarket (the sandbox) holds.

`DemoReport` checks the zero-loss promise over what `heymarket-bridge demo` saw (every accepted contact delivered
or dead-lettered with a reason) and renders the summary it prints; pure, over values the demo collected.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from heymarket_bridge.domain.operations import DeleteOperation, QueuedOperation
from heymarket_local.activity import BatchTotals
from heymarket_local.answers import read_answer
from heymarket_local.poller import BatchResult, PollerStats


@dataclass(frozen=True)
class SampleWebhook:
    """An HTTP API sample event turned back into the request its sender made."""

    name: str  # "generic/mixed_contacts.json"
    method: str
    target: str  # path and query
    headers: dict[str, str]
    body: bytes


# The header in which a source that answers in its own format (Salesforce's SOAP Ack) gives the bridge's JSON answer.
REPLY_HEADER: Final = "x-bridge-reply"


@dataclass
class WebhookOutcome:
    webhook: SampleWebhook
    status: int
    accepted: int | None  # None when the reply does not say
    rejections: list[str]  # one reason per rejected contact
    refusal: str | None  # why the whole request was refused (4xx/5xx)
    warnings: list[str] = field(default_factory=list)  # one line per contact accepted with a warning

    def line(self) -> str:
        if self.refusal is not None:
            return f"{self.status}  {self.webhook.name}: refused: {self.refusal}"
        if self.accepted is None:
            return f"{self.status}  {self.webhook.name}: answered in the source's own format"
        detail = f"{self.accepted} accepted"
        if self.rejections:
            detail += f", {len(self.rejections)} rejected"
        return f"{self.status}  {self.webhook.name}: {detail}"


def read_reply(
    webhook: SampleWebhook, status: int, data: bytes, headers: Mapping[str, str] | None = None
) -> WebhookOutcome:
    """What the bridge's reply says: its JSON body, or, from a source answering in its own format (Salesforce's SOAP),
    the JSON answer in the X-Bridge-Reply header; with neither, only the status is known. A `rejected` entry marked
    `accepted` is a contact queued with a warning, not a rejection."""
    carried = {str(k).lower(): v for k, v in (headers or {}).items()}.get(REPLY_HEADER)
    try:
        reply = json.loads(carried if carried is not None else data)
    except ValueError:
        reply = None
    answer = read_answer(reply) if isinstance(reply, dict) else None
    if answer is None:
        rejections: list[str] = []
        warnings: list[str] = []
        accepted, refusal = None, None
    else:
        rejections = [f"{webhook.name} {note.line()}" for note in answer.rejected]
        warnings = [f"{webhook.name} {note.line()}" for note in answer.warnings]
        accepted, refusal = answer.accepted, answer.error
    if status >= 400:
        refusal = refusal if refusal is not None else _refusal_text(reply, data, status)
        accepted = 0 if accepted is None else accepted
    return WebhookOutcome(webhook, status, accepted, rejections, refusal, warnings)


def _refusal_text(reply: Any, data: bytes, status: int) -> str:
    """Why a 4xx/5xx without the bridge's error object was refused: its `message`, else its body, else the status."""
    if isinstance(reply, dict) and isinstance(reply.get("message"), str):
        return str(reply["message"])
    return data.decode("utf-8", "replace")[:200] or f"HTTP {status}"


@dataclass
class Ledger:
    """What the event source reported: each message's body, and whether it was finally deleted."""

    bodies: dict[str, str] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, result: BatchResult) -> None:
        with self.lock:
            for record in result.records:
                self.bodies[record["messageId"]] = record["body"]
            self.settled.update(record["messageId"] for record in result.settled_records)


@dataclass(frozen=True)
class DeadLetterView:
    phone: str | None
    source: str
    reason: str
    body: str  # the original queue message body, when known
    what: str = "unreadable message"  # what the message asked, masked: "15*****1234", "delete of contact <id>"


def read_dead_letter(body: str, max_receive_count: int) -> DeadLetterView:
    """A DLQ message: a letter the sync function wrote (with its error), or a message the queue redrove."""
    from heymarket_bridge.domain.failures import MalformedMessage
    from heymarket_bridge.domain.operations import DeadLetter, parse_operation

    try:
        letter = DeadLetter.from_json(body)
    except MalformedMessage:
        pass
    else:
        message = letter.message or ""
        phone = (letter.contact or {}).get("phone")
        try:
            what = _describe(parse_operation(message))
        except MalformedMessage:
            what = _describe_contact(str(phone) if phone else None)
        return DeadLetterView(
            phone=str(phone) if phone else None,
            source=letter.source or "unknown",
            reason=letter.error,
            body=message,
            what=what,
        )
    reason = f"received {max_receive_count} times without being settled; moved by the queue's redrive policy"
    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return DeadLetterView(None, "unknown", reason, body)
    phone = operation.target.phone if isinstance(operation, DeleteOperation) else operation.contact.phone
    return DeadLetterView(phone, operation.source, reason, body, _describe(operation))


def refusal_letter(body: str) -> bool:
    """A contact the ingest function refused (and answered so): a letter for an operator, not a sync failure."""
    from heymarket_bridge.domain.failures import MalformedMessage
    from heymarket_bridge.domain.operations import DeadLetter

    try:
        return DeadLetter.from_json(body).refused_at_ingest
    except MalformedMessage:
        return False


def _describe(operation: QueuedOperation) -> str:
    """What a queued operation asks, masked as the logs mask it: a contact's phone, or a delete's target."""
    if isinstance(operation, DeleteOperation):
        target = operation.target
        return (
            f"delete of {_describe_contact(target.phone)}" if target.phone else f"delete of contact {target.contact_id}"
        )
    return _describe_contact(operation.contact.phone)


def _describe_contact(phone: str | None) -> str:
    from heymarket_bridge.observability import mask_phone

    return mask_phone(phone) if phone else "a contact without a phone"


def _is_list_write(body: str) -> bool:
    """A list write's follow-up, which the sync function queues itself (heymarket_bridge.sync.lists.steps)."""
    from heymarket_bridge.domain.failures import MalformedMessage
    from heymarket_bridge.domain.operations import ContactOperation, Operation, parse_operation

    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return False
    return isinstance(operation, ContactOperation) and operation.op is Operation.LISTS


def _is_delete(body: str) -> bool:
    from heymarket_bridge.domain.failures import MalformedMessage
    from heymarket_bridge.domain.operations import DeleteOperation, parse_operation

    try:
        return isinstance(parse_operation(body), DeleteOperation)
    except MalformedMessage:
        return False


def _phone_of(body: str) -> str | None:
    from heymarket_bridge.domain.failures import MalformedMessage
    from heymarket_bridge.domain.operations import ContactOperation, parse_operation

    try:
        operation = parse_operation(body)
    except MalformedMessage:
        return None
    return operation.contact.phone if isinstance(operation, ContactOperation) else None


@dataclass
class DemoReport:
    outcomes: list[WebhookOutcome]
    ledger: Ledger
    dead_letters: list[DeadLetterView]
    sandbox_phones: set[str]
    sandbox_stats: dict[str, Any]
    drained: bool
    drain_s: float
    problems: list[str] = field(default_factory=list)
    delivered_messages: int = 0
    deleted_messages: int = 0  # deletes the sync function settled (sent, or already gone)
    poller: PollerStats | None = None  # the event source's counters at the end
    left_in_queue: tuple[int, int] = (0, 0)  # (waiting, in flight) when the demo stopped waiting
    lists: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's lists, as /_sandbox/lists shows them
    contacts: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's contacts (for names and tags)
    tags: list[dict[str, Any]] = field(default_factory=list)  # the sandbox's tags
    sync: BatchTotals | None = None  # the sync function's own "Batch synced" records, added up
    refusal_letters: int = 0  # contacts refused at ingest, written to the DLQ for an operator (not in dead_letters)

    def check(self) -> None:
        """Fill `problems`: what makes the demo fail."""
        self._check_run()
        dead_bodies = {letter.body for letter in self.dead_letters}
        dead_phones = {letter.phone for letter in self.dead_letters if letter.phone}
        # Operations queued by webhooks, each counted once: a body sent twice (SQS is at-least-once; a SendMessageBatch
        # whose answer timed out is sent again by botocore, with new message ids) is one contact accepted.
        accepted_bodies: set[str] = set()
        for message_id, body in self.ledger.bodies.items():
            follow_up = _is_list_write(body)  # queued by the sync function itself, not by a webhook
            if not follow_up:
                accepted_bodies.add(body)
            if message_id not in self.ledger.settled:
                if body not in dead_bodies:
                    self.problems.append(f"message {message_id} was neither settled nor moved to the DLQ")
            elif not follow_up:
                self._check_settled(message_id, body, dead_bodies, dead_phones)
        replies_accepted = [outcome.accepted for outcome in self.outcomes if outcome.accepted is not None]
        readable = self.outcomes and len(replies_accepted) == len(self.outcomes)
        # Only a drained queue has been received whole: before, the ledger holds what the event source took so far.
        if self.drained and readable and sum(replies_accepted) != len(accepted_bodies):
            self.problems.append(
                f"the replies accepted {sum(replies_accepted)} contacts but {len(accepted_bodies)} were queued"
            )

    def _check_run(self) -> None:
        """The webhooks answered without a 5xx, the queue drained, and something was accepted."""
        for outcome in self.outcomes:
            if outcome.status >= 500:
                self.problems.append(f"{outcome.webhook.name} got HTTP {outcome.status}")
        if not self.drained:
            self.problems.append("the queue did not drain in time")
        if not self.ledger.bodies and self.drained:  # undrained: already a problem, and the ledger is incomplete
            self.problems.append("no contact was accepted, so nothing went through the pipeline")

    def _check_settled(self, message_id: str, body: str, dead_bodies: set[str], dead_phones: set[str]) -> None:
        """Count a settled message a webhook queued as deleted or delivered, or note it as a problem."""
        if _is_delete(body):
            if body not in dead_bodies:
                self.deleted_messages += 1
            return
        phone = _phone_of(body)
        if phone is None:
            if body not in dead_bodies:
                self.problems.append(f"message {message_id} is unreadable and not in the DLQ")
        elif body not in dead_bodies and phone in self.sandbox_phones:
            self.delivered_messages += 1
        elif phone not in dead_phones:
            self.problems.append(f"a contact of message {message_id} was neither delivered nor dead-lettered")

    def render(self, *, events_dir: Path, log_file: Path, settings: str) -> str:
        """The summary `heymarket-bridge demo` prints: one line per webhook, then the totals, then OK or FAILED."""
        lines = [f"Posted {len(self.outcomes)} sample webhooks from {_display(events_dir)}/:"]
        lines += [f"  {outcome.line()}" for outcome in self.outcomes]
        lines.append("")
        lines += self._intake_lines()
        lines += self._delivery_lines()
        lines += self._segment_lines()
        lines += self._retry_lines()
        lines.append(self._heymarket_line())
        lines.append(self._queue_line(settings))
        lines.append("")
        lines.append(f"Handler logs: {_display(log_file)}")
        if self.problems:
            lines.append("FAILED:")
            lines += [f"  - {problem}" for problem in self.problems]
        else:
            lines.append("OK: every accepted contact was delivered or dead-lettered with a reason.")
        return "\n".join(lines)

    def _intake_lines(self) -> list[str]:
        """What the senders were told: contacts received, accepted, rejected (why), accepted with a warning."""
        rejections = [reason for outcome in self.outcomes for reason in outcome.rejections]
        accepted, own_format = self._accepted()
        note = f", and {own_format} webhook(s) answered in their source's own format" if own_format else ""
        lines = [f"Received       {accepted + len(rejections)} contacts"]
        lines.append(f"Accepted       {accepted} (queued in SQS){note if not self.drained else ''}")
        letters = self.refusal_letters
        written = f" ({letters} in the DLQ as refusal letters: `dlq list`)" if letters else ""
        lines.append(f"Rejected       {len(rejections)}{written}" + (":" if rejections else ""))
        lines += [f"  - {reason}" for reason in rejections]
        return lines + self._warning_lines()

    def _accepted(self) -> tuple[int, int]:
        """(contacts accepted, webhooks answered in their source's own format, which do not say how many)."""
        replied = [outcome.accepted for outcome in self.outcomes if outcome.accepted is not None]
        # What the senders were told (the replies) is what was accepted; what the sync side received may lag.
        own_format = sum(1 for outcome in self.outcomes if outcome.accepted is None)
        accepted = sum(replied) if replied or not self.ledger.bodies else len(self.ledger.bodies)
        if own_format and self.drained:
            accepted = max(accepted, len(self.ledger.bodies))  # the source-format replies' contacts are in the ledger
        return accepted, own_format

    def _warning_lines(self) -> list[str]:
        """Contacts accepted with a warning, and webhooks refused as a whole."""
        lines = []
        warnings = [warning for outcome in self.outcomes for warning in outcome.warnings]
        if warnings:
            lines.append(f"Warnings       {len(warnings)} accepted contact(s) to check:")
            lines += [f"  - {warning}" for warning in warnings]
        refusals = [outcome for outcome in self.outcomes if outcome.refusal is not None]
        if refusals:
            lines.append(f"Refused        {len(refusals)} webhook(s), see above")
        return lines

    def _delivery_lines(self) -> list[str]:
        """What the sync side did: contacts delivered to the sandbox, deletes settled, messages dead-lettered."""
        stored = len(self.sandbox_phones)
        so_far = "" if self.drained else " so far"
        lines = [
            f"Delivered      {self.delivered_messages}{so_far} to the Heymarket sandbox "
            f"({stored} distinct contacts stored: updates of one phone are merged)"
        ]
        if self.deleted_messages:
            lines.append(f"Deleted        {self.deleted_messages}{so_far} (delete requests settled)")
        lines.append(f"Dead-lettered  {len(self.dead_letters)}{so_far}" + (":" if self.dead_letters else ""))
        lines += [f"  - {letter.what} ({letter.source}): {letter.reason}" for letter in self.dead_letters]
        return lines

    def _queue_line(self, settings: str) -> str:
        if self.drained:
            return f"Queue          drained in {self.drain_s:.1f} s; {settings}"
        waiting, in_flight = self.left_in_queue
        return (
            f"Queue          NOT drained after {self.drain_s:.1f} s: {waiting} waiting, {in_flight} in flight "
            f"(raise --timeout to wait longer); {settings}"
        )

    def _segment_lines(self) -> list[str]:
        """The lists in the sandbox with their members, and the tags contacts hold (by name)."""
        from heymarket_bridge.observability import mask_phone

        names = {str(c.get("phone")): _name(c) for c in self.contacts}
        lines = [f"Lists          {len(self.lists)} in Heymarket" + (":" if self.lists else "")]
        for item in self.lists:
            phones = [str(phone) for phone in item.get("phones") or []]
            members = ", ".join(f"{names.get(p) or '?'} ({mask_phone(p)})" for p in phones) or "no member"
            lines.append(f"  - {item.get('title')} (id {item.get('id')}): {members}")
        tag_names = {tag.get("id"): str(tag.get("tag")) for tag in self.tags}
        held: dict[str, int] = {}
        for contact in self.contacts:
            for tag in contact.get("tags") or []:
                name = tag_names.get(tag.get("tag_id"), f"tag {tag.get('tag_id')}")
                held[name] = held.get(name, 0) + 1
        tagged = ", ".join(f"{name} x {count}" for name, count in sorted(held.items()))
        lines.append(f"Tags           {tagged or 'none on any contact'}")
        return lines

    def _transient_failures(self) -> int:
        """Heymarket answers the sync function retries: 5xx, 429, and connections reset (the sandbox's counts)."""
        by_status = {str(status): count for status, count in (self.sandbox_stats.get("by_status") or {}).items()}
        answered = sum(count for status, count in by_status.items() if status.startswith("5") or status == "429")
        return int(answered) + int(self.sandbox_stats.get("connections_reset") or 0)

    def _retry_lines(self) -> list[str]:
        """Retries inside an invocation (Heymarket's failed answers, each retried by the sync function's client), the
        messages left for another receive and those put back to wait (the sync function's own counts)."""
        failed = self._transient_failures()
        sync = self.sync
        left = sync.totals["retried"] if sync is not None and sync.invocations else None
        if left is None and self.poller is not None:
            left = self.poller.retried_messages
        waiting = sync.totals["waiting"] if sync is not None else 0
        lines = []
        if failed or left or (self.poller is not None and self.poller.failed_invocations):
            lines.append(self._retried_line(failed, left or 0, waiting))
        if waiting:
            errors = "; ".join(sync.configuration_errors) if sync is not None else ""
            lines.append(
                f"Waiting        {waiting} time(s) a message was put back to wait (Heymarket unavailable or a "
                "configuration fix: see HeymarketUnavailableAlarm and HeymarketConfigurationAlarm)"
                + (f": {errors}" if errors else "")
            )
        return lines

    def _retried_line(self, failed: int, left: int, waiting: int) -> str:
        sync = self.sync
        invocations = self.poller.invocations if self.poller is not None else (sync.invocations if sync else 0)
        failed_invocations = self.poller.failed_invocations if self.poller is not None else 0
        parts = []
        if failed:
            inside = " inside their sync invocation" if not left and not waiting else ""
            parts.append(f"{failed} Heymarket request(s) again after a 5xx, 429 or reset{inside}")
        if left:
            parts.append(f"{left} message(s) left for another receive")
        head = "; ".join(parts) or "no Heymarket request"
        return f"Retried        {head} ({invocations} sync invocations, {failed_invocations} failed)"

    def _heymarket_line(self) -> str:
        by_endpoint = self.sandbox_stats.get("by_endpoint") or {}
        endpoints = ", ".join(f"{count} x {name}" for name, count in sorted(by_endpoint.items()))
        requests = self.sandbox_stats.get("requests", 0)
        noun = "request" if requests == 1 else "requests"
        return f"Heymarket      {requests} {noun}" + (f" ({endpoints})" if endpoints else "") + self._faults_text()

    def _faults_text(self) -> str:
        """The sandbox's answers other than 2xx and its connection resets, or "" when there were none."""
        by_status = {str(status): count for status, count in (self.sandbox_stats.get("by_status") or {}).items()}
        faults = {status: count for status, count in by_status.items() if not status.startswith("2")}
        resets = int(self.sandbox_stats.get("connections_reset") or 0)
        if not faults and not resets:
            return ""
        answers = [f"{count} x {status}" for status, count in sorted(faults.items())]
        server_errors = sum(count for status, count in faults.items() if status.startswith("5"))
        if resets:
            answers.append(f"{resets} connection(s) reset")
        return f"; {server_errors} answered 5xx, faults: " + ", ".join(answers)


def _name(contact: Mapping[str, Any]) -> str:
    return str(contact.get("display_name") or " ".join(str(contact.get(k) or "") for k in ("first", "last")).strip())


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
