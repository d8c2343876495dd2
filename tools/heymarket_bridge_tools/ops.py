"""Operator tasks against a deployed stack or the local one: DLQ inspection, redrive, export, status, credentials.

Everything here takes boto3 clients, so the same code serves `--stack-name` (real AWS, URLs from the stack's
Outputs) and the local stack's moto. Contacts, and the error texts that may quote them, are shown masked unless
the operator asks otherwise; an export is written readable by its owner only.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from heymarket_bridge.messages import DeadLetter, MalformedMessage, forced
from heymarket_bridge.observability import mask_email, mask_phone

# Long enough to send and delete a batch; short enough that an interrupted run's messages come back soon.
INSPECT_VISIBILITY_S = 30


@dataclass(frozen=True)
class StackQueues:
    queue_url: str
    dlq_url: str
    heymarket_secret_arn: str = ""
    heymarket_url: str = "https://api.heymarket.com"

    @classmethod
    def from_stack(cls, cloudformation: Any, stack_name: str) -> StackQueues:
        """Resolve the URLs from a deployed stack's Outputs."""
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        missing = [k for k in ("ContactQueueUrl", "ContactDeadLetterQueueUrl") if k not in outputs]
        if missing:
            raise LookupError(f"stack {stack_name} has no output {', '.join(missing)}: is it a heymarket-bridge stack?")
        return cls(
            queue_url=outputs["ContactQueueUrl"],
            dlq_url=outputs["ContactDeadLetterQueueUrl"],
            heymarket_secret_arn=outputs.get("HeymarketSecretArn", ""),
            heymarket_url=parameters.get("HeymarketBaseUrl") or "https://api.heymarket.com",
        )


@dataclass(frozen=True)
class DeadLetterEntry:
    """One DLQ message: our dead letter, or a message SQS moved there itself (no reason recorded)."""

    message_id: str
    receipt_handle: str
    body: str
    letter: DeadLetter | None

    @property
    def error(self) -> str:
        """Why it is in the DLQ, unmasked (Heymarket's error text may quote the contact)."""
        if self.letter is None:
            return "moved by SQS after too many receives (no reason recorded)"
        return self.letter.error or "no reason recorded"

    @property
    def masked_error(self) -> str:
        """The reason with the contact's phone, email and names, and anything shaped like them, masked."""
        return mask_text(self.error, self.letter.contact if self.letter is not None else None)

    @property
    def original_message(self) -> str:
        """What goes back to the main queue: the message as the ingest function wrote it."""
        if self.letter is not None and self.letter.message is not None:
            return self.letter.message
        return self.body

    def masked(self) -> dict[str, Any]:
        """The entry as an operator may see it: phone and email masked, nothing else of the contact."""
        contact = (self.letter.contact if self.letter is not None else None) or {}
        return {
            "message_id": self.message_id,
            "error": self.masked_error,
            "phone": mask_phone(_text(contact.get("phone"))),
            "email": mask_email(_text(contact.get("email"))),
            "source": (self.letter.source if self.letter is not None else "") or "unknown",
            "received_at": self.letter.received_at if self.letter is not None else "",
            "attempts": self.letter.attempts if self.letter is not None else None,
        }

    def unmasked(self) -> dict[str, Any]:
        """The entry with its contact and error as they are (for `--unmasked`)."""
        if self.letter is None:
            return {"message_id": self.message_id, "error": self.error, "message": self.body}
        return {"message_id": self.message_id, **json.loads(self.letter.to_json())}


_EMAIL: Final = re.compile(r"[^\s@\"'<>,;:()\[\]]+@[^\s@\"'<>,;:()\[\]]+\.[A-Za-z]{2,}")
# A run of 7 or more digits, possibly with the separators people write phones with.
_PHONE: Final = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_NAME_FIELDS: Final = ("first", "last", "display_name", "name")


def mask_text(text: str, contact: Mapping[str, Any] | None = None) -> str:
    """`text` (an error Heymarket answered) with emails, phone numbers and the contact's names masked.

    Heymarket's error messages may quote what was sent: the contact's own values are masked wherever they appear,
    and so is anything shaped like an email or a phone number.
    """
    masked = _EMAIL.sub(lambda match: mask_email(match.group(0)), text)
    masked = _PHONE.sub(lambda match: mask_phone(match.group(0)) or match.group(0), masked)
    for name_field in _NAME_FIELDS:
        value = _text((contact or {}).get(name_field)).strip()
        if len(value) >= 2:
            masked = re.sub(re.escape(value), value[0] + "***", masked, flags=re.IGNORECASE)
    return masked


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _entry(message: dict[str, Any]) -> DeadLetterEntry:
    body = message["Body"]
    try:
        letter: DeadLetter | None = DeadLetter.from_json(body)
    except MalformedMessage:
        letter = None
    return DeadLetterEntry(message["MessageId"], message["ReceiptHandle"], body, letter)


@dataclass
class RedriveReport:
    moved: int = 0
    failed: int = 0
    skipped: int = 0  # did not match the filter
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)


class DeadLetterQueue:
    """The DLQ of one stack and the main queue its contacts go back to."""

    def __init__(self, sqs: Any, queues: StackQueues) -> None:
        self._sqs = sqs
        self._queues = queues

    def entries(self) -> list[DeadLetterEntry]:
        """Every message in the DLQ; they are visible again (to anyone) when this returns."""
        received = list(self._receive_all())
        self._release(received)
        return received

    def summary(self, *, unmasked: bool = False) -> list[tuple[str, int]]:
        """(error, count), most frequent first; errors masked unless `unmasked`."""
        return Counter(entry.error if unmasked else entry.masked_error for entry in self.entries()).most_common()

    def export(self, path: Path, progress: Callable[[int], None] = lambda count: None) -> int:
        """Write every dead letter as one JSON line, unmasked (to edit and re-post): a new file, mode 0600.

        The file is created readable and writable by its owner only, since it holds whole contacts; an existing
        file is replaced only after the letters were read, and keeps no wider permission.
        """
        entries = []
        for entry in self._receive_all():
            entries.append(entry)
            progress(len(entries))
        self._release(entries)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                for entry in entries:
                    out.write((entry.body if entry.letter is not None else json.dumps({"message": entry.body})) + "\n")
            os.chmod(temporary, 0o600)  # whatever the umask
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return len(entries)

    def redrive(
        self,
        *,
        error_filter: str | None = None,
        dry_run: bool = False,
        force: bool = False,
        progress: Callable[[RedriveReport], None] = lambda report: None,
    ) -> RedriveReport:
        """Send dead letters back to the main queue, deleting each from the DLQ only once it is re-enqueued.

        `force` marks each message so that the sync function applies it even if a newer operation was applied to its
        contact since, or it would change nothing (otherwise such a letter is skipped: superseded or unchanged).
        Interrupting (Ctrl-C, SIGTERM) stops after the current message, so no message is ever both re-enqueued
        and left in the DLQ; messages not yet handled simply become visible again. Run it again to finish.
        """
        report = RedriveReport()
        untouched: list[DeadLetterEntry] = []
        with _deferred_interrupts() as interrupted:
            for batch in self._receive_batches():
                for position, entry in enumerate(batch):
                    if interrupted():
                        untouched.extend(batch[position:])  # handed back at once, not after the visibility timeout
                        break
                    if error_filter is not None and error_filter.lower() not in entry.error.lower():
                        report.skipped += 1
                        untouched.append(entry)
                        continue
                    if dry_run:
                        report.moved += 1
                        untouched.append(entry)
                    else:
                        self._move(entry, report, untouched, force=force)
                    progress(report)
                if interrupted():
                    break
            report.interrupted = interrupted()
        self._release(untouched)
        return report

    def _move(
        self, entry: DeadLetterEntry, report: RedriveReport, untouched: list[DeadLetterEntry], *, force: bool = False
    ) -> None:
        try:
            body = forced(entry.original_message) if force else entry.original_message
            self._sqs.send_message(QueueUrl=self._queues.queue_url, MessageBody=body)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the message stays in the DLQ and is reported
            report.failed += 1
            report.errors.append(f"{entry.message_id}: {exc}")
            untouched.append(entry)
            return
        self._sqs.delete_message(QueueUrl=self._queues.dlq_url, ReceiptHandle=entry.receipt_handle)
        report.moved += 1

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the DLQ."""
        return _depth(self._sqs, self._queues.dlq_url)

    def _receive_all(self) -> Iterator[DeadLetterEntry]:
        for batch in self._receive_batches():
            yield from batch

    def _receive_batches(self) -> Iterator[list[DeadLetterEntry]]:
        while True:
            messages = self._sqs.receive_message(
                QueueUrl=self._queues.dlq_url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=INSPECT_VISIBILITY_S,
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                return
            yield [_entry(message) for message in messages]

    def _release(self, entries: list[DeadLetterEntry]) -> None:
        for start in range(0, len(entries), 10):
            chunk = entries[start : start + 10]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._queues.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": e.receipt_handle, "VisibilityTimeout": 0}
                    for i, e in enumerate(chunk)
                ],
            )


def _depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


@contextmanager
def _deferred_interrupts() -> Iterator[Callable[[], bool]]:
    """Turn SIGINT/SIGTERM into a flag checked between messages (main thread only; elsewhere a no-op)."""
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    try:
        previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: nothing to defer
        previous = {}
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@dataclass(frozen=True)
class QueueStatus:
    queue_visible: int
    queue_in_flight: int
    dlq_visible: int
    dlq_in_flight: int


def queue_status(sqs: Any, queues: StackQueues) -> QueueStatus:
    visible, in_flight = _depth(sqs, queues.queue_url)
    dlq_visible, dlq_in_flight = _depth(sqs, queues.dlq_url)
    return QueueStatus(visible, in_flight, dlq_visible, dlq_in_flight)


def check_credentials(secretsmanager: Any, secret_arn: str, heymarket_url: str) -> tuple[bool, str]:
    """Sign a JWT from the stack's secret and call GET /v1/inboxes: (works, what to tell the operator).

    The Heymarket client's own log lines and warnings (meant for CloudWatch) are kept out of the answer.
    """
    from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
    from heymarket_bridge.adapters.heymarket.http import NotFound, Refused
    from heymarket_bridge.heymarket_port import Deadline, GatewayFailure
    from heymarket_bridge.ratelimit import RequestBudget
    from heymarket_bridge.settings import ConfigError

    def load(_refresh: bool) -> Credentials:
        text = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
        try:
            secret = json.loads(text)
        except ValueError:
            raise ConfigError(
                'it is not JSON: store {"secret_id": "...", "secret_key": "..."} (or {"api_key": "..."})'
            ) from None
        if not isinstance(secret, dict):
            raise ConfigError('it is not a JSON object: store {"secret_id": "...", "secret_key": "..."}')
        return Credentials.from_secret(secret)

    if not secret_arn:
        return False, "the stack has no Heymarket secret (no HeymarketSecretArn output)"
    http = HeymarketHttp(heymarket_url, Authenticator(load), RequestBudget(60), connect_timeout_s=5, read_timeout_s=10)
    try:
        with _quiet_client():
            inboxes = http.call("GET", "/v1/inboxes", None, Deadline.after(20)).data
    except GatewayFailure as exc:
        request_id = f" (request id {exc.request_id})" if exc.request_id else ""
        return False, f"{exc.reason}{request_id}"
    except (NotFound, Refused) as exc:
        return False, f"could not check the credentials at {heymarket_url}: {exc}"
    count = len(inboxes) if isinstance(inboxes, list) else None
    suffix = f"; {count} inbox(es) visible" if count is not None else ""
    return True, f"the credentials work{suffix}"


@contextmanager
def _quiet_client() -> Iterator[None]:
    """Keep the layer's JSON logs, metric lines and library warnings off the operator's terminal."""
    import logging

    from heymarket_bridge.observability import logger

    handler = logger.registered_handler
    sink = io.StringIO()
    previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
