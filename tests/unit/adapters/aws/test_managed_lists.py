"""The managed-lists table's contract, over the DynamoDB adapter (moto, the table as template.yaml defines it) and the
in-memory store the SyncService tests use: the same tests, so that the two cannot drift apart."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from heymarket_bridge.adapters.aws.managed_lists import DynamoManagedStore
from heymarket_bridge.sync.failures import StoreUnavailable
from heymarket_bridge.sync.model import ManagedRecord
from heymarket_bridge.sync.ports import ManagedStore
from heymarket_local.template import StackTemplate
from tests.doubles.managed_store import MemoryManagedStore

SPRING = ManagedRecord("list:spring open house", "Spring open house")


@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest) -> Iterator[ManagedStore]:
    if request.param == "memory":
        yield MemoryManagedStore()
        return
    properties = StackTemplate.load().document["Resources"]["ManagedListsTable"]["Properties"]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="ManagedListsTable",
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties["BillingMode"],
        )
        yield DynamoManagedStore(lambda: client, "ManagedListsTable")


def test_a_record_is_written_once_by_whoever_comes_first(store: ManagedStore) -> None:
    mine = replace(SPRING, claim="me", claimed_at=1700000000.5)
    theirs = replace(SPRING, claim="them", claimed_at=1700000001.0)

    assert store.put(mine) is True
    assert store.put(theirs) is False
    assert store.get(SPRING.key) == replace(mine, version=1)


def test_a_write_from_a_stale_read_is_refused_and_one_from_the_latest_read_succeeds(store: ManagedStore) -> None:
    store.put(replace(SPRING, claim="me"))
    read = store.get(SPRING.key)
    assert read is not None

    created = replace(read, claim=None, resource_id=42, generation=2, maybe_sent=False, created_at=1700000002.25)
    assert store.put(created) is True
    assert store.put(replace(read, claim="late")) is False
    assert store.get(SPRING.key) == replace(created, version=2)


def test_an_unknown_key_has_no_record(store: ManagedStore) -> None:
    assert store.get("list:never made") is None


def test_a_table_that_cannot_be_reached_is_reported_as_unavailable() -> None:
    class Unreachable:
        def get_item(self, **_: Any) -> Any:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="https://dynamodb.test")

    with pytest.raises(StoreUnavailable, match="EndpointConnectionError"):
        DynamoManagedStore(Unreachable, "ManagedListsTable").get(SPRING.key)
