"""Remembers which webhook deliveries were already buffered (Powertools idempotency on DynamoDB).

Senders retry: the same form submission often arrives twice. The first delivery's answer is stored under
`<source>:<delivery id>` for longer than any sender's retry window; a repeat gets that answer back and
enqueues nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from heymarket_bridge.errors import DeliveryInProgress, DeliveryLedgerUnavailable

# Longer than the retry windows of the senders: Shopify 48 h, HubSpot 3 days, Typeform and Calendly a day or less.
DEFAULT_RETENTION_S = 4 * 24 * 3600


class DynamoDbDeliveryLedger:
    """Runs a delivery's work once per key; later calls with the key get the first result back."""

    def __init__(self, table_name: str, dynamodb_client: Any, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self._store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._retention_s = retention_s
        self._configs: dict[int, IdempotencyConfig] = {}
        self._context: Any = None

    def register_lambda_context(self, context: Any) -> None:
        """Let a delivery left in progress by a timed-out invocation expire with it, not after `retention_s`."""
        self._context = context
        for config in self._configs.values():
            config.register_lambda_context(context)

    def _config(self, retention_s: int) -> IdempotencyConfig:
        config = self._configs.get(retention_s)
        if config is None:
            config = self._configs[retention_s] = IdempotencyConfig(expires_after_seconds=retention_s)
            if self._context is not None:
                config.register_lambda_context(self._context)
        return config

    def once(
        self, key: str, work: Callable[[], dict[str, Any]], retention_s: int | None = None
    ) -> tuple[dict[str, Any], bool]:
        """(result, first time): `work()`'s result, computed now or replayed from the first delivery.

        An exception from `work` is not remembered: the sender's retry runs the work again.
        """
        ran: list[bool] = []

        # Powertools' decorator is untyped; `deliver` keeps the signature written here.
        @idempotent_function(  # type: ignore[untyped-decorator,unused-ignore]
            data_keyword_argument="delivery",
            persistence_store=self._store,
            config=self._config(retention_s or self._retention_s),
        )
        def deliver(delivery: dict[str, str]) -> dict[str, Any]:
            ran.append(True)
            return work()

        try:
            result = deliver(delivery={"key": key})
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgress(key) from exc
        except IdempotencyPersistenceLayerError as exc:
            raise DeliveryLedgerUnavailable(str(exc)) from exc
        return result, bool(ran)
