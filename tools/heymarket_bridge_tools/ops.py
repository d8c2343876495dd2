"""Operator tasks against a deployed stack or the local one: DLQ inspection, redrive, export, status.

Everything here takes boto3 clients, so the same code serves `--stack-name` (real AWS, URLs from the stack's
Outputs) and the local stack's moto. Contacts, and the error texts that may quote them, are shown masked unless
the operator asks otherwise; an export is written readable by its owner only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Final

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.operations import REFUSED_AT_INGEST, DeadLetter, forced
from heymarket_bridge.domain.text import MASKING_MARGIN
from heymarket_bridge.observability import mask_email, mask_phone

# Reading the whole DLQ (list, show, export, redrive): every letter is received once and kept hidden until the read
# ends, so that the next receives return the others, and the read ends when none is left. Kept hidden: each letter for
# HOLD_BASE_S plus HOLD_PER_LETTER_S per letter the queue reports (so a read of 50,000 letters needs no extension
# on a usual network), extended while the read goes on whenever a hold would run out within HOLD_MARGIN of its
# length, capped by SQS's 12 hours. Handed back at once (visibility 0) when the read ends, Ctrl-C included; a read
# killed outright leaves its letters hidden until their hold runs out.
HOLD_BASE_S: Final = 120
HOLD_PER_LETTER_S: Final = 0.05
HOLD_MARGIN: Final = 1 / 3
SQS_MAX_VISIBILITY_S: Final = 43_200
# Long polling: "Short polling ... queries only a subset of the servers ... you might not receive all of your
# messages" (AWS, ReceiveMessage, WaitTimeSeconds); a long poll queries them all, so its empty answer means none was
# visible. The read concludes at an empty answer when the queue's attributes also report none visible (they are
# approximate and may lag), or after NOTHING_NEW_TO_CONCLUDE receives in a row brought no letter not seen before.
# A letter that comes back although held (its hold ran out: SQS answered slower than planned) doubles the hold.
RECEIVE_WAIT_S: Final = 1
NOTHING_NEW_TO_CONCLUDE: Final = 3
# SQS refuses to receive more once a standard queue holds 120,000 messages in flight (its quota).
_IN_FLIGHT_LIMIT_CODES: Final = frozenset({"OverLimit", "AWS.SimpleQueueService.OverLimit"})
# Fields that say who a contact is: a `--set` of one corrects one refusal letter (name it with --message-id, or
# select exactly one), never several people at once.
IDENTITY_FIELDS: Final = frozenset({"phone", "contact_id", "email", "first", "last", "name", "display_name"})
# The fields a `--set` may correct: those the contact rules read (heymarket_bridge.domain.contact.read_contact), and the
# phone's country. Any other name would be carried into the letter's fields and silently ignored by validation.
CORRECTABLE_FIELDS: Final = (
    *("phone", "first", "last", "display_name", "email", "avatar", "tags", "lists", "is_opted_out"),
    *("assignee_id", "contact_id", "country", "country_code"),
)


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
            heymarket_url=parameters.get("LocalTestHeymarketUrl")
            or parameters.get("HeymarketBaseUrl")
            or "https://api.heymarket.com",
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
        return mask_text(self.error, self._contact())

    @property
    def refused_at_ingest(self) -> bool:
        """A refusal letter: a contact the ingest function refused for its content, never sent to Heymarket."""
        return self.letter is not None and self.letter.refused_at_ingest

    def _contact(self) -> Mapping[str, Any] | None:
        """The letter's contact: as queued, or a refusal letter's fields as received."""
        if self.letter is None:
            return None
        return self.letter.contact if self.letter.contact is not None else self.letter.fields

    @property
    def operation_key(self) -> str:
        """What names the queued operation this letter is about, whichever letter carries it: its operation id, or
        else its original message."""
        if self.letter is not None and self.letter.operation_id:
            return f"id:{self.letter.operation_id}"
        return "message:" + hashlib.sha256(self.original_message.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def original_message(self) -> str:
        """What goes back to the main queue: the message as the ingest function wrote it."""
        if self.letter is not None and self.letter.message is not None:
            return self.letter.message
        return self.body

    def masked(self) -> dict[str, Any]:
        """The entry as an operator may see it: phone and email masked, nothing else of the contact."""
        contact = self._contact() or {}
        return {
            "message_id": self.message_id,
            "error": self.masked_error,
            "phone": mask_phone(_text(contact.get("phone"))),
            "email": mask_email(_text(contact.get("email"))),
            "source": (self.letter.source if self.letter is not None else "") or "unknown",
            "received_at": self.letter.received_at if self.letter is not None else "",
            "attempts": self.letter.attempts if self.letter is not None else None,
            **({"kind": REFUSED_AT_INGEST} if self.refused_at_ingest else {}),
        }

    def unmasked(self) -> dict[str, Any]:
        """The entry with its contact and error as they are (for `--unmasked`)."""
        if self.letter is None:
            return {"message_id": self.message_id, "error": self.error, "message": self.body}
        return {"message_id": self.message_id, **json.loads(self.letter.to_json())}


# Each pattern is tried only where its run starts (the lookbehinds): a start inside a run fails wherever the run's
# own start failed, and trying them all was quadratic in the run's length.
_EMAIL: Final = re.compile(r"(?<![^\s@\"'<>,;:()\[\]])[^\s@\"'<>,;:()\[\]]+@[^\s@\"'<>,;:()\[\]]+\.[A-Za-z]{2,}")
# A run of 7 or more digits, possibly with the separators people write phones with.
_PHONE: Final = re.compile(r"(?<!\d)\+?\d[\d\s().-]{5,}\d")
# The most of an error an operator is shown (masked); `--unmasked` shows it whole. A dead letter's error is cut to
# 1,000 characters when written, but anything can be put on a DLQ: masking costs this much at most.
SHOWN_ERROR_CHARACTERS: Final = 2000
_NAME_FIELDS: Final = ("first", "last", "display_name", "name")


def mask_text(text: str, contact: Mapping[str, Any] | None = None) -> str:
    """`text` (an error Heymarket answered) with emails, phone numbers and the contact's names masked.

    Heymarket's error messages may quote what was sent: the contact's own values are masked wherever they appear,
    and so is anything shaped like an email or a phone number.
    """
    cut = len(text) > SHOWN_ERROR_CHARACTERS
    # Masked a little past the cut, so that an email or a phone the cut splits is still recognised whole.
    masked = _EMAIL.sub(lambda match: mask_email(match.group(0)), text[: SHOWN_ERROR_CHARACTERS + MASKING_MARGIN])
    masked = _PHONE.sub(lambda match: mask_phone(match.group(0)) or match.group(0), masked)
    for name_field in _NAME_FIELDS:
        value = _text((contact or {}).get(name_field)).strip()
        if 2 <= len(value) <= len(masked):
            masked = re.sub(re.escape(value), value[0] + "***", masked, flags=re.IGNORECASE)
    return masked[:SHOWN_ERROR_CHARACTERS] + " ..." if cut else masked


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_sets(options: Sequence[str]) -> dict[str, str]:
    """`--set field=value` options as the fields they set (`custom.<id>=value` one custom value); the values stay
    text, as a sender sends them: validation reads them. ValueError names an option without `=` or a field, or a
    field that is not one of CORRECTABLE_FIELDS (listing them)."""
    sets: dict[str, str] = {}
    for option in options:
        name, separator, value = option.partition("=")
        if not separator or not name.strip():
            raise ValueError(f"--set {option!r}: expected FIELD=VALUE, e.g. --set phone=+15105550123")
        name = name.strip()
        custom_id = name.split(".", 1)[1].strip() if name.startswith("custom.") else None
        if name not in CORRECTABLE_FIELDS and not custom_id:
            accepted = ", ".join((*CORRECTABLE_FIELDS, "custom.<id>"))
            raise ValueError(
                f"--set {name!r}: not a field a correction can set (names are lower case); use one of {accepted}"
            )
        if name == "is_opted_out" and not _reads_true(value):
            raise ValueError(
                f"--set is_opted_out={value!r}: a correction may only set is_opted_out=true; an opt-out from a "
                "source always applies and only the person opts back in (by texting START to Heymarket)"
            )
        sets[name] = value
    return sets


def _reads_true(value: Any) -> bool:
    """Whether an is_opted_out value reads as an opt-out, as the contact rules read it
    (heymarket_bridge.domain.contact)."""
    from heymarket_bridge.domain.fields import _TRUE

    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool | int | float):
        return value is True or (not isinstance(value, bool) and value == 1)
    return isinstance(value, str) and value.strip().lower() in _TRUE


def opt_in_by_correction(original: Mapping[str, Any] | None, corrected: Mapping[str, Any]) -> str:
    """Why a corrected refusal letter would drop a person's opt-out ("" when it would not): its `is_opted_out` as
    corrected must read true whenever the letter's fields as received held one that did, and may never be an
    explicit opt-in (false) the letter did not hold as received. A correction fixes what a sender got wrong;
    consent is the person's (README "Consent")."""
    held = (original or {}).get("is_opted_out")
    value = corrected.get("is_opted_out")
    if _reads_true(held) and not _reads_true(value):
        return "the letter holds an opt-out (is_opted_out true): a correction cannot remove it"
    blank = value is None or (isinstance(value, str) and not value.strip())
    if value != held and not blank and not _reads_true(value):
        return "a correction cannot set is_opted_out to false: only the person opts back in"
    return ""


def corrected_fields(letter: DeadLetter, sets: Mapping[str, str]) -> dict[str, Any]:
    """A refusal letter's fields as received, with the operator's corrections."""
    fields = dict(letter.fields or {})
    for name, value in sets.items():
        if name.startswith("custom."):
            held = fields.get("custom")
            fields["custom"] = {**(held if isinstance(held, Mapping) else {}), name.split(".", 1)[1]: value}
        else:
            fields[name] = value
    return fields


def revalidated(letter: DeadLetter, sets: Mapping[str, str], *, force: bool = False) -> str:
    """The queue message of a refusal letter once corrected: its fields validated again exactly as a delivery's
    contact is (heymarket_bridge.domain.contact.read_contact, in the region the ingest function read it in), as an
    upsert
    from its source (so that the source's consent rules apply to it as to any of its contacts). Raises InvalidContact
    (the reasons) when it is still not a contact, ValueError when the correction would drop the person's opt-out
    (opt_in_by_correction). The operation carries no consent claim: a correction is never re-consent."""
    from heymarket_bridge.domain.contact import read_contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation

    fields = corrected_fields(letter, sets)
    refused = opt_in_by_correction(letter.fields, fields)
    if refused:
        raise ValueError(refused)
    contact, _dropped, _warnings = read_contact(fields, letter.region or "US")
    operation = ContactOperation(
        Operation.UPSERT,
        contact,
        letter.source or "generic",
        letter.received_at or letter.failed_at,
        letter.correlation_id,
        operation_id=letter.operation_id or str(uuid.uuid4()),
        force=force,
    )
    return operation.to_json()


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
    # Letters of operations this run had already moved, dead-lettered again meanwhile (their cause is not fixed):
    # left in the DLQ, so that a run cannot chase them for ever.
    returned: int = 0
    interrupted: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class LetterCount:
    """How many letters a read found, and how many the queue reported when it began (visible and in flight)."""

    read: int
    reported: int
    stopped: str = ""  # why the read stopped before the queue was empty ("" when it did not)

    def shortfall(self) -> str:
        """What the operator must know when the read did not find every letter the queue reported ("" if it did)."""
        if self.stopped:
            return self.stopped
        if self.read < self.reported:
            return (
                f"the queue reported {self.reported} letter(s) when the read began: {self.reported - self.read} were "
                "held by another reader (a `dlq` command or a move task still running) or removed meanwhile; "
                "run it again once that is done"
            )
        return ""


class DeadLetterQueue:
    """The DLQ of one stack and the main queue its contacts go back to.

    `clock` (seconds, monotonic) times the letters' holds; a test passes the clock of its model of SQS.
    """

    def __init__(self, sqs: Any, queues: StackQueues, clock: Callable[[], float] = time.monotonic) -> None:
        self._sqs = sqs
        self._queues = queues
        self._clock = clock
        self.last_count = LetterCount(0, 0)

    def entries(self, progress: Callable[[int], None] = lambda count: None) -> list[DeadLetterEntry]:
        """Every message in the DLQ, each once; they are visible again (to anyone) when this returns.

        `last_count` then says how many the queue reported, and why the read stopped short if it did.
        """
        read = _LetterRead(self._sqs, self._queues.dlq_url, self._clock)
        received: list[DeadLetterEntry] = []
        try:
            for batch in read.batches():
                received.extend(batch)
                progress(len(received))
        finally:
            read.release_all()
            self.last_count = read.count()
        return received

    def summary(self, *, unmasked: bool = False) -> list[tuple[str, int]]:
        """(error, count), most frequent first; errors masked unless `unmasked`."""
        return Counter(entry.error if unmasked else entry.masked_error for entry in self.entries()).most_common()

    def export(self, path: Path, progress: Callable[[int], None] = lambda count: None) -> int:
        """Write every dead letter as one JSON line, unmasked (to edit and re-post): a new file, mode 0600.

        The file is created readable and writable by its owner only, since it holds whole contacts; an existing
        file is replaced only after the letters were read, and keeps no wider permission. A file that cannot be
        written is reported (OSError naming `path`) before any letter is read.
        """
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(path)) from None
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                entries = self.entries(progress)
                for entry in entries:
                    out.write((entry.body if entry.letter is not None else json.dumps({"message": entry.body})) + "\n")
            os.chmod(temporary, 0o600)  # whatever the umask
            try:
                os.replace(temporary, path)
            except OSError as error:
                raise OSError(error.errno, error.strerror, str(path)) from None
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
        sets: Mapping[str, str] | None = None,
        message_id: str | None = None,
        progress: Callable[[RedriveReport], None] = lambda report: None,
    ) -> RedriveReport:
        """Send dead letters back to the main queue, deleting each from the DLQ only once it is re-enqueued.

        Each letter is handled once, however long the run: letters not moved (filtered out, failed, a dry run) stay
        hidden until the end, then are handed back together. A letter about an operation this run already moved
        (dead-lettered again meanwhile: its cause is not fixed) is left in the DLQ and counted as `returned`.
        Interrupting (Ctrl-C, SIGTERM) stops after the current message, so no message is ever both re-enqueued and
        left in the DLQ; the letters not yet handled are handed back at once. Run it again to finish.
        `force` marks each message so that the sync function applies it even if a newer operation was applied to its
        contact since, or it would change nothing (otherwise such a letter is skipped: superseded or unchanged).

        A refusal letter (a contact refused at ingest: it has no queue message) goes back only once its fields,
        corrected by `sets` (field -> value), pass the same validation as a delivery's contact (`revalidated`);
        one still refused stays in the DLQ, counted as failed with its reasons. `sets` selects refusal letters only;
        one that sets who the contact is (IDENTITY_FIELDS) must select exactly one letter (`message_id`, or a
        filter that one letter matches), else nothing moves. `message_id` selects that DLQ message only.
        """
        report = RedriveReport()
        sets = dict(sets or {})
        if not self._one_identity_letter(report, error_filter, sets, message_id):
            return report
        moved: set[str] = set()
        read = _LetterRead(self._sqs, self._queues.dlq_url, self._clock)
        try:
            with _deferred_interrupts() as interrupted:
                for batch in read.batches():
                    for entry in batch:
                        if interrupted():
                            break
                        if not self._selected(entry, error_filter, sets, message_id):
                            report.skipped += 1
                        elif entry.operation_key in moved:
                            report.returned += 1
                        elif dry_run:
                            if self._body(entry, report, force=force, sets=sets) is not None:
                                report.moved += 1
                        elif self._move(read.current(entry), report, force=force, sets=sets):
                            read.forget(entry)
                            moved.add(entry.operation_key)
                        progress(report)
                    if interrupted():
                        break
                report.interrupted = interrupted()
        finally:
            read.release_all()
            self.last_count = read.count()
        return report

    def _one_identity_letter(
        self, report: RedriveReport, error_filter: str | None, sets: Mapping[str, str], message_id: str | None
    ) -> bool:
        """False (with the report's error) when `sets` names who the contact is and no single letter is selected."""
        if not sets or message_id is not None or not IDENTITY_FIELDS & {name.split(".", 1)[0] for name in sets}:
            return True
        matching = [e for e in self.entries() if self._selected(e, error_filter, sets, None)]
        if len(matching) == 1:
            return True
        report.errors.append(
            f"--set {', '.join(sorted(sets))} corrects one letter, and {len(matching)} refusal letter(s) "
            "match: name one with --message-id (`dlq show --json` lists them); nothing was moved"
        )
        report.failed = 1
        return False

    @staticmethod
    def _selected(
        entry: DeadLetterEntry, error_filter: str | None, sets: Mapping[str, str], message_id: str | None
    ) -> bool:
        if message_id is not None and entry.message_id != message_id:
            return False
        if sets and not entry.refused_at_ingest:
            return False  # corrections apply to refusal letters; a queued operation goes back as it was
        return error_filter is None or error_filter.lower() in entry.error.lower()

    def _body(
        self, entry: DeadLetterEntry, report: RedriveReport, *, force: bool, sets: Mapping[str, str]
    ) -> str | None:
        """What goes back to the main queue for the letter: its original message, or a refusal letter validated
        again; None (counted as failed, with the reasons masked) for one still refused."""
        from heymarket_bridge.domain.failures import InvalidContact

        if entry.letter is not None and entry.refused_at_ingest:
            try:
                return revalidated(entry.letter, sets, force=force)
            except InvalidContact as refused:
                fields = corrected_fields(entry.letter, sets)
                report.failed += 1
                reasons = mask_text("; ".join(refused.errors), fields)
                report.errors.append(f"{entry.message_id}: still refused, left in the DLQ: {reasons}")
                return None
            except ValueError as refused_correction:  # the correction would drop the person's opt-out
                report.failed += 1
                report.errors.append(f"{entry.message_id}: correction refused, left in the DLQ: {refused_correction}")
                return None
        return forced(entry.original_message) if force else entry.original_message

    def _move(
        self,
        entry: DeadLetterEntry,
        report: RedriveReport,
        *,
        force: bool = False,
        sets: Mapping[str, str] | None = None,
    ) -> bool:
        """Re-enqueue the letter's original message (a refusal letter: its fields validated again), then delete the
        letter; False (reported) when that failed."""
        body = self._body(entry, report, force=force, sets=sets or {})
        if body is None:
            return False
        try:
            self._sqs.send_message(QueueUrl=self._queues.queue_url, MessageBody=body)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the message stays in the DLQ and is reported
            report.failed += 1
            report.errors.append(f"{entry.message_id}: {exc}")
            return False
        self._sqs.delete_message(QueueUrl=self._queues.dlq_url, ReceiptHandle=entry.receipt_handle)
        report.moved += 1
        return True

    def depth(self) -> tuple[int, int]:
        """(visible, in flight) messages of the DLQ."""
        return _depth(self._sqs, self._queues.dlq_url)


class _LetterRead:
    """One read of a DLQ: each letter received once and kept hidden (its hold extended as needed) until released.

    A letter that comes back all the same (a hold that ran out, a receipt SQS no longer accepted) is recognised by
    its message id: its newer receipt handle is kept, and it is not handed out a second time. The read ends when a
    long poll finds nothing visible (see NOTHING_NEW_TO_CONCLUDE), or when SQS refuses to hold more in flight.
    """

    def __init__(self, sqs: Any, queue_url: str, clock: Callable[[], float]) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock
        visible, in_flight = _depth(sqs, queue_url)
        self._reported = visible + in_flight
        self.hold_s = min(SQS_MAX_VISIBILITY_S, HOLD_BASE_S + int(self._reported * HOLD_PER_LETTER_S))
        # message id -> (its latest receipt, hidden until), in the order the holds run out (each is as long as the
        # one before or longer, so a letter held again goes to the end)
        self._held: OrderedDict[str, tuple[DeadLetterEntry, float]] = OrderedDict()
        self._seen: set[str] = set()
        self._stopped = ""

    def batches(self) -> Iterator[list[DeadLetterEntry]]:
        """The letters not handed out before, a receive at a time."""
        nothing_new = 0
        while True:
            self._extend_due()
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=self.hold_s,
                    WaitTimeSeconds=RECEIVE_WAIT_S,
                ).get("Messages", [])
            except Exception as error:
                if _error_code(error) not in _IN_FLIGHT_LIMIT_CODES:
                    raise
                self._stopped = (
                    f"stopped after {len(self._seen)} letter(s): SQS holds at most 120,000 messages of a queue in "
                    "flight (its quota); the rest could not be read in this run"
                )
                return
            received_at = self._clock()
            fresh: list[DeadLetterEntry] = []
            came_back = False
            for message in messages:
                entry = _entry(message)
                if entry.message_id in self._seen:
                    came_back = came_back or entry.message_id in self._held
                else:
                    self._seen.add(entry.message_id)
                    fresh.append(entry)
                self._hold(entry, received_at + self.hold_s)
            if came_back:
                self.hold_s = min(SQS_MAX_VISIBILITY_S, self.hold_s * 2)
            if fresh:
                nothing_new = 0
                yield fresh
                continue
            nothing_new += 1
            if nothing_new >= NOTHING_NEW_TO_CONCLUDE:
                return
            if not messages and _depth(self._sqs, self._queue_url)[0] == 0:
                return

    def current(self, entry: DeadLetterEntry) -> DeadLetterEntry:
        """The entry with the latest receipt handle this read holds for its message."""
        held = self._held.get(entry.message_id)
        return held[0] if held is not None else entry

    def forget(self, entry: DeadLetterEntry) -> None:
        """The letter was deleted: nothing to extend or release."""
        self._held.pop(entry.message_id, None)

    def release_all(self) -> None:
        """Hand every letter still held back to the queue at once (visibility 0)."""
        entries = [entry for entry, _ in self._held.values()]
        self._held.clear()
        self._change_visibility(entries, 0)

    def count(self) -> LetterCount:
        return LetterCount(len(self._seen), self._reported, self._stopped)

    def _hold(self, entry: DeadLetterEntry, until: float) -> None:
        self._held[entry.message_id] = (entry, until)
        self._held.move_to_end(entry.message_id)

    def _extend_due(self) -> None:
        """Extend the holds that would run out within HOLD_MARGIN of their length (the first ones in `_held`)."""
        now = self._clock()
        due: list[DeadLetterEntry] = []
        for entry, until in self._held.values():
            if until - now >= self.hold_s * HOLD_MARGIN:
                break
            due.append(entry)
        if not due:
            return
        failed = self._change_visibility(due, self.hold_s)
        for entry in due:
            if entry.message_id not in failed:
                self._hold(entry, now + self.hold_s)

    def _change_visibility(self, entries: list[DeadLetterEntry], seconds: int) -> set[str]:
        """Set the letters' visibility timeout; the message ids SQS did not change (their receipt expired)."""
        failed: set[str] = set()
        for start in range(0, len(entries), 10):
            chunk = entries[start : start + 10]
            answer = self._sqs.change_message_visibility_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": e.receipt_handle, "VisibilityTimeout": seconds}
                    for i, e in enumerate(chunk)
                ],
            )
            failed.update(chunk[int(item["Id"])].message_id for item in answer.get("Failed") or [])
        return failed


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    details = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(details.get("Code") or "")


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
    # Messages put back with a delay: contacts waiting for the bridge's configuration to be fixed.
    queue_delayed: int = 0


def queue_status(sqs: Any, queues: StackQueues) -> QueueStatus:
    visible, in_flight = _depth(sqs, queues.queue_url)
    dlq_visible, dlq_in_flight = _depth(sqs, queues.dlq_url)
    delayed = sqs.get_queue_attributes(
        QueueUrl=queues.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return QueueStatus(
        visible, in_flight, dlq_visible, dlq_in_flight, int(delayed.get("ApproximateNumberOfMessagesDelayed", 0))
    )
