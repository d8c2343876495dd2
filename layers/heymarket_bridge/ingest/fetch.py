"""The fetch use case: the records id-only notifications name (a Meta lead, an Acuity appointment), fetched from their
vendor outside the webhook's answer path, then taken in exactly as a posted delivery (heymarket_bridge.ingest.intake:
the same validation, repeats and buffer).

`FetchService.process` takes a batch of fetch queue messages (one `FetchNotice` each) and says which SQS must deliver
again. Each notice ends one of these ways, and none is lost:

- fetched and taken in: its contact is on the contact queue (or is a repeat of one already there), or a refusal letter
  says why it is not (no phone, ...);
- the vendor failed for now (a 5xx, a timeout, a 429, a Graph error code 1, 2, 4, 17, 32 or 613): put back with a
  growing delay (30 s, doubling, at most 15 min) for `max_attempts` tries, then written to the fetch DLQ with the
  reason;
- the record does not exist (a 404 with nothing else said): written to the fetch DLQ with the reason;
- the vendor refuses the credentials (Graph error 190, 10, 200, 803, a Leads Access Manager withholding; Graph error
  100, which also means a missing permission; Acuity's 401), or they are missing: a configuration failure.
  `FetchConfigurationErrors` is counted (its alarm fires) and the notice is put back delayed by `wait_delay_s`
  without using up its receives, for at most `max_wait_s` (the queue's retention),
  then written to the fetch DLQ;
- the buffer, the ledger or the queue could not be reached: reported for SQS to deliver again.

Nothing fetched is logged but ids and outcomes: a lead's answers and an appointment's intake forms (health
information) never reach a log line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from heymarket_bridge.domain.failures import MalformedMessage, SecretMisconfigured, SecretUnavailable
from heymarket_bridge.domain.operations import OutgoingMessage
from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.failures import FetchGone, FetchRefused, FetchTransient, WebhookError
from heymarket_bridge.ingest.intake import Arrival, Intake
from heymarket_bridge.ingest.notices import FETCH_LETTER_KIND, FetchNotice
from heymarket_bridge.ingest.planning import NO_MAPPING
from heymarket_bridge.ingest.ports import FetchRequeue, MessageQueue, VendorRecords, WebhookSecrets
from heymarket_bridge.ingest.sources.base import FetchedSource, SourceRegistry
from heymarket_bridge.ingest.sources.common import ReadContext, SourceCredentials
from heymarket_bridge.observability import emit_metric, logger

FIRST_RETRY_DELAY_S = 30
MAX_DELAY_S = 900  # SQS DelaySeconds' maximum


@record
class FetchMessage:
    """One fetch queue message: its SQS id and body."""

    message_id: str
    body: str


@record
class FetchPolicy:
    """How long a notice is retried: `max_attempts` transient failures, then a letter; while the credentials are
    refused, put back every `wait_delay_s` seconds for at most `max_wait_s`."""

    max_attempts: int = 10
    wait_delay_s: int = 900
    max_wait_s: int = 345_600
    default_country: str = "US"


@dataclass
class FetchReport:
    """What a batch came to: counts by outcome, and the SQS ids of the messages to deliver again."""

    taken_in: int = 0
    retried: int = 0
    waiting: int = 0
    dead_lettered: int = 0
    redeliver: list[str] = field(default_factory=list)
    configuration_error: bool = False


class FetchService:
    """Fetches each notice's record and takes it in; its collaborators are heymarket_bridge.ingest.ports's."""

    def __init__(
        self,
        sources: SourceRegistry,
        vendors: Mapping[str, VendorRecords],
        intake: Intake,
        secrets: WebhookSecrets,
        letters: MessageQueue,
        requeue: FetchRequeue,
        *,
        policy: FetchPolicy | None = None,
        mappings: Mapping[str, Any] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sources = sources
        self._vendors = vendors
        self._intake = intake
        self._secrets = secrets
        self._letters = letters
        self._requeue = requeue
        self._policy = policy or FetchPolicy()
        self._mappings = mappings or {}
        self._clock = clock

    def process(self, messages: Sequence[FetchMessage], remaining_s: Callable[[], float] = lambda: 60.0) -> FetchReport:
        """Handle each message; those left when less than 15 s remain are delivered again (a fetch may take 13 s)."""
        report = FetchReport()
        for message in messages:
            if remaining_s() < 15:
                report.redeliver.append(message.message_id)
                continue
            self._one(message, report)
        return report

    def _one(self, message: FetchMessage, report: FetchReport) -> None:
        try:
            notice = FetchNotice.from_json(message.body)
        except MalformedMessage as exc:
            self._letter(message, report, None, str(exc))
            return
        source = self._sources.get(notice.source)
        vendor = self._vendors.get(source.fetched_from) if source is not None else None
        if source is None or vendor is None:
            self._letter(message, report, notice, f"no fetched source named {notice.source!r}")
            return
        try:
            context = self._context(cast(FetchedSource, source))
            record = vendor.fetch(notice, context.credentials)
        except FetchRefused as exc:
            self._wait(message, report, notice, exc.reason)
            return
        except SecretMisconfigured as exc:
            self._wait(message, report, notice, f"the webhook secrets cannot be read: {exc}")
            return
        except SecretUnavailable:
            report.redeliver.append(message.message_id)
            return
        except FetchGone as exc:
            self._letter(message, report, notice, exc.reason)
            return
        except FetchTransient as exc:
            self._retry(message, report, notice, exc)
            return
        self._take_in(message, report, notice, cast(FetchedSource, source), record, context)

    def _context(self, source: FetchedSource) -> ReadContext:
        entries = self._secrets()
        secret = entries.get(source.name)
        return ReadContext(
            now=self._clock(),
            credentials=SourceCredentials(secret.strip() or None if isinstance(secret, str) else None, entries),
            mapping=self._mappings.get(source.name, NO_MAPPING),
            default_country=self._policy.default_country,
        )

    def _take_in(
        self,
        message: FetchMessage,
        report: FetchReport,
        notice: FetchNotice,
        source: FetchedSource,
        record: Mapping[str, Any],
        context: ReadContext,
    ) -> None:
        delivery = source.read_fetched(record, notice, context)
        arrival = Arrival(source.name, notice.correlation_id or message.message_id, self._clock())
        try:
            outcome = self._intake.take(delivery, arrival)
        except WebhookError as exc:
            if exc.status >= 500 or exc.status == 409:  # the buffer or the ledger: SQS delivers it again
                report.redeliver.append(message.message_id)
            else:
                self._letter(message, report, notice, exc.message)
            return
        report.taken_in += 1
        emit_metric("RecordsFetched", 1)
        logger.info(
            "Record fetched and taken in",
            extra={
                "source": source.name,
                "record_id": notice.record_id,
                "accepted": outcome.accepted,
                "duplicate": outcome.duplicate,
            },
        )

    def _retry(self, message: FetchMessage, report: FetchReport, notice: FetchNotice, failure: FetchTransient) -> None:
        if failure.throttled:
            emit_metric("FetchThrottled")  # by service only: the log line names the source
        if notice.attempts + 1 >= self._policy.max_attempts:
            self._letter(message, report, notice, f"{failure.reason} ({notice.attempts + 1} attempts)")
            return
        delay = min(MAX_DELAY_S, FIRST_RETRY_DELAY_S * 2**notice.attempts)
        logger.warning(
            "Fetch failed for now",
            extra={"source": notice.source, "record_id": notice.record_id, "reason": failure.reason, "delay": delay},
        )
        if self._put_back(message, report, notice.retried(), delay):
            report.retried += 1

    def _wait(self, message: FetchMessage, report: FetchReport, notice: FetchNotice, reason: str) -> None:
        """The credentials are refused: the notice waits for the operator's fix, and the alarm's metric is counted."""
        report.configuration_error = True
        emit_metric("FetchConfigurationErrors")  # by service only: the log line names the source
        logger.error(
            "The vendor refuses the bridge's credentials: the record waits",
            extra={"source": notice.source, "record_id": notice.record_id, "reason": reason},
        )
        now = self._clock()
        waiting = notice.waiting(now.isoformat(timespec="seconds"))
        since = _moment(waiting.waiting_since) or now
        if now - since >= timedelta(seconds=self._policy.max_wait_s):
            self._letter(message, report, notice, f"{reason} (waited since {waiting.waiting_since})")
            return
        if self._put_back(message, report, waiting, self._policy.wait_delay_s):
            report.waiting += 1

    def _put_back(self, message: FetchMessage, report: FetchReport, notice: FetchNotice, delay: int) -> bool:
        if self._requeue([notice.to_json()], delay):
            report.redeliver.append(message.message_id)  # not put back: SQS delivers the original again
            return False
        return True

    def _letter(self, message: FetchMessage, report: FetchReport, notice: FetchNotice | None, reason: str) -> None:
        letter = {
            "error": reason,
            "kind": FETCH_LETTER_KIND,
            "source": notice.source if notice is not None else "",
            "record_id": notice.record_id if notice is not None else "",
            "failed_at": self._clock().isoformat(timespec="seconds"),
            "message": message.body,
        }
        body = json.dumps(letter, separators=(",", ":"))
        if self._letters.send([OutgoingMessage(body, {"source": str(letter["source"])})]):
            report.redeliver.append(message.message_id)
            return
        report.dead_lettered += 1
        emit_metric("FetchesDeadLettered", 1)
        logger.warning(
            "Fetch dead-lettered",
            extra={"source": letter["source"], "record_id": letter["record_id"], "reason": reason},
        )


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
