"""The ingest limits' AWS adapters (heymarket_bridge.adapters.aws.counters) over moto: the conditional counter in
the idempotency table (as template.yaml defines it) and the queue's depth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from heymarket_bridge.adapters.aws.counters import DynamoDbCounters, SqsQueueDepth
from heymarket_bridge.ingest.failures import CountersUnavailable, QueueDepthUnavailable
from tests.doubles.counters import MemoryCounters


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="idempotency",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.mark.parametrize("kind", ["dynamodb", "memory"])
def test_a_counter_adds_up_to_its_limit_and_refuses_what_would_pass_it(dynamodb: Any, kind: str) -> None:
    counters: Any = DynamoDbCounters("idempotency", dynamodb) if kind == "dynamodb" else MemoryCounters()

    assert counters.add("rate\nsource\ngeneric\n1", 7, 10, 1_000) is True
    assert counters.add("rate\nsource\ngeneric\n1", 3, 10, 1_000) is True
    assert counters.add("rate\nsource\ngeneric\n1", 1, 10, 1_000) is False
    assert counters.add("rate\nsource\ngeneric\n2", 10, 10, 1_060) is True


def test_a_counter_item_holds_its_count_and_its_expiry(dynamodb: Any) -> None:
    DynamoDbCounters("idempotency", dynamodb).add("rate\nsource\ngeneric\n1", 7, 10, 1_000)

    item = dynamodb.get_item(TableName="idempotency", Key={"id": {"S": "rate\nsource\ngeneric\n1"}})["Item"]
    assert item["contacts"] == {"N": "7"}
    assert item["expiration"] == {"N": "1000"}


def test_a_counter_that_cannot_be_written_is_unavailable(dynamodb: Any) -> None:
    with pytest.raises(CountersUnavailable, match="ResourceNotFoundException"):
        DynamoDbCounters("no-such-table", dynamodb).add("k", 1, 10, 1_000)


def test_an_unreachable_dynamodb_is_unavailable() -> None:
    class Down:
        def update_item(self, **kwargs: Any) -> None:
            raise EndpointConnectionError(endpoint_url="https://dynamodb")

    with pytest.raises(CountersUnavailable):
        DynamoDbCounters("idempotency", Down()).add("k", 1, 10, 1_000)


def test_the_queue_depth_is_its_visible_messages() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="contacts")["QueueUrl"]
        for index in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=str(index))

        assert SqsQueueDepth(sqs, url)() == 3
        with pytest.raises(QueueDepthUnavailable):
            SqsQueueDepth(sqs, url + "-gone")()
