"""The ingest limits' shared state in AWS (heymarket_bridge.ingest.limits): contact counters in the idempotency
table, and the contact queue's depth.

A counter is one item of the idempotency table per key and minute window (`id`: the key, `expiration`: the TTL the
table already has), changed by one conditional UpdateItem `ADD` per delivery: one write request unit each
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.UpdateExpressions.html#Expressions.UpdateExpressions.ADD,
condition expressions: .../Expressions.ConditionExpressions.html). A refused condition writes nothing.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.ingest.failures import CountersUnavailable, QueueDepthUnavailable


class DynamoDbCounters:
    """Counters as items of `table` (key attribute `id`, TTL attribute `expiration`)."""

    def __init__(self, table: str, dynamodb: Any) -> None:
        self._table, self._dynamodb = table, dynamodb

    def add(self, key: str, count: int, limit: int, expires_at: int) -> bool:
        """Add `count` to counter `key` unless the sum would pass `limit`: True when added. Raises
        CountersUnavailable when DynamoDB cannot be reached or refuses for another reason than the condition."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"id": {"S": key}},
                UpdateExpression="ADD contacts :count SET expiration = :expires",
                ConditionExpression="attribute_not_exists(contacts) OR contacts <= :room",
                ExpressionAttributeValues={
                    ":count": {"N": str(count)},
                    ":room": {"N": str(limit - count)},
                    ":expires": {"N": str(expires_at)},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise CountersUnavailable(exc.response.get("Error", {}).get("Code", "ClientError")) from exc
        except BotoCoreError as exc:
            raise CountersUnavailable(type(exc).__name__) from exc
        return True


class SqsQueueDepth:
    """The queue's ApproximateNumberOfMessages (visible messages: the backlog; GetQueueAttributes,
    https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_GetQueueAttributes.html)."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs, self._queue_url = sqs, queue_url

    def __call__(self) -> int:
        """Raises QueueDepthUnavailable."""
        try:
            answer = self._sqs.get_queue_attributes(
                QueueUrl=self._queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            return int(answer["Attributes"]["ApproximateNumberOfMessages"])
        except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
            raise QueueDepthUnavailable(type(exc).__name__) from exc
