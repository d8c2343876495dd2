"""The ingest function's composition root: API Gateway event in, validated contacts in SQS, response out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.parameters import MappingsUnavailable, SourceMappingsParameter
from heymarket_bridge.adapters.secrets import JsonSecretStore
from heymarket_bridge.adapters.sqs import SqsBatchSender
from heymarket_bridge.ingest import IngestService
from heymarket_bridge.observability import logger
from heymarket_bridge.runtime import aws_client
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge.webhook import BufferUnavailable, Reply, WebhookError, WebhookRequest


@cache
def ingest_service() -> IngestService:
    settings = IngestSettings.from_env()
    if settings.source_mappings_parameter:
        mappings = SourceMappingsParameter(
            SSMProvider(boto3_client=aws_client("ssm")), settings.source_mappings_parameter, settings.secrets_max_age_s
        )
        settings = replace(settings, mappings=mappings)
    store = JsonSecretStore(SecretsProvider(boto3_client=aws_client("secretsmanager")), settings.secrets_max_age_s)
    queue = SqsBatchSender(aws_client("sqs"), settings.queue_url)
    deliveries = None
    if settings.idempotency_table:
        from heymarket_bridge.adapters.deliveries import DynamoDbDeliveryLedger

        deliveries = DynamoDbDeliveryLedger(
            settings.idempotency_table, aws_client("dynamodb"), settings.idempotency_retention_s
        )
    return IngestService(settings, lambda: store.get(settings.webhook_secrets_arn), queue, deliveries=deliveries)


def handle_webhook(event: Mapping[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
    """API Gateway HTTP API event in, API Gateway response out."""
    try:
        request = WebhookRequest.from_http_api_event(event)
    except WebhookError as error:
        return Reply.error(error, str((event.get("requestContext") or {}).get("requestId", ""))).to_http_api()
    try:
        service = ingest_service()
    except MappingsUnavailable:
        # Not built (so not cached): the next request tries again. The sender is told to retry meanwhile.
        logger.error(
            "Webhook refused", extra={"status": 503, "code": "buffer_unavailable", "reason": "SSM unreachable"}
        )
        unavailable = BufferUnavailable("the bridge cannot read its configuration right now; retry later")
        return Reply.error(unavailable, request.request_id).to_http_api()
    register = getattr(service.deliveries, "register_lambda_context", None)
    if context is not None and register is not None:
        register(context)
    return service.handle(request).to_http_api()
