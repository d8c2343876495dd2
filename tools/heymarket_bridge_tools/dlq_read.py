"""One read of a stack's DLQ: every letter received once and kept hidden until the read ends (`LetterRead`), and how
many the queue reported (`LetterCount`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from heymarket_bridge_tools.dlq_letters import DeadLetterEntry, read_entry

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


class LetterRead:
    """One read of a DLQ: each letter received once and kept hidden (its hold extended as needed) until released.

    A letter that comes back all the same (a hold that ran out, a receipt SQS no longer accepted) is recognised by
    its message id: its newer receipt handle is kept, and it is not handed out a second time. The read ends when a
    long poll finds nothing visible (see NOTHING_NEW_TO_CONCLUDE), or when SQS refuses to hold more in flight.
    """

    def __init__(self, sqs: Any, queue_url: str, clock: Callable[[], float]) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._clock = clock
        visible, in_flight = queue_depth(sqs, queue_url)
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
                entry = read_entry(message)
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
            if not messages and queue_depth(self._sqs, self._queue_url)[0] == 0:
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


def queue_depth(sqs: Any, queue_url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])
