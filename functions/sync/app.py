"""Sync Lambda: SQS batches -> Heymarket v2 bulk contacts, failures to the DLQ with their reason."""

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.app.sync import handle_sqs_batch
from heymarket_bridge.observability import logger, metrics


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_sqs_batch(event, context)
