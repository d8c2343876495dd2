"""The fetch function's composition root: a batch of LeadFetchQueue messages in (one FetchNotice each), the records
fetched from their vendors and buffered on ContactQueue as the ingest function buffers them, a partial batch response
out.

`build_fetch(env)` makes the function of one execution environment (`FetchApp`) from that environment's variables;
functions/fetch/app.py builds one from os.environ at import, and the local stack one per environment it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.aws.parameters import SourceMappingsParameter
from heymarket_bridge.adapters.aws.secrets import JsonSecretStore
from heymarket_bridge.adapters.aws.sqs import SqsBatchSender, SqsDeadLetters
from heymarket_bridge.adapters.vendors.acuity import AcuityAppointments
from heymarket_bridge.adapters.vendors.graph import GraphLeads
from heymarket_bridge.adapters.vendors.http import VendorHttp
from heymarket_bridge.app.aws_clients import AwsClients
from heymarket_bridge.domain.operations import OutgoingMessage
from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.fetch import FetchMessage, FetchPolicy, FetchService
from heymarket_bridge.ingest.intake import Intake
from heymarket_bridge.ingest.ports import VendorRecords
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.settings import FetchSettings


@record
class FetchRuntime:
    """The fetch function's objects for one execution environment (compose_fetch), kept between invocations."""

    settings: FetchSettings
    service: FetchService
    vendors: Mapping[str, VendorRecords]
    deliveries: Any = None  # the delivery ledger (DynamoDbDeliveryLedger), told each invocation's deadline


def compose_fetch(env: Mapping[str, str]) -> FetchRuntime:
    """The fetch function's objects for one execution environment. Raises ConfigError naming a missing or bad
    variable, MappingsUnavailable when the mappings parameter cannot be read (nothing is kept: the next batch tries
    again)."""
    settings = FetchSettings.from_env(env)
    aws = AwsClients(env)
    if settings.source_mappings_parameter:
        mappings = SourceMappingsParameter(
            SSMProvider(boto3_client=aws.client("ssm")), settings.source_mappings_parameter, settings.secrets_max_age_s
        )
        settings = replace(settings, mappings=mappings)
    store = JsonSecretStore(SecretsProvider(boto3_client=aws.client("secretsmanager")), settings.secrets_max_age_s)
    sqs = aws.client("sqs")
    refusals = SqsDeadLetters(SqsBatchSender(sqs, settings.dlq_url)) if settings.dlq_url else None
    deliveries = recent = None
    if settings.idempotency_table:
        from heymarket_bridge.adapters.aws.deliveries import DynamoDbDeliveryLedger, DynamoDbRecentContacts

        dynamodb = aws.client("dynamodb")
        deliveries = DynamoDbDeliveryLedger(settings.idempotency_table, dynamodb, settings.idempotency_retention_s)
        recent = DynamoDbRecentContacts(
            settings.idempotency_table, dynamodb, retention_s=settings.idempotency_retention_s
        )
    buffer = ContactBuffer(SqsBatchSender(sqs, settings.queue_url), recent, refusals)
    vendors: dict[str, VendorRecords] = {
        "graph": GraphLeads(VendorHttp("Graph API"), settings.graph_base_url, settings.graph_api_version),
        "acuity": AcuityAppointments(VendorHttp("Acuity"), settings.acuity_base_url),
    }

    def requeue(bodies: Sequence[str], delay_s: int) -> list[int]:
        sender = SqsBatchSender(sqs, settings.fetch_queue_url, delay_s=delay_s)
        return sender.send([OutgoingMessage(body) for body in bodies])

    service = FetchService(
        default_sources(),
        vendors,
        Intake(buffer, deliveries, settings.default_country, settings.mappings),
        lambda: store.get(settings.webhook_secrets_arn),
        SqsBatchSender(sqs, settings.fetch_dlq_url),
        requeue,
        policy=FetchPolicy(settings.max_attempts, settings.wait_delay_s, settings.max_wait_s, settings.default_country),
        mappings=settings.mappings,
    )
    return FetchRuntime(settings, service, vendors, deliveries)


class FetchApp:
    """The fetch function of one execution environment: its objects, built on the first batch, then kept."""

    def __init__(self, build: Callable[[], FetchRuntime]) -> None:
        self._build = build
        self._runtime: FetchRuntime | None = None

    def runtime(self) -> FetchRuntime:
        if self._runtime is None:
            self._runtime = self._build()
        return self._runtime

    def handle(self, event: Mapping[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """SQS event in, partial batch response out (`batchItemFailures`: the messages SQS delivers again)."""
        records = [r for r in event.get("Records", []) if isinstance(r, Mapping)] if isinstance(event, Mapping) else []
        if not records:
            return {"batchItemFailures": []}
        runtime = self.runtime()
        register = getattr(runtime.deliveries, "register_lambda_context", None)
        if context is not None and register is not None:
            register(context)
        messages = [FetchMessage(str(r.get("messageId", "")), str(r.get("body", ""))) for r in records]
        before = sum(vendor.requests_sent for vendor in runtime.vendors.values())

        def remaining_s() -> float:
            return context.get_remaining_time_in_millis() / 1000 if context is not None else 60.0

        report = runtime.service.process(messages, remaining_s)
        requests = sum(vendor.requests_sent for vendor in runtime.vendors.values()) - before
        emit_metric("VendorRequests", requests)
        log = logger.error if report.configuration_error else logger.info
        log(
            "Fetch batch handled",
            extra={
                "records": len(messages),
                "taken_in": report.taken_in,
                "retried": report.retried,
                "waiting": report.waiting,
                "dead_lettered": report.dead_lettered,
                "redelivered": len(report.redeliver),
                "vendor_requests": requests,
            },
        )
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in report.redeliver]}


def build_fetch(env: Mapping[str, str]) -> FetchApp:
    """The fetch function of one execution environment, over its variables (os.environ on Lambda), read on the first
    batch."""
    return FetchApp(lambda: compose_fetch(env))
