"""The managed-lists table (template: ManagedListsTable): the tags and lists the bridge creates, one item each.

Implements `heymarket_bridge.sync.ports.ManagedStore` on DynamoDB: reads are strongly consistent, and every
write is
conditional on the item's `version` (absent for a new item), so that of two consumers writing the same item from the
same version exactly one succeeds. Items are small (under 1 KB): each read or write is one capacity unit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.sync.failures import StoreUnavailable
from heymarket_bridge.sync.model import ManagedRecord


class DynamoManagedStore:
    """Items `{"key", "name", "version", "generation", "maybe_sent", "claimed_at", "created_at"}`, plus `resource_id`
    once created and `claim` while a consumer creates it."""

    def __init__(self, dynamodb: Callable[[], Any], table: str) -> None:
        self._client = dynamodb  # a boto3 DynamoDB client, made when first needed
        self._table = table

    @property
    def _dynamodb(self) -> Any:
        return self._client()

    def get(self, key: str) -> ManagedRecord | None:
        try:
            answer = self._dynamodb.get_item(TableName=self._table, Key={"key": {"S": key}}, ConsistentRead=True)
        except (ClientError, BotoCoreError) as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        item = answer.get("Item")
        return None if item is None else _record(item)

    def put(self, record: ManagedRecord) -> bool:
        item: dict[str, Any] = {
            "key": {"S": record.key},
            "name": {"S": record.name},
            "version": {"N": str(record.version + 1)},
            "generation": {"N": str(record.generation)},
            "maybe_sent": {"BOOL": record.maybe_sent},
            "claimed_at": {"N": f"{record.claimed_at:.3f}"},
            "created_at": {"N": f"{record.created_at:.3f}"},
        }
        if record.resource_id is not None:
            item["resource_id"] = {"N": str(record.resource_id)}
        if record.claim is not None:
            item["claim"] = {"S": record.claim}
        condition: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(#key)", "ExpressionAttributeNames": {"#key": "key"}}
            if record.version == 0
            else {
                "ConditionExpression": "#version = :read",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":read": {"N": str(record.version)}},
            }
        )
        try:
            self._dynamodb.put_item(TableName=self._table, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable(_describe(exc)) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(_describe(exc)) from exc
        return True


def _record(item: dict[str, Any]) -> ManagedRecord:
    def number(name: str, default: float = 0) -> float:
        return float(item[name]["N"]) if name in item else default

    return ManagedRecord(
        key=item["key"]["S"],
        name=item.get("name", {}).get("S", ""),
        resource_id=int(item["resource_id"]["N"]) if "resource_id" in item else None,
        generation=int(number("generation", 1)),
        claim=item["claim"]["S"] if "claim" in item else None,
        claimed_at=number("claimed_at"),
        maybe_sent=bool(item.get("maybe_sent", {}).get("BOOL", False)),
        created_at=number("created_at"),
        version=int(number("version")),
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
