"""The ingest flow: verify the sender, validate its contacts, buffer the valid ones, say what happened."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from heymarket_bridge.adapters.secrets import SecretUnavailable
from heymarket_bridge.adapters.sqs import OutgoingMessage
from heymarket_bridge.contact import InvalidContact, parse_contact
from heymarket_bridge.deletes import parse_delete_request
from heymarket_bridge.errors import DeliveryInProgress as DeliveryInProgress_
from heymarket_bridge.errors import DeliveryLedgerUnavailable
from heymarket_bridge.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.messages import ContactOperation, DeleteOperation, Operation, QueuedOperation
from heymarket_bridge.observability import emit_metric, logger, metrics
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge.sources import Source, get_source
from heymarket_bridge.webhook import (
    BufferUnavailable,
    DeliveryInProgress,
    NothingValid,
    PayloadTooLarge,
    Reply,
    Unauthorized,
    UnknownSource,
    WebhookError,
    WebhookRequest,
)

NO_MAPPING = SourceMapping()


class MessageQueue(Protocol):
    def send(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Send; return the indexes of messages NOT in the queue."""
        ...


@dataclass
class Rejection:
    index: int
    errors: list[str]
    field: str | None = None  # in a delete request: the list ("contact_ids" or "phones") `index` points into

    def to_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"field": self.field} if self.field is not None else {}
        return {**where, "index": self.index, "errors": self.errors}


@dataclass
class IngestOutcome:
    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    duplicate: bool = False  # a repeat of a delivery already buffered: this answer is the first one's

    def to_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "rejected": [r.to_dict() for r in self.rejected]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], duplicate: bool) -> IngestOutcome:
        rejected = [Rejection(int(r["index"]), list(r["errors"]), r.get("field")) for r in data.get("rejected", [])]
        return cls(int(data.get("accepted", 0)), rejected, duplicate)


class DeliveryLedger(Protocol):
    def once(
        self, key: str, work: Callable[[], dict[str, Any]], retention_s: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(result, first time): work() run for the first delivery with this key, replayed for the others."""
        ...


class IngestService:
    """Turns one webhook request into queued contact operations and the reply the sender gets."""

    def __init__(
        self,
        settings: IngestSettings,
        webhook_secrets: Callable[[], Mapping[str, Any]],
        queue: MessageQueue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deliveries: DeliveryLedger | None = None,
    ) -> None:
        self._settings = settings
        self._webhook_secrets = webhook_secrets
        self._queue = queue
        self._clock = clock
        self._deliveries = deliveries

    @property
    def deliveries(self) -> DeliveryLedger | None:
        return self._deliveries

    def handle(self, request: WebhookRequest) -> Reply:
        source = get_source(request.source)
        try:
            if source is None:
                raise UnknownSource(f"unknown source {request.source!r}")
            outcome = self._ingest(source, request)
        except WebhookError as error:
            log = logger.warning if error.status < 500 else logger.error
            log(
                "Webhook refused",
                extra={
                    "status": error.status,
                    "code": error.code,
                    "source": request.source,
                    "reason": error.message,
                },
            )
            _count_refusal(request.source, error.code)
            reply = Reply.error(error, request.request_id)
        else:
            body = {**outcome.to_dict(), "request_id": request.request_id}
            if outcome.duplicate:
                body["duplicate"] = True
            reply = Reply(202, body)
        return reply if source is None else source.reply(request, reply)

    def _ingest(self, source: Source, request: WebhookRequest) -> IngestOutcome:
        metrics.add_dimension(name="source", value=source.name)
        metrics.add_metric(name="WebhooksReceived", unit=MetricUnit.Count, value=1)
        if len(request.body) > self._settings.max_body_bytes:
            raise PayloadTooLarge(f"the body is larger than {self._settings.max_body_bytes} bytes")
        self._authenticate(source, request)
        if request.operation is Operation.DELETE:
            # Not de-duplicated: deleting twice changes nothing, but a delete repeated after the contact was
            # created again must run, and the ledger would take it for a retry of the first (same body).
            return self._buffer_deletes(source, request)
        if self._deliveries is None:
            return self._buffer(source, request)
        key = f"{source.name}:{source.delivery_id(request)}"
        try:
            first_answer, first_time = self._deliveries.once(
                key, lambda: self._buffer(source, request).to_dict(), source.delivery_retention_s(request)
            )
        except DeliveryInProgress_ as exc:
            raise DeliveryInProgress("this delivery is being handled right now; retry in a few seconds") from exc
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot check for repeated deliveries right now; retry later") from exc
        if not first_time:
            metrics.add_metric(name="DuplicateDeliveries", unit=MetricUnit.Count, value=1)
            logger.info("Repeated delivery answered as the first one", extra={"source": source.name, "key": key})
        return IngestOutcome.from_dict(first_answer, duplicate=not first_time)

    def _buffer(self, source: Source, request: WebhookRequest) -> IngestOutcome:
        """Extract, validate and enqueue the delivery's contacts (what runs once per delivery)."""
        submissions = source.extract(request, self._settings.mappings.get(source.name, NO_MAPPING))
        if len(submissions) > self._settings.max_contacts_per_request:
            raise PayloadTooLarge(
                f"the request holds {len(submissions)} contacts; at most "
                f"{self._settings.max_contacts_per_request} are accepted per request"
            )
        metrics.add_metric(name="ContactsReceived", unit=MetricUnit.Count, value=len(submissions))
        outcome, operations = self._validate(source, request, submissions)
        metrics.add_metric(name="ContactsRejected", unit=MetricUnit.Count, value=len(outcome.rejected))
        if not operations and source.refuses_when_nothing_valid:
            raise NothingValid(
                "no valid contact in the request",
                {"rejected": [r.to_dict() for r in outcome.rejected]},
            )
        if operations:
            self._enqueue(operations)
        outcome.accepted = len(operations)
        metrics.add_metric(name="ContactsEnqueued", unit=MetricUnit.Count, value=len(operations))
        logger.info(
            "Webhook accepted",
            extra={
                "source": source.name,
                "delivery_id": source.delivery_id(request),
                "accepted": outcome.accepted,
                "rejected": len(outcome.rejected),
                "rejections": [r.errors for r in outcome.rejected][:20],
            },
        )
        return outcome

    def _buffer_deletes(self, source: Source, request: WebhookRequest) -> IngestOutcome:
        """Validate and enqueue a bulk delete request's targets; each travels as its own queue message."""
        targets, invalid = parse_delete_request(
            request.body, request.content_type, self._settings.default_country, self._settings.max_contacts_per_request
        )
        outcome = IngestOutcome(rejected=[Rejection(item.index, item.errors, item.field) for item in invalid])
        metrics.add_metric(name="ContactsReceived", unit=MetricUnit.Count, value=len(targets) + len(invalid))
        metrics.add_metric(name="ContactsRejected", unit=MetricUnit.Count, value=len(invalid))
        if not targets:
            raise NothingValid(
                "no valid contact id or phone in the delete request",
                {"rejected": [r.to_dict() for r in outcome.rejected]},
            )
        received_at = self._clock().isoformat(timespec="milliseconds")
        self._enqueue([DeleteOperation(target, source.name, received_at, request.request_id) for target in targets])
        outcome.accepted = len(targets)
        metrics.add_metric(name="ContactsEnqueued", unit=MetricUnit.Count, value=len(targets))
        logger.info(
            "Delete request accepted",
            extra={
                "source": source.name,
                "accepted": outcome.accepted,
                "rejected": len(outcome.rejected),
                "rejections": [r.errors for r in outcome.rejected][:20],
            },
        )
        return outcome

    def _authenticate(self, source: Source, request: WebhookRequest) -> None:
        try:
            secrets = self._webhook_secrets()
        except SecretUnavailable as exc:
            raise BufferUnavailable("the bridge cannot verify senders right now; retry later") from exc
        secret = secrets.get(source.name)
        if isinstance(secret, str) and secret:
            if not source.authenticate(request, secret, self._clock()):
                raise Unauthorized(f"missing or wrong credentials for source {source.name!r}")
            return
        if source.name not in self._settings.allow_unauthenticated:
            raise Unauthorized(
                f"source {source.name!r} has no secret configured and unauthenticated posts are not allowed"
            )

    def _validate(
        self, source: Source, request: WebhookRequest, submissions: Sequence[Submission]
    ) -> tuple[IngestOutcome, list[ContactOperation]]:
        outcome = IngestOutcome()
        operations: list[ContactOperation] = []
        received_at = self._clock().isoformat(timespec="milliseconds")
        for index, raw in enumerate(submissions):
            if isinstance(raw, Unmappable):
                outcome.rejected.append(Rejection(index, list(raw.errors)))
                continue
            try:
                contact = parse_contact(raw, self._settings.default_country)
            except InvalidContact as exc:
                outcome.rejected.append(Rejection(index, exc.errors))
                continue
            operations.append(ContactOperation(Operation.UPSERT, contact, source.name, received_at, request.request_id))
        return outcome, operations

    def _enqueue(self, operations: Sequence[QueuedOperation]) -> None:
        messages = [
            OutgoingMessage(op.to_json(), {"source": op.source, "correlation_id": op.correlation_id})
            for op in operations
        ]
        unsent = self._queue.send(messages)
        if unsent:
            metrics.add_metric(name="ContactsNotBuffered", unit=MetricUnit.Count, value=len(unsent))
            raise BufferUnavailable(
                f"{len(unsent)} of {len(messages)} contacts could not be buffered; retry the request"
            )


def _count_refusal(source_name: str, code: str) -> None:
    """WebhooksRefused by source and reason code (a name from the URL only if it is a known source)."""
    emit_metric("WebhooksRefused", source=source_name if get_source(source_name) else "unknown", code=code)
