"""The sync function's composition root: SQS batch in, Heymarket bulk requests, partial batch response out.

`build_sync(env)` makes the function of one execution environment (`SyncApp`) from that environment's variables;
functions/sync/app.py builds one from os.environ at import, and the local stack one per execution environment it
runs, from that environment's mapping: nothing is patched and os.environ is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.aws.contact_state import DynamoDbContactState
from heymarket_bridge.adapters.aws.learned_behaviour import DynamoDbLearnedBehaviour
from heymarket_bridge.adapters.aws.secrets import JsonSecretStore
from heymarket_bridge.adapters.aws.sqs import SqsBatchSender, SqsDeadLetters, SqsRequeue
from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp, V2Gateway
from heymarket_bridge.adapters.heymarket.circuit import Circuit
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.app.aws_clients import AwsClients
from heymarket_bridge.domain.records import record
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.settings import ApiMode, SyncSettings
from heymarket_bridge.sync.lists.batch import DeferredSegmenter
from heymarket_bridge.sync.model import QueueRecord, SyncReport
from heymarket_bridge.sync.service import SyncService
from heymarket_bridge.sync.settle import Backoff
from heymarket_bridge.sync.state.guard import ContactStateGuard

if TYPE_CHECKING:  # for type checks only: each is imported where a batch first needs it (see below)
    from heymarket_bridge.adapters.heymarket.contacts.v1 import V1Gateway
    from heymarket_bridge.domain.consent import ConsentChange
    from heymarket_bridge.sync.lists.steps import Segmenter
    from heymarket_bridge.sync.ports import ConsentLog


@record
class SyncRuntime:
    """The sync function's objects for one execution environment (compose_sync), kept between batches."""

    settings: SyncSettings
    service: SyncService
    http: HeymarketHttp
    contact_state: DynamoDbContactState | None = None
    learned_behaviour: DynamoDbLearnedBehaviour | None = None


def compose_sync(env: Mapping[str, str]) -> SyncRuntime:
    """The sync function's objects for one execution environment, from its environment variables.

    Raises ConfigError naming a missing or bad variable (SyncSettings.from_env).
    """
    settings = SyncSettings.from_env(env)
    aws = AwsClients(env)
    store = JsonSecretStore(SecretsProvider(boto3_client=aws.client("secretsmanager")), settings.secrets_max_age_s)
    auth = Authenticator(
        lambda refresh: Credentials.from_secret(store.get(settings.heymarket_secret_arn, refresh=refresh))
    )
    http = HeymarketHttp(
        settings.heymarket_base_url,
        auth,
        RequestBudget(settings.requests_per_minute_per_consumer),
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
        circuit=Circuit(settings.circuit_failures, settings.circuit_open_s),
    )
    sqs = aws.client("sqs")
    dynamodb = cache(lambda: aws.client("dynamodb"))
    # What the stack learned of Heymarket lives in the contact state table (one item): without it, each execution
    # environment learns alone.
    behaviour = (
        DynamoDbLearnedBehaviour(settings.contact_state_table, dynamodb()) if settings.contact_state_table else None
    )
    gateway: V1Gateway | V2Gateway = (
        _v1_gateway(http, settings)
        if settings.api_mode is ApiMode.V1
        else V2Gateway(http, max_batch=settings.max_batch, behaviour=behaviour)
    )
    # The lists steps and their adapters are imported and built on the first batch that names a tag or a list.
    segments = DeferredSegmenter(lambda: _segmenter(settings, gateway, http, dynamodb, sqs))
    state = DynamoDbContactState(settings.contact_state_table, dynamodb()) if settings.contact_state_table else None
    guard = (
        ContactStateGuard(
            state,
            skip_unchanged=settings.skip_unchanged,
            tombstone_s=settings.tombstone_s,
            lease_margin_ms=int(settings.lease_margin_s * 1000),
            reconsent=settings.reconsent,
        )
        if state is not None
        else None
    )
    consent_log = (
        DeferredConsentLog(lambda: _dynamodb_consent_log(settings, dynamodb()))
        if settings.consent_record_table
        else None
    )
    service = SyncService(
        gateway,
        SqsDeadLetters(SqsBatchSender(sqs, settings.dlq_url)),
        SqsRequeue(SqsBatchSender(sqs, settings.queue_url, delay_s=settings.wait_delay_s)),
        max_receive_count=settings.max_receive_count,
        deadline_reserve_s=settings.deadline_reserve_s,
        max_wait_s=settings.max_wait_s,
        outage=Backoff(settings.outage_base_delay_s, settings.outage_max_delay_s, settings.outage_expiry_margin_s),
        segments=segments,
        contact_state=guard,
        consent_log=consent_log,
        reconsent=settings.reconsent,
    )
    return SyncRuntime(settings, service, http, state, behaviour)


def _segmenter(
    settings: SyncSettings, gateway: V1Gateway | V2Gateway, http: HeymarketHttp, dynamodb: Callable[[], Any], sqs: Any
) -> Segmenter:
    """The tags-by-name and lists steps (sync.lists.steps) over their adapters, imported here: a batch of plain
    upserts never loads them (sync.lists.batch.DeferredSegmenter)."""
    from heymarket_bridge.adapters.aws.managed_lists import DynamoManagedStore
    from heymarket_bridge.adapters.heymarket.segments import HeymarketSegments
    from heymarket_bridge.sync.lists.steps import Segmenter

    return Segmenter(
        HeymarketSegments(gateway.client, http, max_batch=settings.max_batch),
        # The DynamoDB client is made on first use: a batch without list names or new tags never needs it.
        DynamoManagedStore(dynamodb, settings.managed_lists_table) if settings.managed_lists_table else None,
        SqsRequeue(SqsBatchSender(sqs, settings.queue_url, delay_s=settings.list_retry_delay_s)),
        stack=settings.stack_name,
        create_missing_tags=settings.create_missing_tags,
        remove_opted_out=settings.remove_opted_out_from_lists,
    )


def _v1_gateway(http: HeymarketHttp, settings: SyncSettings) -> V1Gateway:
    """The legacy v1 gateway (HEYMARKET_API_MODE=v1), imported only by a function set up for it: the v2 mode, the
    default, never loads it."""
    from heymarket_bridge.adapters.heymarket.contacts.v1 import V1Gateway

    return V1Gateway(http, max_batch=settings.max_batch, overwrite=settings.v1_overwrite)


def _dynamodb_consent_log(settings: SyncSettings, dynamodb: Any) -> ConsentLog:
    from heymarket_bridge.adapters.aws.consent_log import DynamoDbConsentLog

    return DynamoDbConsentLog(settings.consent_record_table, dynamodb, settings.consent_record_retention_days)


class DeferredConsentLog:
    """The consent record's store (sync.ports.ConsentLog), built by `build` when a batch first has a change to
    record: a batch whose contacts change no consent (no opt-in or opt-out claimed) never imports the DynamoDB
    adapter (adapters.aws.consent_log), which the sync function's cold start therefore does not pay for."""

    def __init__(self, build: Callable[[], ConsentLog]) -> None:
        self._build = build
        self._log: ConsentLog | None = None

    def record(self, changes: Sequence[ConsentChange]) -> int:
        """As ConsentLog.record: how many of `changes` were written; raises ConsentRecordUnavailable."""
        if self._log is None:
            self._log = self._build()
        return self._log.record(changes)


class SyncApp:
    """The sync function of one execution environment: its objects, built on the first batch, then kept.

    Built on first use, not at import, as before: a cold start reads its settings and makes its clients once.
    """

    def __init__(self, build: Callable[[], SyncRuntime]) -> None:
        self._build = build
        self._runtime: SyncRuntime | None = None

    def runtime(self) -> SyncRuntime:
        """The environment's objects; raises ConfigError on a missing or bad variable (nothing is kept then)."""
        if self._runtime is None:
            self._runtime = self._build()
        return self._runtime

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        """SQS event in, partial batch response out: only the messages to redeliver are reported, in the shape
        Lambda documents for `ReportBatchItemFailures` (`{"batchItemFailures": [{"itemIdentifier": id}]}`,
        https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html), built here rather than
        with Powertools' batch utility, whose import (asyncio, and the stream and Kafka event classes) cost the
        cold start about 50 ms for a list of ids."""
        records = event.get("Records") or []
        if not records:  # Lambda never sends an empty batch; a manual test invocation might
            return {"batchItemFailures": []}
        queued = [_queue_record(record) for record in records]
        runtime = self.runtime()
        requests_before = runtime.http.requests_sent
        report = runtime.service.process(queued, lambda: context.get_remaining_time_in_millis() / 1000)
        report.heymarket_requests = runtime.http.requests_sent - requests_before
        _record_metrics(report)
        redeliver = set(report.failed_message_ids)
        return {"batchItemFailures": [{"itemIdentifier": q.message_id} for q in queued if q.message_id in redeliver]}


def build_sync(env: Mapping[str, str]) -> SyncApp:
    """The sync function of one execution environment, over its variables (os.environ on Lambda), which are read
    on the first batch."""
    return SyncApp(lambda: compose_sync(env))


def _queue_record(record: Mapping[str, Any]) -> QueueRecord:
    """One record of Lambda's SQS event (https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html) as the use
    case reads it: its id, body, receive count and when SQS received it (epoch ms)."""
    attributes = record.get("attributes") or {}
    return QueueRecord(
        message_id=str(record.get("messageId", "")),
        body=str(record.get("body", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        sent_timestamp_ms=int(attributes.get("SentTimestamp") or 0),
    )


def _record_metrics(report: SyncReport) -> None:
    # The few series an alarm or an operator's glance needs (heymarket_bridge.observability.METRICS); every count is
    # in the "Batch synced" line below, which the saved query `sync-counts` sums.
    for name, value in (
        ("ContactsDelivered", report.delivered_contacts),
        ("ContactsWaiting", report.waiting_messages),
        ("ConsentRecordsFailed", report.consent_records_failed),
    ):
        emit_metric(name, value)
    log = logger.error if report.configuration_error else logger.info
    counts = {
        "delivered": report.delivered_contacts,
        "rejected": report.rejected_contacts,
        "retried": report.retried_messages,
        "dead_lettered": report.dead_lettered_messages,
        "waiting": report.waiting_messages,
        "merged": report.merged_messages,
        "updated_existing": report.updated_existing,
        "deleted": report.deleted_contacts,
        "listed": report.listed_contacts,
        "list_writes_deferred": report.list_follow_ups,
        "list_writes_dead_lettered": report.list_writes_dead_lettered,
        "superseded": report.superseded_operations,
        "unchanged": report.unchanged_skipped,
        "consent_recorded": report.consent_changes_recorded,
        "consent_record_failed": report.consent_records_failed,
        "heymarket_requests": report.heymarket_requests,
        "configuration_error": report.configuration_error,
    }
    # Zeros left out (billed per byte; Logs Insights sums a missing count as none), but for the two always read.
    log("Batch synced", extra={k: v for k, v in counts.items() if v or k in ("delivered", "heymarket_requests")})
