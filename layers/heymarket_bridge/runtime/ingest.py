"""The ingest function's composition root: API Gateway event in, validated contacts in SQS, response out."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.secrets import JsonSecretStore
from heymarket_bridge.adapters.sqs import SqsBatchSender
from heymarket_bridge.ingest import IngestService
from heymarket_bridge.runtime import aws_client
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge.sources import default_sources


def build_ingest(settings: IngestSettings) -> IngestService:
    """The ingest service of one execution environment, from its settings and boto3 clients."""
    store = JsonSecretStore(SecretsProvider(boto3_client=aws_client("secretsmanager")), settings.secrets_max_age_s)
    queue = SqsBatchSender(aws_client("sqs"), settings.queue_url)
    deliveries = recent = None
    if settings.idempotency_table:
        from heymarket_bridge.adapters.deliveries import DynamoDbDeliveryLedger, DynamoDbRecentContacts

        dynamodb = aws_client("dynamodb")
        deliveries = DynamoDbDeliveryLedger(settings.idempotency_table, dynamodb, settings.idempotency_retention_s)
        recent = DynamoDbRecentContacts(settings.idempotency_table, dynamodb)
    return IngestService(
        settings,
        lambda: store.get(settings.webhook_secrets_arn),
        queue,
        deliveries=deliveries,
        sources=default_sources(),
        recent=recent,
    )


@cache
def ingest_service() -> IngestService:
    return build_ingest(IngestSettings.from_env())


def handle_webhook(event: Mapping[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
    """API Gateway HTTP API event in, API Gateway response out."""
    service = ingest_service()
    register = getattr(service.deliveries, "register_lambda_context", None)
    if context is not None and register is not None:
        register(context)
    return service.handle(event if isinstance(event, Mapping) else {}).to_http_api()
