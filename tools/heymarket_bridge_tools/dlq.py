"""The DLQ of a stack for the operator (heymarket-bridge dlq): listing, export, and the redrive of the letters a
`LetterFilter` selects (heymarket_bridge_tools.dlq_letters) back to the main queue.

Everything here takes boto3 clients, so the same code serves `--stack-name` (real AWS) and the local stack's moto.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from heymarket_bridge.domain.operations import forced
from heymarket_bridge_tools.dlq_corrections import IDENTITY_FIELDS, corrected_fields, revalidated
from heymarket_bridge_tools.dlq_letters import DeadLetterEntry, LetterFilter, mask_text
from heymarket_bridge_tools.dlq_newer import OverNewer, StateReader, over_newer
from heymarket_bridge_tools.dlq_read import LetterCount, LetterRead, queue_depth
from heymarket_bridge_tools.ops import StackQueues


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
    # A dry run of --force with the contact state: the letters it would apply over a newer operation of their contact.
    over_newer: list[OverNewer] = field(default_factory=list)


class DeadLetterQueue:
    """The DLQ of one stack and the main queue its contacts go back to.

    `clock` (seconds, monotonic) times the letters' holds; a test passes the clock of its model of SQS.
    """

    def __init__(
        self,
        sqs: Any,
        queues: StackQueues,
        clock: Callable[[], float] = time.monotonic,
        contact_state: StateReader | None = None,
    ) -> None:
        self._sqs = sqs
        self._contact_state = contact_state  # read by a dry run of --force (dlq_newer)
        self._queues = queues
        self._clock = clock
        self.last_count = LetterCount(0, 0)

    def entries(self, progress: Callable[[int], None] = lambda count: None) -> list[DeadLetterEntry]:
        """Every message in the DLQ, each once; they are visible again (to anyone) when this returns.

        `last_count` then says how many the queue reported, and why the read stopped short if it did.
        """
        read = LetterRead(self._sqs, self._queues.dlq_url, self._clock)
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
        where: LetterFilter | None = None,
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
        filter that one letter matches), else nothing moves.
        `where` selects letters by kind, source and time. A dry run of `force` lists in `over_newer` the letters it
        would apply over a newer operation of their contact, read from `contact_state`. `message_id` selects that DLQ
        message only.
        """
        report = RedriveReport()
        sets = dict(sets or {})
        if not self._one_identity_letter(report, where, sets, message_id):
            return report
        moved: set[str] = set()
        would_move: list[tuple[str, str]] = []  # a dry run's (message id, body)
        read = LetterRead(self._sqs, self._queues.dlq_url, self._clock)
        try:
            with _deferred_interrupts() as interrupted:
                for batch in read.batches():
                    for entry in batch:
                        if interrupted():
                            break
                        if not self._selected(entry, where, sets, message_id):
                            report.skipped += 1
                        elif entry.operation_key in moved:
                            report.returned += 1
                        elif dry_run:
                            body = self._body(entry, report, force=force, sets=sets)
                            if body is not None:
                                report.moved += 1
                                would_move.append((entry.message_id, body))
                        elif self._move(read.current(entry), report, force=force, sets=sets):
                            read.forget(entry)
                            moved.add(entry.operation_key)
                        progress(report)
                    if interrupted():
                        break
                report.interrupted = interrupted()
            if force and self._contact_state is not None:
                report.over_newer = over_newer(would_move, self._contact_state)
        finally:
            read.release_all()
            self.last_count = read.count()
        return report

    def _one_identity_letter(
        self, report: RedriveReport, where: LetterFilter | None, sets: Mapping[str, str], message_id: str | None
    ) -> bool:
        """False (with the report's error) when `sets` names who the contact is and no single letter is selected."""
        if not sets or message_id is not None or not IDENTITY_FIELDS & {name.split(".", 1)[0] for name in sets}:
            return True
        matching = [e for e in self.entries() if self._selected(e, where, sets, None)]
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
        entry: DeadLetterEntry, where: LetterFilter | None, sets: Mapping[str, str], message_id: str | None
    ) -> bool:
        if message_id is not None and entry.message_id != message_id:
            return False
        if sets and not entry.refused_at_ingest:
            return False  # corrections apply to refusal letters; a queued operation goes back as it was
        return where is None or where.matches(entry)

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
        return queue_depth(self._sqs, self._queues.dlq_url)


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
