"""The sync function's composition root: SQS batch in, Heymarket bulk requests, partial batch response out."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketClient
from heymarket_bridge.adapters.secrets import JsonSecretStore
from heymarket_bridge.adapters.sqs import OutgoingMessage, SqsBatchSender
from heymarket_bridge.messages import DeadLetter
from heymarket_bridge.observability import logger, metrics
from heymarket_bridge.ratelimit import RequestBudget
from heymarket_bridge.runtime import aws_client
from heymarket_bridge.settings import SyncSettings
from heymarket_bridge.sync import QueueRecord, SyncReport, SyncService


class SqsDeadLetters:
    """The DLQ, written by the sync function itself so that every dead letter says why it is there."""

    def __init__(self, sender: SqsBatchSender) -> None:
        self._sender = sender

    def write(self, letters: list[DeadLetter] | Any) -> list[int]:
        return self._sender.send(
            [
                OutgoingMessage(letter.to_json(), {"source": letter.source, "correlation_id": letter.correlation_id})
                for letter in letters
            ]
        )


@dataclass(frozen=True)
class SyncRuntime:
    settings: SyncSettings
    service: SyncService


@cache
def sync_runtime() -> SyncRuntime:
    settings = SyncSettings.from_env()
    store = JsonSecretStore(SecretsProvider(boto3_client=aws_client("secretsmanager")), settings.secrets_max_age_s)
    auth = Authenticator(
        lambda refresh: Credentials.from_secret(store.get(settings.heymarket_secret_arn, refresh=refresh))
    )
    client = HeymarketClient(
        settings.heymarket_base_url,
        auth,
        connect_timeout_s=settings.connect_timeout_s,
        read_timeout_s=settings.read_timeout_s,
    )
    service = SyncService(
        client,
        SqsDeadLetters(SqsBatchSender(aws_client("sqs"), settings.dlq_url)),
        RequestBudget(settings.requests_per_minute_per_consumer),
        max_batch=settings.max_batch,
        max_receive_count=settings.max_receive_count,
        api_mode=settings.api_mode,
        v1_overwrite=settings.v1_overwrite,
        deadline_reserve_s=settings.deadline_reserve_s,
    )
    return SyncRuntime(settings, service)


def handle_sqs_batch(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """SQS event in, partial batch response out: only the messages to redeliver are reported."""
    records = [SQSRecord(raw) for raw in event.get("Records", [])]
    if not records:  # Lambda never sends an empty batch; a manual test invocation might
        return {"batchItemFailures": []}
    queued = [
        QueueRecord(
            message_id=record.message_id,
            body=record.body,
            receive_count=int(record.attributes.approximate_receive_count or 1),
            sent_timestamp_ms=int(record.attributes.sent_timestamp or 0),
        )
        for record in records
    ]
    report = sync_runtime().service.process(queued, lambda: context.get_remaining_time_in_millis() / 1000)
    _record_metrics(report)
    redeliver = set(report.failed_message_ids)

    def settle(record: SQSRecord) -> None:
        if record.message_id in redeliver:
            raise RedeliverMessage(record.message_id)

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=settle, processor=processor, context=context))


class RedeliverMessage(Exception):
    """Marks a message that SQS must deliver again (its contact could not be sent this time)."""


def _record_metrics(report: SyncReport) -> None:
    for name, value in (
        ("ContactsDelivered", report.delivered_contacts),
        ("ContactsFailed", report.rejected_contacts),
        ("ContactsRetried", report.retried_messages),
        ("ContactsDeadLettered", report.dead_lettered_messages),
        ("OperationsMerged", report.merged_messages),
        ("ExistingContactsUpdated", report.updated_existing),
        ("ContactsDeleted", report.deleted_contacts),
    ):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    logger.info(
        "Batch synced",
        extra={
            "delivered": report.delivered_contacts,
            "rejected": report.rejected_contacts,
            "retried": report.retried_messages,
            "dead_lettered": report.dead_lettered_messages,
            "merged": report.merged_messages,
            "updated_existing": report.updated_existing,
            "deleted": report.deleted_contacts,
            "heymarket_requests": report.heymarket_requests,
        },
    )
