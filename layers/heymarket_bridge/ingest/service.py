"""The ingest use cases: a source's webhook, and the bulk delete; the one place that builds every reply.

`IngestService.handle` takes the HTTP API event and returns the response: it picks the use case by route, runs it,
and renders its outcome, or the refusal it raised, with the sender's renderer (Salesforce reads SOAP).

A webhook: authenticate (before parsing wherever the scheme allows), read the body once into a delivery
(submissions and identity), validate each contact, then buffer the valid ones in SQS unless it is a repeat:

- a delivery the sender names (heymarket_bridge.ingest.sources.common.DeliveryIdentity) is run once per name: a repeat
  gets the first answer back with `"duplicate": true`; the same Idempotency-Key with another body is a 422;
- within a delivery, the contacts for one phone are merged into the one contact queued for it in the order of their
  own event times (the delivery's order for equal times or none; later values win field by field, as the sync
  function merges a phone's upserts): the newest one wins. Queued as separate messages they would carry one
  `received_at`, and SQS, a standard queue, keeps no order between them;
- whatever the delivery, a contact equal to the newest one queued for its phone by the same source within a
  retry burst (15 minutes) is not queued again: a resend seconds later is a repeat, a value changed and changed
  back is not (the newest contact is then the changed one). An opt-out is never a repeat nor a duplicate: it is
  queued every time it is sent (it re-asserts a STOP the person may have undone by texting START in Heymarket).
  This also makes a sender's retry after a partial failure (503) harmless: the contacts that reached the queue are
  not queued twice. "Newest" is the sync side's order, decided with conditional writes before the contact is
  queued (heymarket_bridge.ingest.repeats), so that no interleaving of concurrent deliveries turns the change a sender
  sent last into a repeat.

A contact refused for its content (not for authentication, nor a body refused before it is read) is also written to
the DLQ as a refusal letter (`RefusalLetters`): the reason, the source and the fields as received, bounded, so that
an operator can see it, correct it and send it again through validation (`heymarket-bridge dlq redrive --set`).
Most senders show the bridge's answer to nobody. A letter that cannot be written makes the answer a 503, so that the
sender tries again (the contacts already queued are not queued twice).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from heymarket_bridge.adapters.aws.secrets import SecretUnavailable
from heymarket_bridge.adapters.aws.sqs import OutgoingMessage
from heymarket_bridge.domain.consent import MAX_CLAIM_TEXT, ConsentClaim
from heymarket_bridge.domain.contact import DroppedField, InvalidContact, read_contact
from heymarket_bridge.domain.failures import DeliveryInProgress as LedgerBusy
from heymarket_bridge.domain.failures import DeliveryKeyConflict, DeliveryLedgerUnavailable
from heymarket_bridge.domain.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.domain.operations import (
    MAX_OPERATION_BYTES,
    REFUSED_AT_INGEST,
    ContactOperation,
    DeadLetter,
    DeleteOperation,
    Operation,
    QueuedOperation,
    bounded_fields,
    consent_of,
)
from heymarket_bridge.domain.text import printable, shown
from heymarket_bridge.ingest.deletes import authenticate_delete, parse_delete_request
from heymarket_bridge.ingest.http import (
    BufferUnavailable,
    DeliveryInProgress,
    HttpResponse,
    IdempotencyKeyReused,
    NothingValid,
    PayloadTooLarge,
    Reply,
    RequestLine,
    Route,
    Unauthorized,
    UnknownSource,
    WebhookError,
    WebhookRequest,
    render_json,
)
from heymarket_bridge.ingest.repeats import Claim, Latest, Verdict, judge, rank
from heymarket_bridge.ingest.sources.base import Source, SourceRegistry, default_sources
from heymarket_bridge.ingest.sources.common import Credentials, Delivery, DeliveryIdentity, ReadContext
from heymarket_bridge.observability import emit_metric, logger, metrics
from heymarket_bridge.settings import IngestSettings

NO_MAPPING = SourceMapping()
# What one contact's queue message may hold: SQS takes 262,144 bytes, but a contact the sync side dead-letters must
# still fit in a dead letter with its original message (heymarket_bridge.domain.operations.MAX_OPERATION_BYTES).
MAX_QUEUE_MESSAGE_BYTES = MAX_OPERATION_BYTES
DELETES_METRIC_SOURCE = "deletes"
# Rounds of reading and conditionally writing a phone's newest contact before a delivery contended by concurrent ones
# for the same phone is answered 503 (its sender retries).
MAX_CLAIM_ROUNDS = 5


class MessageQueue(Protocol):
    def send(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Send; return the indexes of messages NOT in the queue."""
        ...


class DeliveryLedger(Protocol):
    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(result, first time): work() run for the first delivery with this key, replayed for the others.

        Raises heymarket_bridge.errors' DeliveryInProgress, DeliveryKeyConflict (same key, other content) or
        DeliveryLedgerUnavailable.
        """
        ...


class RefusalLetters(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        """Write the letters to the DLQ; return the indexes of those NOT written."""
        ...


class RecentContacts(Protocol):
    """What the ingest side knows of the newest contact of each phone (heymarket_bridge.ingest.repeats). Every method
    raises heymarket_bridge.domain.failures.DeliveryLedgerUnavailable when the store cannot be reached."""

    def seen(self, phones: Sequence[str]) -> Mapping[str, Latest]:
        """What is known of each phone (absent: nothing)."""
        ...

    def claim(self, claims: Sequence[Claim]) -> list[str | None]:
        """Write each claim if its phone's entry is still as it read it: the version written for each, None for one
        whose entry changed meanwhile."""
        ...

    def confirm(self, versions: Mapping[str, str]) -> int:
        """The contents claimed with these versions (by phone) are in the queue; how many entries were still theirs."""
        ...

    def forget(self, phones: Sequence[str], rank: int) -> None:
        """The phones' contacts are being deleted by an operation of this rank."""
        ...

    def void(self) -> None:
        """Forget every record made until now."""
        ...


@dataclass
class Rejection:
    """A submission refused (`errors`), or a contact queued without the optional fields it `dropped` (`errors` says
    why each was dropped) or with values it should check (`notes`: a phone read as an international number).

    Every text is made `printable`: a lone surrogate a sender put in a value never reaches a log line, the answer or
    the delivery table's saved answers.
    """

    index: int
    errors: list[str]
    field: str | None = None  # in a delete request: the list ("contact_ids" or "phones") `index` points into
    dropped: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.errors = [printable(error) for error in self.errors]
        self.notes = [printable(note) for note in self.notes]

    @property
    def accepted(self) -> bool:
        return bool(self.dropped or self.notes)

    def to_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"field": self.field} if self.field is not None else {}
        body = {**where, "index": self.index, "errors": self.errors}
        if self.accepted:
            body["accepted"] = True
            if self.dropped:
                body["dropped"] = self.dropped
            body["warnings"] = [f"{error}: the contact was queued without it" for error in self.errors] + self.notes
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rejection:
        errors = list(data["errors"])
        notes = list(data.get("warnings", []))[len(errors) :] if data.get("accepted") else []
        return cls(int(data["index"]), errors, data.get("field"), list(data.get("dropped", [])), notes)


@dataclass
class IngestOutcome:
    accepted: int = 0
    rejected: list[Rejection] = dataclasses.field(default_factory=list)
    duplicate: bool = False  # nothing was queued: every contact was already in the queue

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"accepted": self.accepted, "rejected": [r.to_dict() for r in self.rejected]}
        if self.duplicate:
            body["duplicate"] = True
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], duplicate: bool) -> IngestOutcome:
        rejected = [Rejection.from_dict(r) for r in data.get("rejected", [])]
        return cls(int(data.get("accepted", 0)), rejected, duplicate or bool(data.get("duplicate")))


@dataclass(frozen=True)
class Plan:
    """A delivery's contacts as validated: what to queue (one operation per phone), how many submissions were
    accepted into it, and what to tell the sender about the others."""

    operations: list[ContactOperation]
    rejected: list[Rejection]
    accepted: int
    letters: list[DeadLetter] = dataclasses.field(default_factory=list)  # the refused contacts, for the DLQ


class IngestService:
    """Turns one HTTP API event into queued contact operations and the response its sender gets."""

    def __init__(
        self,
        settings: IngestSettings,
        webhook_secrets: Callable[[], Mapping[str, Any]],
        queue: MessageQueue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deliveries: DeliveryLedger | None = None,
        *,
        sources: SourceRegistry | None = None,
        recent: RecentContacts | None = None,
        refusals: RefusalLetters | None = None,
    ) -> None:
        self._settings = settings
        self._webhook_secrets = webhook_secrets
        self._queue = queue
        self._clock = clock
        self._deliveries = deliveries
        self._sources = sources if sources is not None else default_sources()
        self._recent = recent
        self._refusals = refusals

    @property
    def deliveries(self) -> DeliveryLedger | None:
        return self._deliveries

    def handle(self, event: Mapping[str, Any]) -> HttpResponse:
        """The response to an API Gateway HTTP API (payload 2.0) event: every reply and every refusal is built here."""
        line = RequestLine.of(event)
        source = self._sources.get(line.source) if line.route is Route.WEBHOOK else None
        render = source.render if source is not None else render_json
        try:
            request = WebhookRequest.from_http_api_event(event, line)
            if line.route is Route.DELETE:
                outcome = self._delete(request)
            elif source is None:
                raise UnknownSource(
                    f"unknown source {shown(line.source, 60)}; known sources are {sorted(self._sources)}"
                )
            else:
                outcome = self._webhook(source, request)
        except WebhookError as error:
            self._refused(line, source, error)
            return render(Reply.error(error, line.request_id))
        return render(Reply(202, {**outcome.to_dict(), "request_id": line.request_id}))

    # ------------------------------------------------------------------ webhook

    def _webhook(self, source: Source, request: WebhookRequest) -> IngestOutcome:
        metrics.add_dimension(name="source", value=source.name)
        metrics.add_metric(name="WebhooksReceived", unit=MetricUnit.Count, value=1)
        self._check_size(request)
        entries = self._secrets()
        secret = entries.get(source.name)
        secret = secret.strip() if isinstance(secret, str) and secret.strip() else None
        if secret is None and source.name not in self._settings.allow_unauthenticated:
            raise Unauthorized(
                f"source {source.name!r} has no secret configured and unauthenticated posts are not allowed"
            )
        # A sender's own batch size (Salesforce's 100) is accepted whatever MaxContactsPerRequest says.
        limit = max(self._settings.max_contacts_per_request, source.sender_batch_size)
        context = ReadContext(
            now=self._clock(),
            credentials=Credentials(secret, entries),
            mapping=self._settings.mappings.get(source.name, NO_MAPPING),
            default_country=self._settings.default_country,
            max_contacts=limit,
            public_base_url=self._settings.public_base_url,
            hubspot_require_v3=self._settings.hubspot_require_v3,
        )
        source.authenticate(request, context)
        delivery = source.read(request, context)
        if len(delivery.submissions) > limit:
            raise PayloadTooLarge(
                f"the request holds {len(delivery.submissions)} contacts; at most {limit} are accepted per request"
            )
        plan = self._plan(
            source, request, delivery.submissions, delivery.occurred_at, delivery.consent, delivery.event_ids
        )
        if not plan.operations and source.refuses_when_nothing_valid:
            self._write_letters(plan.letters)
            raise NothingValid("no valid contact in the request", {"rejected": [r.to_dict() for r in plan.rejected]})
        key = _ledger_key(source.name, delivery.identity)
        if key is None or self._deliveries is None:
            return self._buffer(source, delivery, plan)
        try:
            answer, first_time = self._deliveries.once(
                key, delivery.identity.body_digest, lambda: self._buffer(source, delivery, plan).to_dict()
            )
        except LedgerBusy as exc:
            raise DeliveryInProgress("this delivery is being handled right now; retry in a few seconds") from exc
        except DeliveryKeyConflict as exc:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a request with a different body: send a new key "
                "for a new request"
            ) from exc
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot check for repeated deliveries right now; retry later") from exc
        opt_outs = [operation for operation in plan.operations if operation.contact.is_opted_out is True]
        if not first_time and opt_outs:
            # An opt-out is never answered as a duplicate: sent again (the same key too), it may re-assert a STOP the
            # person undid by texting START in Heymarket, which the bridge does not see. Queued again (idempotent);
            # the delivery's other contacts and its letters are not.
            self._buffer(source, delivery, Plan(opt_outs, [], len(opt_outs)))
            return dataclasses.replace(IngestOutcome.from_dict(answer, duplicate=False), duplicate=False)
        if not first_time:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            logger.info(
                "Repeated delivery answered as the first one",
                extra={"source": source.name, "delivery_id": printable(delivery.identity.sender_id[:200])},
            )
        return IngestOutcome.from_dict(answer, duplicate=not first_time)

    def _plan(
        self,
        source: Source,
        request: WebhookRequest,
        submissions: Sequence[Submission],
        occurred: Sequence[datetime | None] = (),
        consent: Sequence[ConsentClaim | None] = (),
        event_ids: Sequence[str | None] = (),
    ) -> Plan:
        """Validate every submission: the contacts to queue (a phone's merged into one, the last winning), and the
        rejections and dropped fields to report. A submission's event time (`occurred`, from its source) is queued
        with it, never later than now."""
        rejected: list[Rejection] = []
        accepted: list[tuple[int, ContactOperation]] = []
        dropped_log: list[dict[str, Any]] = []
        doubt_log: list[int] = []
        now = self._clock()
        received_at = now.isoformat(timespec="milliseconds")
        letters: list[DeadLetter] = []
        for index, raw in enumerate(submissions):
            if isinstance(raw, Unmappable):
                rejected.append(Rejection(index, list(raw.errors)))
                letters.append(self._letter(source, request, received_at, index, list(raw.errors), raw.fields))
                continue
            try:
                contact, dropped, warnings = read_contact(raw, self._settings.default_country)
            except InvalidContact as exc:
                rejected.append(Rejection(index, exc.errors))
                letters.append(self._letter(source, request, received_at, index, exc.errors, raw))
                continue
            if dropped or warnings:
                rejected.append(_queued_with(index, dropped, warnings))
            if dropped:
                dropped_log.append({"index": index, "fields": [item.field for item in dropped]})
            if warnings:
                doubt_log.append(index)
            event = occurred[index] if index < len(occurred) else None
            occurred_at = min(event, now).astimezone(UTC).isoformat(timespec="milliseconds") if event else None
            claim = None
            if contact.is_opted_out is not None:
                given = consent[index] if index < len(consent) else None
                mapping = self._settings.mappings.get(source.name, NO_MAPPING)
                claim = given or _claimed(raw, mapping)
                event_id = event_ids[index] if index < len(event_ids) else None
                if claim is not None and event_id and claim.event_id is None:
                    claim = dataclasses.replace(claim, event_id=event_id[:MAX_CLAIM_TEXT])
            accepted.append(
                (
                    index,
                    ContactOperation(
                        Operation.UPSERT,
                        contact,
                        source.name,
                        received_at,
                        request.request_id,
                        occurred_at=occurred_at,
                        consent=claim,
                    ),
                )
            )
        operations = _one_per_phone(accepted)
        for index, operation in operations:
            size = _message_bytes(operation)
            if size > MAX_QUEUE_MESSAGE_BYTES:
                raise PayloadTooLarge(
                    f"contact {index} is {size} bytes as a queue message; at most "
                    f"{MAX_QUEUE_MESSAGE_BYTES} fit in one (shorten its custom fields)",
                    {"index": index},
                )
        metrics.add_metric(name="ContactsReceived", unit=MetricUnit.Count, value=len(submissions))
        metrics.add_metric(name="ContactsRejected", unit=MetricUnit.Count, value=len(submissions) - len(accepted))
        if dropped_log:
            logger.warning(
                "Invalid optional fields dropped", extra={"source": source.name, "contacts": dropped_log[:20]}
            )
        if doubt_log:
            logger.warning(
                "Phones without a + read as international numbers that could be mistyped national ones",
                extra={"source": source.name, "indexes": doubt_log[:20], "count": len(doubt_log)},
            )
        return Plan([operation for _, operation in operations], rejected, len(accepted), letters)

    def _letter(
        self,
        source: Source,
        request: WebhookRequest,
        received_at: str,
        index: int,
        errors: Sequence[str],
        fields: Any,
    ) -> DeadLetter:
        """The refusal letter of submission `index`: why, from whom, and its fields as received (bounded)."""
        kept, cut = bounded_fields(fields) if isinstance(fields, Mapping) else ({}, False)
        reason = "; ".join(printable(error) for error in errors) or "refused"
        note = " (fields too large to keep whole were cut)" if cut else ""
        return DeadLetter(
            error=f"refused at ingest from {source.name}: {reason}{note}"[:1000],
            attempts=0,
            source=source.name,
            received_at=received_at,
            contact=None,
            correlation_id=request.request_id,
            operation_id=f"{request.request_id}#{index}",
            failed_at=received_at,
            kind=REFUSED_AT_INGEST,
            fields=kept,
            region=self._settings.default_country,
        )

    def _write_letters(self, letters: Sequence[DeadLetter]) -> None:
        """Write the refusal letters to the DLQ; BufferUnavailable (503: the sender tries again) if any is not."""
        if not letters or self._refusals is None:
            return
        unsent = self._refusals.write(letters)
        written = len(letters) - len(unsent)
        if written:
            emit_metric("RefusalLettersWritten", value=written)
        if unsent:
            logger.error("Refusal letters not written to the DLQ", extra={"count": len(unsent)})
            raise BufferUnavailable(
                f"{len(unsent)} refused contact(s) could not be recorded for an operator; retry the request (the "
                "contacts already buffered are not buffered twice)"
            )

    def _buffer(self, source: Source, delivery: Delivery, plan: Plan) -> IngestOutcome:
        """Queue the planned contacts that are not repeats of the newest ones known for their phones."""
        operations = plan.operations
        verdicts = self._judge(operations)
        fresh = [i for i, (verdict, _) in enumerate(verdicts) if verdict in (Verdict.CLAIM, Verdict.QUEUE)]
        undecided = [i for i, (verdict, _) in enumerate(verdicts) if verdict is None]
        unsent = self._enqueue([operations[i] for i in fresh], raise_on_failure=False)
        queued = [i for position, i in enumerate(fresh) if position not in set(unsent)]
        self._confirm({operations[i].contact.phone: verdicts[i][1] for i in queued if verdicts[i][1]})
        if unsent or undecided:
            metrics.add_metric(name="ContactsNotBuffered", unit=MetricUnit.Count, value=len(unsent) + len(undecided))
            raise BufferUnavailable(
                f"{len(unsent) + len(undecided)} of {len(operations)} contacts could not be buffered; retry the "
                "request (the contacts already buffered are not buffered twice)"
            )
        self._write_letters(plan.letters)
        metrics.add_metric(name="ContactsEnqueued", unit=MetricUnit.Count, value=len(queued))
        repeats = sum(verdict is Verdict.REPEAT for verdict, _ in verdicts)
        superseded = sum(verdict is Verdict.SUPERSEDED for verdict, _ in verdicts)
        if repeats:
            metrics.add_metric(name="RepeatedContacts", unit=MetricUnit.Count, value=repeats)
        if superseded:
            metrics.add_metric(name="SupersededContacts", unit=MetricUnit.Count, value=superseded)
        outcome = IngestOutcome(plan.accepted, plan.rejected, duplicate=bool(operations) and repeats == len(operations))
        if outcome.duplicate:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
        logger.info(
            "Webhook accepted",
            extra={
                "source": source.name,
                "delivery_id": printable(delivery.identity.sender_id[:200]),
                "accepted": outcome.accepted,
                "queued": len(queued),
                "repeats": repeats,
                "superseded": superseded,
                "rejected": len(outcome.rejected),
                "rejections": [r.errors for r in outcome.rejected][:20],
            },
        )
        return outcome

    def _judge(self, operations: Sequence[ContactOperation]) -> list[tuple[Verdict | None, str]]:
        """Each operation's verdict (heymarket_bridge.ingest.repeats), and the version of its claim when it claimed
        its phone.

        A verdict stands only once the phone's entry was found as it was read (a conditional write), else the phone is
        read and judged again; None for one still contended after MAX_CLAIM_ROUNDS (its delivery is answered 503).
        Without the table every operation is queued as it is.
        """
        verdicts: list[tuple[Verdict | None, str]] = [(Verdict.QUEUE, "")] * len(operations)
        if self._recent is None or not operations:
            return verdicts
        verdicts = [(None, "")] * len(operations)
        pending = list(range(len(operations)))
        try:
            for _ in range(MAX_CLAIM_ROUNDS):
                if not pending:
                    break
                known = self._recent.seen([operations[i].contact.phone for i in pending])
                claims: list[tuple[int, Claim]] = []
                for i in pending:
                    operation = operations[i]
                    latest = known.get(operation.contact.phone)
                    fingerprint, place = _fingerprint(operation), rank(operation.occurred_at, operation.received_at)
                    verdict = judge(latest, fingerprint, place, opt_out=operation.contact.is_opted_out is True)
                    if verdict is Verdict.CLAIM:
                        claims.append((i, Claim(operation.contact.phone, latest, fingerprint, place)))
                    elif verdict is Verdict.REPEAT and latest is not None and place > latest.rank:
                        claims.append((i, Claim(operation.contact.phone, latest, fingerprint, place, repeat=True)))
                    else:
                        verdicts[i] = (verdict, "")
                versions = self._recent.claim([claim for _, claim in claims]) if claims else []
                pending = []
                for (i, claim), version in zip(claims, versions, strict=True):
                    if version is None:
                        pending.append(i)  # its entry changed since it was read: read and judged again
                    else:
                        verdicts[i] = (Verdict.REPEAT, "") if claim.repeat else (Verdict.CLAIM, version)
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot check for repeated contacts right now; retry later") from exc
        if pending:
            logger.warning("Contacts contended by concurrent deliveries", extra={"contacts": len(pending)})
        return verdicts

    def _confirm(self, versions: Mapping[str, str]) -> None:
        if self._recent is None or not versions:
            return
        try:
            self._recent.confirm(versions)
        except DeliveryLedgerUnavailable:
            # The contacts are in the queue: the answer stays a 202. Left unconfirmed, a resend is queued again.
            logger.warning("Could not record the latest contacts", extra={"contacts": len(versions)})

    # ------------------------------------------------------------------ delete

    def _delete(self, request: WebhookRequest) -> IngestOutcome:
        """Validate and enqueue a bulk delete request's targets; each travels as its own queue message.

        Not de-duplicated: deleting twice changes nothing, but a delete repeated after the contact was created
        again must run.
        """
        metrics.add_dimension(name="source", value=DELETES_METRIC_SOURCE)
        metrics.add_metric(name="WebhooksReceived", unit=MetricUnit.Count, value=1)
        self._check_size(request)
        authenticate_delete(request, self._secrets())
        targets, invalid = parse_delete_request(
            request.body,
            request.content_type,
            self._settings.default_country,
            self._settings.max_contacts_per_request,
            request.charset,
        )
        rejected = [Rejection(item.index, item.errors, item.field) for item in invalid]
        metrics.add_metric(name="ContactsReceived", unit=MetricUnit.Count, value=len(targets) + len(invalid))
        metrics.add_metric(name="ContactsRejected", unit=MetricUnit.Count, value=len(invalid))
        if not targets:
            raise NothingValid(
                "no valid contact id or phone in the delete request", {"rejected": [r.to_dict() for r in rejected]}
            )
        received_at = self._clock().isoformat(timespec="milliseconds")
        operations = [DeleteOperation(t, "generic", received_at, request.request_id) for t in targets]
        self._forget(
            [t.phone for t in targets if t.phone is not None],
            any(t.contact_id for t in targets),
            rank(None, received_at),
        )
        self._enqueue(operations)
        metrics.add_metric(name="ContactsEnqueued", unit=MetricUnit.Count, value=len(targets))
        logger.info(
            "Delete request accepted",
            extra={
                "accepted": len(targets),
                "rejected": len(rejected),
                "rejections": [r.errors for r in rejected][:20],
            },
        )
        return IngestOutcome(len(targets), rejected)

    def _forget(self, phones: list[str], by_id: bool, rank: int) -> None:
        """A contact deleted is no longer the latest for its phone: an upsert repeated after the delete must run."""
        if self._recent is None:
            return
        try:
            if phones:
                self._recent.forget(phones, rank)
            if by_id:
                self._recent.void()
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot record the delete right now; retry later") from exc

    # ------------------------------------------------------------------ shared

    def _check_size(self, request: WebhookRequest) -> None:
        if len(request.body) > self._settings.max_body_bytes:
            raise PayloadTooLarge(f"the body is larger than {self._settings.max_body_bytes} bytes")

    def _secrets(self) -> Mapping[str, Any]:
        try:
            return self._webhook_secrets()
        except SecretUnavailable as exc:
            # The sender only learns to retry; the operator learns which secret and why (AWS's error code).
            logger.error("Webhook secrets unreadable", extra={"error": str(exc)})
            raise BufferUnavailable("the bridge cannot verify senders right now; retry later") from exc

    def _enqueue(self, operations: Sequence[QueuedOperation], *, raise_on_failure: bool = True) -> list[int]:
        """Send the operations to the queue; the positions of those not sent (503 unless told otherwise)."""
        messages = [_message(op) for op in operations]
        unsent = self._queue.send(messages) if messages else []
        if unsent and raise_on_failure:
            metrics.add_metric(name="ContactsNotBuffered", unit=MetricUnit.Count, value=len(unsent))
            raise BufferUnavailable(
                f"{len(unsent)} of {len(messages)} contacts could not be buffered; retry the request"
            )
        return unsent

    def _refused(self, line: RequestLine, source: Source | None, error: WebhookError) -> None:
        log = logger.warning if error.status < 500 else logger.error
        named = DELETES_METRIC_SOURCE if line.route is Route.DELETE else printable(line.source[:60])
        log(
            "Webhook refused",
            extra={
                "status": error.status,
                "code": error.code,
                "source": named,
                "reason": error.message,
                "source_ip": line.source_ip,
            },
        )
        # A metric dimension only for a name the bridge knows: a URL cannot create metrics at will.
        known = named if source is not None or line.route is Route.DELETE else "unknown"
        emit_metric("WebhooksRefused", source=known, code=error.code)


def _one_per_phone(accepted: Sequence[tuple[int, ContactOperation]]) -> list[tuple[int, ContactOperation]]:
    """The delivery's operations with each phone's merged into one, each at the place and with the index of the
    phone's last submission.

    A phone's operations are merged in the order of their own event times (`occurred_at`; one without is as new as
    its delivery, `received_at`), ties in the delivery's order, as heymarket_bridge.sync.state.rules orders operations
    across batches (`operation_rank`): later values win field by field, custom values key by key. A sender may put
    an older change after a newer one in one delivery (Salesforce: "messages may be delivered out of order"), and
    the newer change must still win.
    """
    by_phone: dict[str, list[tuple[int, ContactOperation]]] = {}
    for index, operation in accepted:
        by_phone.setdefault(operation.contact.phone, []).append((index, operation))
    merged: list[tuple[int, ContactOperation]] = []
    for parts in by_phone.values():
        # `_plan` writes both times as ISO 8601 UTC texts with milliseconds, an event time never after the receipt:
        # as texts they order as heymarket_bridge.sync.state.rules.operation_ms does (without loading that module).
        ordered = sorted(parts, key=lambda part: (part[1].occurred_at or part[1].received_at, part[0]))
        operation = ordered[0][1]
        for _, later in ordered[1:]:
            # The merged operation is as new as the newest event time its parts give (ISO 8601 UTC texts order).
            times = [t for t in (operation.occurred_at, later.occurred_at) if t is not None]
            operation = dataclasses.replace(
                later,
                contact=operation.contact.merged_with(later.contact),
                occurred_at=max(times) if times else None,
                consent=consent_of([operation, later])[1],
            )
        merged.append((parts[-1][0], operation))
    return sorted(merged, key=lambda part: part[0])


def _claimed(raw: Submission, mapping: SourceMapping) -> ConsentClaim | None:
    """The consent claim of a submission whose `is_opted_out` its source gives as a field of its own (the generic
    post's, or the one the operator's mapping names): that field, the value as sent, no time (none is given)."""
    if isinstance(raw, Unmappable) or raw.get("is_opted_out") is None:
        return None
    value = raw["is_opted_out"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return ConsentClaim(" or ".join(mapping.fields.get("is_opted_out", ("is_opted_out",))), text)


def _queued_with(index: int, dropped: Sequence[DroppedField], warnings: Sequence[str]) -> Rejection:
    fields = list(dict.fromkeys(item.field for item in dropped))
    return Rejection(index, [item.error for item in dropped], dropped=fields, notes=list(warnings))


def _ledger_key(source: str, identity: DeliveryIdentity) -> str | None:
    """The delivery's key in the ledger: the sender's id, with the body's digest unless the id promises the body."""
    if not identity.sender_id:
        return None
    if identity.id_covers_body:
        return f"{source}\n{identity.sender_id}"
    return f"{source}\n{identity.sender_id}\n{identity.body_digest}"


def _fingerprint(operation: ContactOperation) -> str:
    """What a contact says, by whom: equal only for the same source sending the same values."""
    content = json.dumps(operation.contact.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{operation.source}\n{content}".encode("utf-8", "surrogatepass")).hexdigest()


def _message(operation: QueuedOperation) -> OutgoingMessage:
    return OutgoingMessage(
        operation.to_json(), {"source": operation.source, "correlation_id": operation.correlation_id}
    )


def _message_bytes(operation: ContactOperation) -> int:
    """The size SQS counts for the operation's message: the body, and each attribute's name, type and value."""
    message = _message(operation)
    attributes = sum(len(k.encode()) + len(b"String") + len(v.encode()) for k, v in message.attributes.items() if v)
    return len(message.body.encode("utf-8", "surrogatepass")) + attributes
