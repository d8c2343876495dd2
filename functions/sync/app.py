"""Sync Lambda: SQS batches -> Heymarket v2 bulk contacts, failures to the DLQ with their reason."""

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.app.sync import SyncApp, build_sync
from heymarket_bridge.observability import logger, metrics

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def handler_for(env: Mapping[str, str]) -> Handler:
    """The handler of one execution environment over its variables; the local stack calls it with its own."""
    return handler_over(build_sync(env))  # builds on the first batch, not here: the import cost is unchanged


def handler_over(app: SyncApp) -> Handler:
    """The handler over one execution environment's app, with Powertools' decorators."""

    @logger.inject_lambda_context
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.handle(event, context)

    return lambda_handler


lambda_handler = handler_for(os.environ)
