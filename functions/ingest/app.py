"""Ingest Lambda: POST /webhooks/{source} -> validated contacts in SQS."""

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.app.ingest import IngestApp, build_ingest
from heymarket_bridge.observability import logger, metrics

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def handler_for(env: Mapping[str, str]) -> Handler:
    """The handler of one execution environment over its variables; the local stack calls it with its own."""
    return handler_over(build_ingest(env))  # builds on the first request, not here: the import cost is unchanged


def handler_over(app: IngestApp) -> Handler:
    """The handler over one execution environment's app, with Powertools' decorators."""

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.handle(event, context)

    return lambda_handler


lambda_handler = handler_for(os.environ)
