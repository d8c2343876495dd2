"""The local AWS's DynamoDB transactions behave as DynamoDB's where the contact state relies on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

TABLE = "states"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "phone", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "phone", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def claim(token: str) -> list[dict[str, Any]]:
    return [
        {
            "Update": {
                "TableName": TABLE,
                "Key": {"phone": {"S": "15105551234"}},
                "UpdateExpression": "SET lease = :token",
                "ConditionExpression": "attribute_not_exists(phone)",
                "ExpressionAttributeValues": {":token": {"S": token}},
            }
        }
    ]


def test_a_transaction_sent_again_with_its_client_request_token_succeeds_without_writing_again(dynamodb: Any) -> None:
    # As DynamoDB does for 10 minutes: botocore sends the same token again when it retries a call that timed out
    request_token = str(uuid.uuid4())
    dynamodb.transact_write_items(TransactItems=claim("a"), ClientRequestToken=request_token)

    dynamodb.transact_write_items(TransactItems=claim("a"), ClientRequestToken=request_token)

    item = dynamodb.get_item(TableName=TABLE, Key={"phone": {"S": "15105551234"}})["Item"]
    assert item["lease"] == {"S": "a"}


def test_another_transaction_meeting_the_same_condition_is_cancelled(dynamodb: Any) -> None:
    dynamodb.transact_write_items(TransactItems=claim("a"), ClientRequestToken=str(uuid.uuid4()))

    with pytest.raises(ClientError) as refused:
        dynamodb.transact_write_items(TransactItems=claim("b"), ClientRequestToken=str(uuid.uuid4()))

    assert refused.value.response["Error"]["Code"] == "TransactionCanceledException"
