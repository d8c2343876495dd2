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

A sender whose notifications carry ids only (Meta Lead Ads, Acuity Scheduling: `fetched_from`) is authenticated the same
way, then each record it names is queued as a fetch notice on the fetch queue (heymarket_bridge.ingest.notices), once
per notification (a retry is answered as the first), and the sender is answered 200 at once; the fetch function takes
the records in (heymarket_bridge.ingest.fetch). Meta's GET verification handshake is answered by its source.

A contact refused for its content (not for authentication, nor a body refused before it is read) is also written to
the DLQ as a refusal letter (heymarket_bridge.ingest.letters): the reason, the source and the fields as received,
bounded, so that an operator can see it, correct it and send it again through validation
(`heymarket-bridge dlq redrive --set`).
Most senders show the bridge's answer to nobody. A letter that cannot be written makes the answer a 503, so that the
sender tries again (the contacts already queued are not queued twice).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from heymarket_bridge.domain.failures import SecretUnavailable
from heymarket_bridge.domain.operations import OutgoingMessage
from heymarket_bridge.domain.text import printable, shown
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.deletes import DELETES_METRIC_SOURCE, delete_contacts
from heymarket_bridge.ingest.failures import (
    BufferUnavailable,
    DeliveryKeyConflict,
    DeliveryLedgerBusy,
    DeliveryLedgerUnavailable,
    MalformedSecretEntry,
    MethodNotAllowed,
    TooManyRequests,
    Unauthorized,
    UnknownSource,
    WebhookError,
)
from heymarket_bridge.ingest.http import (
    HttpResponse,
    Reply,
    RequestLine,
    Route,
    WebhookRequest,
    refuse_if_larger,
    render_json,
)
from heymarket_bridge.ingest.intake import Arrival, Intake, ledger_key
from heymarket_bridge.ingest.limits import IntakeGate, IntakeLimits
from heymarket_bridge.ingest.notices import FetchNotice
from heymarket_bridge.ingest.planning import NO_MAPPING
from heymarket_bridge.ingest.ports import DeliveryLedger, MessageQueue, RecentContacts, RefusalLetters, WebhookSecrets
from heymarket_bridge.ingest.replies import IngestOutcome, Rejection
from heymarket_bridge.ingest.scopes import UNSCOPED, SecretEntry, read_entry
from heymarket_bridge.ingest.sources.base import FetchedSource, Source, SourceRegistry, default_sources
from heymarket_bridge.ingest.sources.common import ReadContext, SourceCredentials, too_many
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.settings import IngestSettings


class IngestService:
    """Turns one HTTP API event into queued contact operations and the response its sender gets."""

    def __init__(
        self,
        settings: IngestSettings,
        webhook_secrets: WebhookSecrets,
        queue: MessageQueue,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        deliveries: DeliveryLedger | None = None,
        *,
        sources: SourceRegistry | None = None,
        recent: RecentContacts | None = None,
        refusals: RefusalLetters | None = None,
        fetches: MessageQueue | None = None,
        admission: IntakeGate | None = None,
    ) -> None:
        self._settings = settings
        self._webhook_secrets = webhook_secrets
        self._clock = clock
        self._deliveries = deliveries
        self._sources = sources if sources is not None else default_sources()
        self._buffer = ContactBuffer(queue, recent, refusals)
        self._intake = Intake(self._buffer, deliveries, settings.default_country, settings.mappings)
        self._fetches = fetches
        self._admission = admission if admission is not None else IntakeGate(IntakeLimits())

    @property
    def deliveries(self) -> DeliveryLedger | None:
        return self._deliveries

    def handle(self, event: Mapping[str, Any]) -> HttpResponse:
        """The response to an API Gateway HTTP API (payload 2.0) event: every reply and every refusal is built here."""
        line = RequestLine.of(event)
        source = self._sources.get(line.source) if line.route is Route.WEBHOOK else None
        render = source.render if source is not None else render_json
        outcome: IngestOutcome | HttpResponse
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
            response = render(Reply.error(error, line.request_id))
            if isinstance(error, TooManyRequests):
                headers = {**response.headers, "Retry-After": str(error.retry_after_s)}
                response = dataclasses.replace(response, headers=headers)
            return response
        if isinstance(outcome, HttpResponse):
            return outcome
        # A sender that notifies (Meta, Acuity) is answered 200, as its documentation asks.
        status = 200 if getattr(source, "fetched_from", "") else 202
        return render(Reply(status, {**outcome.to_dict(), "request_id": line.request_id}))

    # ------------------------------------------------------------------ webhook

    def _webhook(self, source: Source, request: WebhookRequest) -> IngestOutcome | HttpResponse:
        if request.method == "GET":
            return self._handshake(source, request)
        emit_metric("WebhooksReceived")
        refuse_if_larger(request, self._settings.max_body_bytes)
        context, entry = self._authenticated(source, request)
        if getattr(source, "fetched_from", ""):  # a source written before notifications has none
            return self._notified(cast(FetchedSource, source), request, context)
        delivery = source.read(request, context)
        too_many(len(delivery.submissions), context)
        scopes = entry.scopes if entry is not None else UNSCOPED
        cap = scopes.contacts_per_minute if scopes.scoped else None
        token = (entry.token_id, cap) if entry is not None and cap is not None else None
        self._admission.admit(source.name, len(delivery.submissions), self._clock(), token)
        arrival = Arrival(
            source.name, request.request_id, self._clock(), source.refuses_when_nothing_valid, scopes.restrict
        )
        return self._intake.take(delivery, arrival)

    def _handshake(self, source: Source, request: WebhookRequest) -> HttpResponse:
        """A sender's verification handshake (Meta's GET with hub.challenge): its answer as text/plain, 200."""
        if getattr(source, "handshake", None) is None:  # a source written before handshakes has none
            raise MethodNotAllowed(f"source {source.name!r} takes POST requests only")
        challenge = source.handshake(request, self._context(source, None, self._secrets()))
        logger.info("Verification handshake answered", extra={"source": source.name})
        return HttpResponse(200, challenge, {"Content-Type": "text/plain"})

    def _notified(self, source: FetchedSource, request: WebhookRequest, context: ReadContext) -> IngestOutcome:
        """An id-only notification: one fetch notice per record it names, queued at once (LeadFetchQueue), run once
        per delivery the sender names (a retried notification queues nothing again)."""
        notices = source.notices(request, context)
        too_many(len(notices), context)
        rejections = getattr(source, "notice_rejections", None)  # a source whose notification names bad records
        rejected = rejections(request) if rejections is not None else []
        if self._fetches is None:
            raise BufferUnavailable(f"source {source.name!r} needs the fetch queue, which is not configured")
        fetches = self._fetches

        def outcome() -> dict[str, Any]:
            return self._queue_fetches(fetches, source.name, notices, rejected).to_dict()

        identity = source.notification_identity(request)
        key = ledger_key(source.name, identity)
        if key is None or self._deliveries is None:
            return IngestOutcome.from_dict(outcome(), duplicate=False)
        try:
            answer, first_time = self._deliveries.once(key, identity.body_digest, outcome)
        except (DeliveryLedgerBusy, DeliveryKeyConflict, DeliveryLedgerUnavailable) as exc:
            raise BufferUnavailable("the bridge cannot check for repeated notifications right now; retry") from exc
        if not first_time:
            emit_metric("DuplicateDeliveries", 1)
        return IngestOutcome.from_dict(answer, duplicate=not first_time)

    @staticmethod
    def _queue_fetches(
        fetches: MessageQueue, source: str, notices: list[FetchNotice], rejected: list[Rejection]
    ) -> IngestOutcome:
        unsent = fetches.send([OutgoingMessage(n.to_json(), {"source": source}) for n in notices]) if notices else []
        if unsent:
            emit_metric("FetchesNotQueued", len(unsent))
            raise BufferUnavailable(f"{len(unsent)} of {len(notices)} records could not be queued; retry the request")
        emit_metric("FetchesQueued", len(notices))
        logger.info(
            "Webhook accepted",
            extra={
                "source": source,
                "outcome": "accepted",
                "fetches_queued": len(notices),
                "rejected": len(rejected),
                "rejections": [r.errors for r in rejected][:20],
            },
        )
        return IngestOutcome(len(notices), rejected)

    def _authenticated(self, source: Source, request: WebhookRequest) -> tuple[ReadContext, SecretEntry | None]:
        """The context the request is read with, and the secret it presented (None: the source is allowed
        without one). Each secret of the source's entry is tried in order (heymarket_bridge.ingest.scopes); refuses
        (401) a request none matches, and a source without a secret that must have one."""
        entries = self._secrets()
        try:
            secrets = read_entry(entries.get(source.name))
        except MalformedSecretEntry as exc:
            logger.error("Webhook secrets entry malformed", extra={"source": source.name, "error": str(exc)})
            raise BufferUnavailable(
                f"the bridge's webhook secret for source {source.name!r} is malformed; the operator must fix it"
            ) from exc
        if not secrets:
            if source.name not in self._settings.allow_unauthenticated:
                raise Unauthorized(
                    f"source {source.name!r} has no secret configured and unauthenticated posts are not allowed"
                )
            context = self._context(source, None, entries)
            source.authenticate(request, context)
            return context, None
        refusal: Unauthorized | None = None
        for entry in secrets:
            context = self._context(source, entry.token, entries)
            try:
                source.authenticate(request, context)
            except Unauthorized as exc:
                refusal = refusal or exc
                continue
            return context, entry
        assert refusal is not None
        raise refusal

    def _context(self, source: Source, secret: str | None, entries: Mapping[str, Any]) -> ReadContext:
        """What the source reads the request with, `secret` its own."""
        # A sender's own batch size (Salesforce's 100) is accepted whatever MaxContactsPerRequest says.
        return ReadContext(
            now=self._clock(),
            credentials=SourceCredentials(secret, entries),
            mapping=self._settings.mappings.get(source.name, NO_MAPPING),
            default_country=self._settings.default_country,
            max_contacts=contacts_limit(self._settings, source),
            public_base_url=self._settings.public_base_url,
            hubspot_require_v3=self._settings.hubspot_require_v3,
        )

    # ------------------------------------------------------------------ delete

    def _delete(self, request: WebhookRequest) -> IngestOutcome:
        emit_metric("WebhooksReceived")
        refuse_if_larger(request, self._settings.max_body_bytes)
        return delete_contacts(request, self._secrets(), self._settings, self._clock, self._buffer)

    # ------------------------------------------------------------------ shared

    def _secrets(self) -> Mapping[str, Any]:
        try:
            return self._webhook_secrets()
        except SecretUnavailable as exc:
            # The sender only learns to retry; the operator learns which secret and why (AWS's error code).
            logger.error("Webhook secrets unreadable", extra={"error": str(exc)})
            raise BufferUnavailable("the bridge cannot verify senders right now; retry later") from exc

    def _refused(self, line: RequestLine, source: Source | None, error: WebhookError) -> None:
        log = logger.warning if error.status < 500 else logger.error
        named = DELETES_METRIC_SOURCE if line.route is Route.DELETE else printable(line.source[:60])
        log(
            "Webhook refused",
            extra={
                "outcome": "refused",
                "status": error.status,
                "code": error.code,
                "source": named,
                "reason": error.message,
                "source_ip": line.source_ip,
            },
        )
        # By source and code in the line above; the metric has no dimension, so a URL cannot create series at will.
        emit_metric("WebhooksRefused")


def contacts_limit(settings: IngestSettings, source: Source) -> int:
    """The most contacts one request of `source` may hold (more: 413): MaxContactsPerRequest, or the sender's own
    batch size when larger (Salesforce's 100, which a smaller limit would refuse on each of its resends)."""
    return max(settings.max_contacts_per_request, source.sender_batch_size)
