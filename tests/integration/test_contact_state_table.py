"""The contact state table adapter (heymarket_bridge.adapters.aws.contact_state) against moto, on the table the template
declares (created by the local stack's provision, so the tests cannot drift from what is deployed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from heymarket_bridge.adapters.aws.contact_state import DynamoDbContactState
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import Advance, Binding, Claim, ContactState, Identity, Lease, Release, Wait
from heymarket_local.template import TABLE_TYPE, StackTemplate

ANN, BOB = "15105551234", "15105550000"
NOW = 1_795_424_400_000


@pytest.fixture
def aws() -> Iterator[tuple[Any, dict[str, str]]]:
    with mock_aws():
        template = StackTemplate.load()
        resources = template.provision(
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            webhook_secrets={"generic": "t"},
            heymarket_credentials={"secret_id": "i", "secret_key": "k"},
        )
        yield boto3.client("dynamodb"), dict(resources.tables)


@pytest.fixture
def table(aws: tuple[Any, dict[str, str]]) -> DynamoDbContactState:
    dynamodb, tables = aws
    return DynamoDbContactState(tables["ContactStateTable"], dynamodb, sleep=lambda _: None)


def lease(token: str = "a", until_ms: int = NOW + 90_000) -> Lease:
    return Lease(token, until_ms)


def claimed(table: DynamoDbContactState, phone: str = ANN, token: str = "a") -> ContactState:
    assert table.write([Claim(phone, None, lease(token))], NOW).written == {phone}
    return table.read([phone]).entries[phone]


def test_the_local_stack_creates_every_table_the_template_declares_with_its_key_and_ttl(
    aws: tuple[Any, dict[str, str]],
) -> None:
    dynamodb, tables = aws
    declared = {
        logical_id: resource["Properties"]
        for logical_id, resource in StackTemplate.load().document["Resources"].items()
        if resource["Type"] == TABLE_TYPE
    }

    assert sorted(tables) == sorted(declared)
    assert "ContactStateTable" in tables
    for logical_id, properties in declared.items():
        described = dynamodb.describe_table(TableName=tables[logical_id])["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=tables[logical_id])["TimeToLiveDescription"]
        assert described["KeySchema"] == properties["KeySchema"]
        if "TimeToLiveSpecification" in properties:
            assert ttl["AttributeName"] == properties["TimeToLiveSpecification"]["AttributeName"]
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_phones_never_seen_have_no_entry(table: DynamoDbContactState) -> None:
    read = table.read([ANN, BOB])

    assert (read.entries, read.void_ms) == ({}, 0)


def test_a_claim_of_a_phone_without_an_entry_takes_its_lease(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    assert (entry.lease, entry.rev) == (lease(), 1)


def test_a_second_claim_of_the_same_entry_is_refused_with_the_entry_as_it_now_is(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    result = table.write([Claim(ANN, None, lease("b")), Claim(BOB, None, lease("b"))], NOW)

    assert result.written == {BOB}
    assert result.refused == {ANN: entry}


def test_a_claim_sent_again_after_its_answer_was_lost_is_written_not_refused(table: DynamoDbContactState) -> None:
    # Given claims that landed, their answer lost (a read timeout botocore retries with the same request)
    entry = table.read([BOB]).entries.get(BOB)
    assert table.write([Claim(ANN, None, lease()), Claim(BOB, entry, lease())], NOW).written == {ANN, BOB}

    # When the same claims are sent again
    result = table.write([Claim(ANN, None, lease()), Claim(BOB, entry, lease())], NOW)

    # Then they count as written (the leases are this invocation's), not as refused by a lease of another
    assert (result.written, result.refused) == ({ANN, BOB}, {})


# ---------------------------------------------------------------------- one phone: a plain conditional write (cost)


class CountingClient:
    """The moto client, counting the calls by operation; `failing` codes are raised first by update_item."""

    def __init__(self, client: Any, failing: list[str] | None = None) -> None:
        self._client = client
        self.calls: list[str] = []
        self.failing = failing or []

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            if name == "update_item" and self.failing:
                code = self.failing.pop(0)
                raise ClientError({"Error": {"Code": code, "Message": code}}, "UpdateItem")
            return getattr(self._client, name)(**kwargs)

        return call


@pytest.fixture
def counted(aws: tuple[Any, dict[str, str]]) -> tuple[DynamoDbContactState, CountingClient]:
    dynamodb, tables = aws
    client = CountingClient(dynamodb)
    return DynamoDbContactState(tables["ContactStateTable"], client, sleep=lambda _: None), client


def test_one_phones_claim_and_release_are_plain_conditional_updates_not_transactions(
    counted: tuple[DynamoDbContactState, CountingClient],
) -> None:
    table, client = counted

    entry = claimed(table)
    released = table.release([Release(ANN, "a", None)])

    assert (entry.lease, released) == (lease(), {ANN})
    assert client.calls.count("transact_write_items") == 0
    assert client.calls.count("update_item") == 2


def test_one_phones_claim_meeting_a_lease_is_refused_with_the_entry_as_it_now_is(
    counted: tuple[DynamoDbContactState, CountingClient],
) -> None:
    table, _ = counted
    entry = claimed(table)

    result = table.write([Claim(ANN, entry, lease("b"))], NOW)

    assert (result.written, result.refused) == (frozenset(), {ANN: entry})


def test_one_phones_claim_sent_again_after_its_answer_was_lost_is_written_not_refused(
    table: DynamoDbContactState,
) -> None:
    assert table.write([Claim(ANN, None, lease())], NOW).written == {ANN}

    result = table.write([Claim(ANN, None, lease())], NOW)

    assert (result.written, result.refused) == ({ANN}, {})


def test_one_phones_write_met_by_a_transaction_or_throttling_is_tried_again_then_left_unwritten(
    counted: tuple[DynamoDbContactState, CountingClient],
) -> None:
    table, client = counted
    client.failing = ["TransactionConflictException", "ThrottlingException"]

    assert table.write([Claim(ANN, None, lease())], NOW).written == {ANN}

    client.failing = ["ProvisionedThroughputExceededException"] * 3
    result = table.write([Claim(BOB, None, lease())], NOW)
    assert (result.written, result.refused) == (frozenset(), {})
    assert BOB not in table.read([BOB]).entries


def test_one_phones_write_failing_otherwise_is_unavailable(
    counted: tuple[DynamoDbContactState, CountingClient],
) -> None:
    table, client = counted
    client.failing = ["ValidationException"]

    with pytest.raises(StateUnavailable):
        table.write([Claim(ANN, None, lease())], NOW)


def test_a_claim_meeting_the_same_token_with_another_expiry_is_refused(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    result = table.write([Claim(ANN, None, lease("a", NOW + 1))], NOW)

    assert result.refused == {ANN: entry}


def test_a_live_lease_refuses_a_claim_even_of_the_entry_as_it_is(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    result = table.write([Claim(ANN, entry, lease("b"))], NOW)

    assert result.refused == {ANN: entry}


def test_an_expired_lease_is_taken_over(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    result = table.write([Claim(ANN, entry, lease("b", NOW + 500_000))], NOW + 100_000)

    assert result.written == {ANN}
    assert table.read([ANN]).entries[ANN].lease == lease("b", NOW + 500_000)


def test_an_advance_of_an_entry_that_changed_since_it_was_read_is_refused(table: DynamoDbContactState) -> None:
    entry = claimed(table)
    table.release([Release(ANN, "a", ContactState(ANN, applied_ms=NOW))])

    result = table.write([Advance(ANN, entry, NOW + 5)], NOW)

    assert list(result.refused) == [ANN]
    assert table.read([ANN]).entries[ANN].applied_ms == NOW


def test_a_wait_marks_a_leased_entry_and_the_release_of_the_lease_keeps_the_mark(table: DynamoDbContactState) -> None:
    entry = claimed(table)

    result = table.write([Wait(ANN, entry, NOW + 7, NOW + 900_000)], NOW)
    table.release([Release(ANN, "a", ContactState(ANN, applied_ms=NOW))])

    assert result.written == {ANN}
    marked = table.read([ANN]).entries[ANN]
    assert (marked.waiting_rank, marked.waiting_until_ms, marked.applied_ms) == (NOW + 7, NOW + 900_000, NOW)
    assert table.write([Wait(ANN, entry, NOW + 8, NOW + 900_000)], NOW).refused.keys() == {ANN}  # changed since


def test_a_release_records_the_outcome_and_the_entry_reads_back_the_same(table: DynamoDbContactState) -> None:
    claimed(table)
    stored = ContactState(
        ANN,
        applied_ms=NOW,
        identity=Identity(98765, "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"),
        snapshot=Contact(ANN, first="Zoë", custom={"101": "North"}, tags=(3,), is_opted_out=True),
        digests={"first": "ab12", "custom.101": "cd34"},
        confirmed_ms=NOW - 10,
    )

    released = table.release([Release(ANN, "a", stored)])

    assert released == {ANN}
    assert table.read([ANN]).entries[ANN] == ContactState(**{**stored.__dict__, "rev": 2})


def test_a_tombstone_keeps_its_time_and_expiry_and_forgets_the_contact(table: DynamoDbContactState) -> None:
    claimed(table)
    table.release([Release(ANN, "a", ContactState(ANN, applied_ms=NOW, identity=Identity(1, "u"), digests={"x": "y"}))])
    table.write([Claim(ANN, table.read([ANN]).entries[ANN], lease("b"))], NOW)

    table.release([Release(ANN, "b", ContactState(ANN, applied_ms=NOW + 1, deleted=True, expires_s=1_800_000_000))])

    entry = table.read([ANN]).entries[ANN]
    assert (entry.deleted, entry.applied_ms, entry.expires_s) == (True, NOW + 1, 1_800_000_000)
    assert (entry.identity, entry.digests, entry.lease) == (None, {}, None)


def test_a_release_by_a_lease_no_longer_held_changes_nothing(table: DynamoDbContactState) -> None:
    entry = claimed(table)
    table.write([Claim(ANN, entry, lease("b", NOW + 500_000))], NOW + 100_000)  # a's lease expired; b took it

    released = table.release([Release(ANN, "a", ContactState(ANN, applied_ms=NOW))])

    assert released == frozenset()
    assert table.read([ANN]).entries[ANN].lease == lease("b", NOW + 500_000)


def test_a_release_without_an_outcome_only_ends_the_lease(table: DynamoDbContactState) -> None:
    claimed(table)
    table.release([Release(ANN, "a", ContactState(ANN, applied_ms=NOW, digests={"first": "ab12"}))])
    table.write([Claim(ANN, table.read([ANN]).entries[ANN], lease("b"))], NOW)

    table.release([Release(ANN, "b", None)])

    entry = table.read([ANN]).entries[ANN]
    assert (entry.applied_ms, entry.digests, entry.lease) == (NOW, {"first": "ab12"}, None)


def test_a_delete_by_id_is_recorded_at_its_latest_time(table: DynamoDbContactState) -> None:
    table.void(NOW + 10)
    table.void(NOW)

    assert table.read([]).void_ms == NOW + 10


def test_more_than_a_transaction_holds_is_written_in_several_and_read_in_batches_of_100(
    table: DynamoDbContactState,
) -> None:
    phones = [f"1415201{n:04d}" for n in range(150)]

    result = table.write([Claim(phone, None, lease()) for phone in phones], NOW)

    assert result.written == frozenset(phones)
    assert sorted(table.read(phones).entries) == sorted(phones)
    assert (table.items_written, table.items_read) == (150, 151)  # the meta item is read with them


def test_a_table_that_does_not_answer_is_unavailable_for_reads_and_writes_and_releases_nothing(
    aws: tuple[Any, dict[str, str]],
) -> None:
    dynamodb, _ = aws
    missing = DynamoDbContactState("no-such-table", dynamodb, sleep=lambda _: None)

    with pytest.raises(StateUnavailable):
        missing.read([ANN])
    with pytest.raises(StateUnavailable):
        missing.write([Claim(ANN, None, lease())], NOW)
    with pytest.raises(StateUnavailable):
        missing.void(NOW)
    assert missing.release([Release(ANN, "a", None)]) == frozenset()


def test_a_release_held_after_a_request_whose_outcome_is_unknown_keeps_the_lease_until_then(
    table: DynamoDbContactState,
) -> None:
    entry = claimed(table)

    released = table.release([Release(ANN, "a", None, hold_until_ms=NOW + 30_000)])

    after = table.read([ANN]).entries[ANN]
    assert released == {ANN}
    assert (after.lease, after.applied_ms, after.rev) == (lease("a", NOW + 30_000), entry.applied_ms, entry.rev + 1)
    assert table.write([Claim(ANN, after, lease("b"))], NOW + 10_000).refused == {ANN: after}
    assert table.write([Claim(ANN, after, lease("b"))], NOW + 30_001).written == {ANN}


# ---------------------------------------------------------------------- bindings follow the person (issue 22)

ANN_CONTACT = Identity(98765, "a1b2c3d4-0000-4000-8000-000000000001")


def stored(table: DynamoDbContactState, phone: str, identity: Identity) -> None:
    """The phone's entry after Heymarket stored `identity` for it (claimed, then released with that outcome)."""
    current = table.read([phone]).entries.get(phone)
    assert table.write([Claim(phone, current, lease())], NOW).written == {phone}
    state = ContactState(phone, applied_ms=NOW, identity=identity, snapshot=Contact(phone=phone, first="Ann"))
    assert table.release([Release(phone, "a", state)]) == {phone}


def test_binding_a_contact_to_a_new_phone_releases_the_phone_it_was_bound_to(table: DynamoDbContactState) -> None:
    # Given Ann's contact stored for her first number, and bound to it
    stored(table, ANN, ANN_CONTACT)
    assert table.bind([Binding(ANN, ANN_CONTACT)]) == frozenset()

    # When her contact is stored for another number (a contact_id update, or a look-up of a number changed in
    # Heymarket's app) and bound to it
    stored(table, BOB, ANN_CONTACT)
    released = table.bind([Binding(BOB, ANN_CONTACT)])

    # Then her old number's entry knows no contact any more; its time is kept
    assert released == {ANN}
    entry = table.read([ANN]).entries[ANN]
    assert (entry.identity, entry.snapshot, entry.digests, entry.applied_ms) == (None, None, {}, NOW)


def test_binding_leaves_alone_an_old_phone_bound_to_another_contact_since(table: DynamoDbContactState) -> None:
    stored(table, ANN, ANN_CONTACT)
    table.bind([Binding(ANN, ANN_CONTACT)])
    zoe = Identity(98766, "a1b2c3d4-0000-4000-8000-000000000002")
    stored(table, ANN, zoe)  # the old number's next owner, stored before the binding moved

    released = table.bind([Binding(BOB, ANN_CONTACT)])

    assert released == frozenset()
    assert table.read([ANN]).entries[ANN].identity == zoe


def test_a_binding_by_integer_id_only_releases_the_old_phone_too(table: DynamoDbContactState) -> None:
    integer_only = Identity(98767, None)
    stored(table, ANN, integer_only)
    table.bind([Binding(ANN, integer_only)])
    stored(table, BOB, integer_only)

    assert table.bind([Binding(BOB, integer_only)]) == {ANN}
    assert table.read([ANN]).entries[ANN].identity is None


def test_the_binding_items_are_not_read_as_phones(table: DynamoDbContactState) -> None:
    stored(table, ANN, ANN_CONTACT)
    table.bind([Binding(ANN, ANN_CONTACT)])

    assert set(table.read([ANN]).entries) == {ANN}
