"""The ingest's delivery ledger and newest-contact records over DynamoDB (moto, the table as template.yaml defines it):
what each writes per webhook, since DynamoDB bills every write (issue 24: one ledger write per webhook)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from heymarket_bridge.adapters.aws.deliveries import DynamoDbDeliveryLedger, DynamoDbRecentContacts
from heymarket_bridge.ingest.failures import DeliveryKeyConflict, DeliveryLedgerUnavailable
from heymarket_bridge.ingest.repeats import PhoneClaim
from heymarket_local.template import StackTemplate

TABLE = "IdempotencyTable"
NOW = 1_800_000_000.0


class CountingClient:
    """A DynamoDB client that counts its calls by operation (and can fail one operation)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: Counter[str] = Counter()
        self.failing: str | None = None

    def __getattr__(self, operation: str) -> Any:
        call = getattr(self._client, operation)

        def counted(**kwargs: Any) -> Any:
            self.calls[operation] += 1
            if operation == self.failing:
                raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
            return call(**kwargs)

        return counted


@pytest.fixture
def client() -> Iterator[CountingClient]:
    properties = StackTemplate.load().document["Resources"][TABLE]["Properties"]
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties["BillingMode"],
        )
        yield CountingClient(dynamodb)


def ledger(client: CountingClient, now: float = NOW) -> DynamoDbDeliveryLedger:
    return DynamoDbDeliveryLedger(TABLE, client, retention_s=3600, clock=lambda: now)


def test_a_first_delivery_is_read_once_and_written_once(client: CountingClient) -> None:
    answer, first = ledger(client).once("hubspot\n42", "body", lambda: {"accepted": 1})

    assert (answer, first) == ({"accepted": 1}, True)
    assert client.calls == Counter({"get_item": 1, "put_item": 1})


def test_a_repeat_gets_the_first_answer_back_without_running_or_writing_anything(client: CountingClient) -> None:
    ledger(client).once("hubspot\n42", "body", lambda: {"accepted": 1})
    client.calls.clear()
    ran: list[bool] = []

    answer, first = ledger(client).once("hubspot\n42", "body", lambda: ran.append(True) or {"accepted": 9})

    assert (answer, first, ran) == ({"accepted": 1}, False, [])
    assert client.calls == Counter({"get_item": 1})


def test_the_same_key_with_another_content_is_a_conflict(client: CountingClient) -> None:
    ledger(client).once("generic\nkey-1", "body one", lambda: {"accepted": 1})

    with pytest.raises(DeliveryKeyConflict):
        ledger(client).once("generic\nkey-1", "body two", lambda: {"accepted": 1})


def test_an_expired_answer_is_read_as_absent_and_replaced(client: CountingClient) -> None:
    ledger(client).once("typeform\nevt", "body", lambda: {"accepted": 1})

    later = ledger(client, now=NOW + 3601)
    assert later.once("typeform\nevt", "body", lambda: {"accepted": 2}) == ({"accepted": 2}, True)
    assert later.once("typeform\nevt", "body", lambda: {"accepted": 3}) == ({"accepted": 2}, False)


def test_of_two_first_deliveries_at_once_the_first_answer_written_is_kept(client: CountingClient) -> None:
    book = ledger(client)

    def meanwhile() -> dict[str, Any]:
        # The same delivery, handled by another invocation while this one does its work.
        assert book.once("hubspot\n7", "body", lambda: {"accepted": 1, "by": "other"})[1] is True
        return {"accepted": 1, "by": "this"}

    assert book.once("hubspot\n7", "body", meanwhile) == ({"accepted": 1, "by": "this"}, True)
    assert book.once("hubspot\n7", "body", lambda: {}) == ({"accepted": 1, "by": "other"}, False)


def test_an_unreadable_table_refuses_before_any_work(client: CountingClient) -> None:
    client.failing = "get_item"
    ran: list[bool] = []

    with pytest.raises(DeliveryLedgerUnavailable):
        ledger(client).once("hubspot\n1", "body", lambda: ran.append(True) or {})
    assert ran == []


def test_an_answer_that_cannot_be_written_after_the_work_is_logged_not_raised(
    client: CountingClient, caplog: pytest.LogCaptureFixture
) -> None:
    client.failing = "put_item"

    assert ledger(client).once("hubspot\n1", "body", lambda: {"accepted": 1}) == ({"accepted": 1}, True)
    assert [r.getMessage() for r in caplog.records] == ["Delivery answer not remembered"]


def test_one_phone_is_claimed_and_confirmed_with_plain_conditional_writes_not_transactions(
    client: CountingClient,
) -> None:
    recent = DynamoDbRecentContacts(TABLE, client, clock=lambda: NOW)

    [version] = recent.claim([PhoneClaim("+15105551234", None, "fingerprint", 5)])
    assert version is not None
    assert recent.confirm({"+15105551234": version}) == 1
    # A claim made from a stale read is refused, as in a transaction.
    assert recent.claim([PhoneClaim("+15105551234", None, "other", 6)]) == [None]

    assert client.calls == Counter({"put_item": 2, "update_item": 1})


def test_several_phones_are_claimed_in_one_transaction(client: CountingClient) -> None:
    recent = DynamoDbRecentContacts(TABLE, client, clock=lambda: NOW)

    versions = recent.claim([PhoneClaim(phone, None, "f", 5) for phone in ("+15105551234", "+14155550100")])

    assert None not in versions
    assert client.calls == Counter({"transact_write_items": 1})
