"""Fetch Lambda: LeadFetchQueue batches (id-only notifications of Meta Lead Ads and Acuity Scheduling) -> the records
fetched from their vendors -> validated contacts on ContactQueue; partial batch response."""

import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.app.fetch import FetchApp, build_fetch
from heymarket_bridge.observability import logger, metrics

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def handler_for(env: Mapping[str, str]) -> Handler:
    """The handler of one execution environment over its variables; the local stack calls it with its own."""
    return handler_over(build_fetch(env))  # builds on the first batch, not here


def handler_over(app: FetchApp) -> Handler:
    """The handler over one execution environment's app, with Powertools' decorators."""

    @logger.inject_lambda_context
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.handle(event, context)

    return lambda_handler


lambda_handler = handler_for(os.environ)
