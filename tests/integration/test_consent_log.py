"""The consent record in (moto) DynamoDB: what is written, what is not written twice, how it is exported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from heymarket_bridge.adapters.aws.consent_log import DynamoDbConsentLog, read_changes
from heymarket_bridge.domain.consent import ConsentAction, ConsentChange
from heymarket_bridge.domain.failures import ConsentRecordUnavailable
from heymarket_bridge.sync.consent_record import OPTED_BACK_IN
from heymarket_local.moto_dynamodb import item_scoped_transactions
from heymarket_local.template import StackTemplate

NOW = 1_795_424_700.0
ANN, BOB = "15105550123", "15105550177"


def change(phone: str = ANN, opted_out: bool = True, action: ConsentAction = ConsentAction.APPLIED, n: int = 1) -> Any:
    return ConsentChange(
        phone=phone,
        source="shopify",
        delivery_id=f"req-{n}",
        event_id=f"op-{n}",
        field="sms_marketing_consent.state",
        value="unsubscribed" if opted_out else "subscribed",
        opted_out=opted_out,
        occurred_at="2026-11-23T08:59:00.000+00:00",
        received_at="2026-11-23T09:00:00.000+00:00",
        recorded_at=f"2026-11-23T09:00:{n:02d}.000+00:00",
        action=action,
        reason="the contact ends as the source said",
    )


@pytest.fixture
def table() -> Iterator[tuple[Any, str]]:
    """The template's ConsentRecordTable, made as the local stack makes it."""
    item_scoped_transactions()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        tables = StackTemplate.load()._create_tables(client, "test")
        yield client, tables["ConsentRecordTable"]


def test_a_change_is_written_with_every_field_as_given(table: tuple[Any, str]) -> None:
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)

    written = log.record([change()])

    assert written == 1
    assert list(read_changes(client, name, ANN)) == [change().to_dict()]


def test_a_delivery_repeating_the_same_state_is_not_written_again(table: tuple[Any, str]) -> None:
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)
    log.record([change(n=1)])

    written = log.record([change(n=2), change(n=3)])

    assert written == 0
    assert [row["delivery_id"] for row in read_changes(client, name, ANN)] == ["req-1"]


def test_a_change_that_turned_over_heymarkets_state_is_written_though_the_source_said_the_same_before(
    table: tuple[Any, str],
) -> None:
    # Given Shopify's subscription on record; then a STOP texted to Heymarket (not through the bridge)
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)
    log.record([change(opted_out=False, n=1)])

    # When Shopify's re-consent opts the person back in over that STOP
    again = replace(change(opted_out=False, n=2), reason=OPTED_BACK_IN)
    written = log.record([again])

    # Then it is on record: the same state as the source's last, but a change of the person's consent
    assert written == 1
    assert [row["delivery_id"] for row in read_changes(client, name, ANN)] == ["req-1", "req-2"]


def test_each_change_of_state_or_of_what_the_bridge_did_is_written(table: tuple[Any, str]) -> None:
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)

    log.record([change(n=1), change(opted_out=False, action=ConsentAction.HELD_BACK, n=2)])
    log.record([change(opted_out=False, action=ConsentAction.APPLIED, n=3), change(n=4)])

    assert [(row["opted_out"], row["action"]) for row in read_changes(client, name, ANN)] == [
        (True, "applied"),
        (False, "held back"),
        (False, "applied"),
        (True, "applied"),
    ]


def expiries(client: Any, name: str) -> dict[str, int | None]:
    items = client.scan(TableName=name)["Items"]
    return {item["entry"]["S"]: int(item["expires"]["N"]) if "expires" in item else None for item in items}


def test_the_latest_change_never_expires_while_it_is_the_latest(table: tuple[Any, str]) -> None:
    # Given a subscription recorded, still the state on record years later (the proof a text relies on)
    client, name = table
    DynamoDbConsentLog(name, client, retention_days=1827, clock=lambda: NOW).record([change(opted_out=False)])

    # Then neither it nor the latest item carries an expiry
    assert set(expiries(client, name).values()) == {None}


def test_a_replaced_change_expires_the_retention_period_after_it_stopped_being_the_latest(
    table: tuple[Any, str],
) -> None:
    # Given a subscription recorded, then replaced by an opt-out six years later
    client, name = table
    DynamoDbConsentLog(name, client, retention_days=1827, clock=lambda: NOW).record([change(opted_out=False, n=1)])
    later = NOW + 6 * 365 * 86_400
    DynamoDbConsentLog(name, client, retention_days=1827, clock=lambda: later).record([change(opted_out=True, n=2)])

    # Then the subscription is kept 1827 days from its replacement, and the opt-out, now the latest, never expires
    found = expiries(client, name)
    assert found == {
        "2026-11-23T09:00:01.000+00:00#shopify#op-1": int(later) + 1827 * 86_400,
        "2026-11-23T09:00:02.000+00:00#shopify#op-2": None,
        "latest#shopify": None,
    }


def test_a_change_already_written_is_never_rewritten(table: tuple[Any, str]) -> None:
    # Given a change on record
    client, name = table
    DynamoDbConsentLog(name, client, clock=lambda: NOW).record([change(n=1)])
    client.delete_item(TableName=name, Key={"phone": {"S": ANN}, "entry": {"S": "latest#shopify"}})

    # When the same entry is written again with other values (a retry, a change of the same id and time)
    DynamoDbConsentLog(name, client, clock=lambda: NOW).record([replace(change(n=1), value="tampered")])

    # Then the entry keeps what was first written
    assert [row["value"] for row in read_changes(client, name, ANN)] == ["unsubscribed"]


def test_a_change_recorded_twice_by_a_retry_is_kept_once(table: tuple[Any, str]) -> None:
    client, name = table
    DynamoDbConsentLog(name, client, clock=lambda: NOW).record([change()])
    client.delete_item(TableName=name, Key={"phone": {"S": ANN}, "entry": {"S": "latest#shopify"}})

    written = DynamoDbConsentLog(name, client, clock=lambda: NOW).record([change()])

    assert written == 1  # counted, as the state on record was unknown
    assert len(list(read_changes(client, name, ANN))) == 1


def test_an_unreachable_table_raises_the_records_own_error(table: tuple[Any, str]) -> None:
    client, _ = table

    with pytest.raises(ConsentRecordUnavailable):
        DynamoDbConsentLog("no-such-table", client).record([change()])


def test_all_phones_are_exported_phone_by_phone_each_in_the_order_recorded(table: tuple[Any, str]) -> None:
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)
    log.record([change(BOB, n=1), change(ANN, n=2), change(BOB, opted_out=False, n=3)])

    rows = list(read_changes(client, name))

    assert [(row["phone"], row["delivery_id"]) for row in rows] == [(ANN, "req-2"), (BOB, "req-1"), (BOB, "req-3")]


def test_a_failed_write_of_one_change_is_not_half_written(table: tuple[Any, str], monkeypatch: Any) -> None:
    client, name = table
    log = DynamoDbConsentLog(name, client, clock=lambda: NOW)

    def refused(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "TransactWriteItems")

    monkeypatch.setattr(client, "transact_write_items", refused)

    with pytest.raises(ConsentRecordUnavailable):
        log.record([replace(change(), event_id="op-9")])
    assert client.scan(TableName=name)["Items"] == []
