"""What the ingest side remembers of past deliveries, in the stack's DynamoDB table.

- `DynamoDbDeliveryLedger`: deliveries a sender names (a webhook or event id, an Idempotency-Key), through
  Powertools idempotency. The first delivery's answer is stored under its key for longer than any sender's retry
  window; a repeat gets that answer back (marked by the `response_hook`) and enqueues nothing. Keys are hashed
  whole with SHA-256 (`event_key_jmespath`), never truncated; a key whose content differs from the first
  delivery's (`payload_validation_jmespath`) is a conflict.
- `DynamoDbRecentContacts`: for each phone, the fingerprint of the latest contact queued for it, for a few
  minutes: what tells a retry from a change when the sender names no delivery.

Items of both share the table's key `id` and its TTL attribute `expiration`; the phones are stored as SHA-256
digests, and no digest is ever logged.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.errors import DeliveryInProgress, DeliveryKeyConflict, DeliveryLedgerUnavailable

# Longer than the retry windows of the senders: Shopify 4 h, HubSpot 3 days, Salesforce 24 h, Typeform a day.
DEFAULT_RETENTION_S = 4 * 24 * 3600
# How long the latest contact of a phone is remembered: a sender's retry burst, not a day.
RECENT_WINDOW_S = 15 * 60
REPLAYED = "__replayed__"
_VOID_ID = "recent#void"
_BATCH_GET = 100
_BATCH_WRITE = 25


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    """Powertools' response_hook: a replayed answer is told apart from a fresh one."""
    return {**response, REPLAYED: True} if isinstance(response, dict) else response


class DynamoDbDeliveryLedger:
    """Runs a delivery's work once per key; later calls with the key get the first result back."""

    def __init__(self, table_name: str, dynamodb_client: Any, retention_s: int = DEFAULT_RETENTION_S) -> None:
        self._store = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="content",
            hash_function="sha256",
            expires_after_seconds=retention_s,
            response_hook=_mark_replayed,
        )

    def register_lambda_context(self, context: Any) -> None:
        """Let a delivery left in progress by a timed-out invocation expire with it, not after the retention."""
        self._config.register_lambda_context(context)

    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(result, first time): `work()`'s result, computed now or replayed from the first delivery with `key`.

        Raises DeliveryInProgress (the first is being handled now), DeliveryKeyConflict (the first had another
        `content`), DeliveryLedgerUnavailable. An exception from `work` is not remembered: a retry runs it again.
        """

        # Powertools' decorator is untyped; `deliver` keeps the signature written here.
        @idempotent_function(  # type: ignore[untyped-decorator,unused-ignore]
            data_keyword_argument="delivery", persistence_store=self._store, config=self._config
        )
        def deliver(delivery: dict[str, str]) -> dict[str, Any]:
            return work()

        try:
            result = dict(deliver(delivery={"key": key, "content": content}))
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgress("in progress") from exc
        except IdempotencyValidationError as exc:
            raise DeliveryKeyConflict("another body") from exc
        except IdempotencyPersistenceLayerError as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        replayed = bool(result.pop(REPLAYED, False))
        return result, not replayed


class DynamoDbRecentContacts:
    """The latest contact fingerprint of each phone, for RECENT_WINDOW_S (BatchGetItem / BatchWriteItem)."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        window_s: int = RECENT_WINDOW_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._window_s = window_s
        self._clock = clock

    def seen(self, phones: Sequence[str]) -> dict[str, str]:
        """The fingerprint of the latest contact recorded for each phone within the window; voided ones left out."""
        ids = {_item_id(phone): phone for phone in dict.fromkeys(phones)}
        items = self._get([*ids, _VOID_ID])
        now_ms = int(self._clock() * 1000)
        void_ms = int(items.get(_VOID_ID, {}).get("at", {}).get("N", "0"))
        found: dict[str, str] = {}
        for item_id, phone in ids.items():
            item = items.get(item_id)
            if item is None:
                continue
            at_ms = int(item.get("at", {}).get("N", "0"))
            if at_ms > void_ms and now_ms - at_ms <= self._window_s * 1000:
                found[phone] = str(item.get("fingerprint", {}).get("S", ""))
        return found

    def record(self, fingerprints: Mapping[str, str]) -> None:
        """Remember each fingerprint as the latest for its phone ("" for a phone whose contact is being deleted)."""
        now = self._clock()
        self._put({_item_id(phone): fingerprint for phone, fingerprint in fingerprints.items()}, now)

    def void(self) -> None:
        """Forget every record made until now (a delete by contact id: the phone it deletes is not known)."""
        self._put({_VOID_ID: ""}, self._clock())

    def _get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(ids), _BATCH_GET):
                keys: list[dict[str, Any]] = [{"id": {"S": item_id}} for item_id in ids[start : start + _BATCH_GET]]
                for _ in range(3):
                    answer = self._dynamodb.batch_get_item(
                        RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                    )
                    for item in answer.get("Responses", {}).get(self._table, []):
                        items[item["id"]["S"]] = item
                    keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                    if not keys:
                        break
                if keys:
                    raise DeliveryLedgerUnavailable("unprocessed keys")
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        return items

    def _put(self, fingerprints: Mapping[str, str], now: float) -> None:
        expiration = str(int(now) + self._window_s + 60)
        at_ms = str(int(now * 1000))
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "id": {"S": item_id},
                        "fingerprint": {"S": fingerprint},
                        "at": {"N": at_ms},
                        "expiration": {"N": expiration},
                    }
                }
            }
            for item_id, fingerprint in fingerprints.items()
        ]
        try:
            for start in range(0, len(requests), _BATCH_WRITE):
                pending = requests[start : start + _BATCH_WRITE]
                for _ in range(3):
                    answer = self._dynamodb.batch_write_item(RequestItems={self._table: pending})
                    pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                    if not pending:
                        break
                if pending:
                    raise DeliveryLedgerUnavailable("unprocessed items")
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc


def _item_id(phone: str) -> str:
    return "recent#" + hashlib.sha256(phone.encode()).hexdigest()
