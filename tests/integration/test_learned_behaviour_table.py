"""What the stack learned of Heymarket (heymarket_bridge.adapters.aws.learned_behaviour) against moto, in the contact
state table the template declares: learned and unlearned with conditional writes, read back by another instance."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from heymarket_bridge.adapters.aws.contact_state import DynamoDbContactState
from heymarket_bridge.adapters.aws.learned_behaviour import BEHAVIOUR_KEY, DynamoDbLearnedBehaviour
from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import LearnedFact
from heymarket_local.template import StackTemplate

NOW = 1_795_424_400_000
KEEP = LearnedFact("omitted", "keep", "an update that left out email answered with none gone", NOW)


@pytest.fixture
def tables() -> Iterator[tuple[Any, str]]:
    with mock_aws():
        resources = StackTemplate.load().provision(
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            webhook_secrets={"generic": "t"},
            heymarket_credentials={"secret_id": "i", "secret_key": "k"},
        )
        yield boto3.client("dynamodb"), resources.tables["ContactStateTable"]


def test_a_fact_learned_by_one_execution_environment_is_read_by_another(tables: tuple[Any, str]) -> None:
    dynamodb, name = tables

    assert DynamoDbLearnedBehaviour(name, dynamodb).learn(KEEP) is None

    assert DynamoDbLearnedBehaviour(name, dynamodb).read() == {"omitted": KEEP}


def test_learning_another_value_is_refused_with_the_fact_the_stack_holds(tables: tuple[Any, str]) -> None:
    dynamodb, name = tables
    store = DynamoDbLearnedBehaviour(name, dynamodb)
    store.learn(KEEP)

    held = store.learn(LearnedFact("omitted", "clear", "an update that left out email answered with email gone", NOW))

    assert held == KEEP
    assert store.learn(KEEP) is None  # the same value again: nothing to refuse


def test_a_contradiction_unlearns_the_fact_once_and_records_it(tables: tuple[Any, str]) -> None:
    dynamodb, name = tables
    store = DynamoDbLearnedBehaviour(name, dynamodb)
    store.learn(KEEP)

    first = store.unlearn("omitted", "keep", "first, email gone", NOW + 1)
    second = store.unlearn("omitted", "keep", "again", NOW + 2)

    assert (first, second) == (True, False)
    assert store.read() == {}
    item = dynamodb.get_item(TableName=name, Key={"phone": {"S": BEHAVIOUR_KEY}})["Item"]
    assert item["contradicted_omitted"]["M"]["evidence"]["S"] == "first, email gone"


def test_the_item_is_no_phone_the_contact_state_reads(tables: tuple[Any, str]) -> None:
    dynamodb, name = tables
    DynamoDbLearnedBehaviour(name, dynamodb).learn(KEEP)

    assert DynamoDbContactState(name, dynamodb).read(["15105551234"]).entries == {}


def test_a_table_that_does_not_answer_is_state_unavailable() -> None:
    with mock_aws():
        store = DynamoDbLearnedBehaviour("missing", boto3.client("dynamodb"))
        with pytest.raises(StateUnavailable):
            store.read()
