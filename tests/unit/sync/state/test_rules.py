"""The contact state's rules (heymarket_bridge.sync.state.rules): operation times, digests, supersession, unchanged
contacts, and the entry left after a contact was stored."""

from __future__ import annotations

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, DeleteOperation, DeleteTarget, Operation
from heymarket_bridge.sync.model import ContactState, Identity
from heymarket_bridge.sync.state.rules import (
    field_digests,
    operation_ms,
    operation_rank,
    stored_state,
    superseded,
    surviving_opt_out,
    tombstone,
    unchanged,
)

ANN = "15105551234"
NINE = 1_795_424_400_000  # 2026-11-23T09:00:00Z in epoch milliseconds


def upsert(received_at: str, occurred_at: str | None = None, *, force: bool = False, **fields: str) -> ContactOperation:
    contact = Contact(phone=ANN, **fields)
    return ContactOperation(
        Operation.UPSERT, contact, "shopify", received_at, "c", occurred_at=occurred_at, force=force
    )


def test_an_operations_time_is_when_the_bridge_received_it() -> None:
    assert operation_ms(upsert("2026-11-23T09:00:00.250+00:00")) == NINE + 250


def test_an_operations_time_is_the_sources_event_time_when_it_gives_one() -> None:
    assert operation_ms(upsert("2026-11-23T09:00:05.000+00:00", "2026-11-23T08:59:00.000+00:00")) == NINE - 60_000


def test_an_event_time_later_than_when_the_bridge_received_it_counts_as_received_then() -> None:
    # A sender's clock running fast must not let its operations win over everyone else's
    assert operation_ms(upsert("2026-11-23T09:00:00.000+00:00", "2026-11-23T10:00:00.000+00:00")) == NINE


def test_a_time_that_cannot_be_read_is_the_oldest_of_all() -> None:
    assert operation_ms(upsert("yesterday")) == 0


def test_a_delete_has_a_time_too() -> None:
    delete = DeleteOperation(DeleteTarget(phone=ANN), "generic", "2026-11-23T09:00:00.000+00:00", "c")
    assert operation_ms(delete) == NINE


def test_an_operation_older_than_the_newest_applied_is_superseded_unless_forced() -> None:
    applied = upsert("2026-11-23T09:00:00.000+00:00")
    entry = ContactState(ANN, applied_ms=operation_rank(applied))
    older = "2026-11-23T08:59:59.999+00:00"

    assert superseded(upsert(older), entry)
    assert not superseded(upsert(older, force=True), entry)
    assert not superseded(applied, entry)  # the same operation again
    assert not superseded(upsert(older), None)


def _opting_out(**fields: str) -> ContactOperation:
    contact = Contact(phone=ANN, is_opted_out=True, **fields)  # type: ignore[arg-type]
    return ContactOperation(Operation.UPSERT, contact, "generic", "2026-11-23T08:59:00.000+00:00", "c")


def test_a_superseded_operations_opt_out_survives_alone() -> None:
    # Given a newer change applied; When an older operation carrying an opt-out and a name is decided
    entry = ContactState(ANN, applied_ms=NINE * 1_000_000)
    survivor = surviving_opt_out(_opting_out(last="Lee"), entry)

    # Then its opt-out alone still applies (the superseded rule is per field for consent), with its own ids
    assert survivor is not None
    assert survivor.contact == Contact(phone=ANN, is_opted_out=True)
    assert survivor.correlation_id == "c"


def test_a_superseded_operation_without_an_opt_out_leaves_nothing() -> None:
    entry = ContactState(ANN, applied_ms=NINE * 1_000_000)
    opting_in = ContactOperation(
        Operation.UPSERT, Contact(phone=ANN, is_opted_out=False), "generic", "2026-11-23T08:59:00.000+00:00", "c"
    )

    assert surviving_opt_out(upsert("2026-11-23T08:59:00.000+00:00", last="Lee"), entry) is None
    assert surviving_opt_out(opting_in, entry) is None


def test_an_opt_out_older_than_a_delete_applied_since_leaves_nothing() -> None:
    # An opt-out alone over a deleted contact would create a contact with nothing but a phone
    assert surviving_opt_out(_opting_out(), tombstone(None, ANN, NINE * 1_000_000, 0)) is None


def test_operations_with_the_same_event_time_are_ordered_as_the_bridge_received_them() -> None:
    # Shopify's updated_at is in whole seconds: a consent change within the same second as the update before it
    event = "2026-11-23T08:59:58.000+00:00"
    first = upsert("2026-11-23T09:00:01.000+00:00", event)
    second = upsert("2026-11-23T09:00:02.000+00:00", event)

    assert superseded(first, ContactState(ANN, applied_ms=operation_rank(second)))
    assert not superseded(second, ContactState(ANN, applied_ms=operation_rank(first)))


def test_digests_are_per_field_and_per_custom_key_and_leave_the_phone_and_contact_id_out() -> None:
    digests = field_digests(
        Contact(
            ANN, first="Ann", custom={"101": "North", "102": "web"}, contact_id="0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"
        )
    )

    assert sorted(digests) == ["custom.101", "custom.102", "first"]
    assert digests["custom.101"] != digests["custom.102"]


def confirmed(contact: Contact, **state: object) -> ContactState:
    return ContactState(ANN, applied_ms=NINE, digests=field_digests(contact), confirmed_ms=NINE, **state)


def test_a_contact_is_unchanged_when_each_field_it_carries_equals_the_one_last_confirmed() -> None:
    entry = confirmed(Contact(ANN, first="Ann", last="Lee", custom={"101": "North"}))

    assert unchanged(Contact(ANN, first="Ann"), entry, void_ms=0)
    assert unchanged(Contact(ANN, custom={"101": "North"}), entry, void_ms=0)
    assert not unchanged(Contact(ANN, first="Anna"), entry, void_ms=0)
    assert not unchanged(Contact(ANN, first="Ann", email="ann@example.com"), entry, void_ms=0)


def test_a_contact_deleted_or_confirmed_before_a_delete_by_id_is_never_unchanged() -> None:
    contact = Contact(ANN, first="Ann")

    assert not unchanged(contact, confirmed(contact, deleted=True), void_ms=0)
    assert not unchanged(contact, confirmed(contact), void_ms=NINE + 1)
    assert not unchanged(contact, None, void_ms=0)


def test_a_contact_naming_another_contact_id_than_the_one_known_is_not_unchanged() -> None:
    entry = confirmed(Contact(ANN, first="Ann"), identity=Identity(1, "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"))

    assert not unchanged(Contact(ANN, first="Ann", contact_id="6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60"), entry, 0)


def test_an_update_of_the_same_contact_adds_its_digests_to_those_confirmed_before() -> None:
    before = confirmed(Contact(ANN, first="Ann"), identity=Identity(7, "u-7"))

    after = stored_state(
        before, Contact(ANN, last="Lee"), Identity(7, "u-7"), None, existed=True, applied_ms=NINE + 1,
        confirmed_ms=NINE + 1, void_ms=0,
    )  # fmt: skip

    assert after.digests == field_digests(Contact(ANN, first="Ann", last="Lee"))
    assert (after.applied_ms, after.identity) == (NINE + 1, Identity(7, "u-7"))


def test_a_create_or_another_contact_starts_its_digests_afresh() -> None:
    before = confirmed(Contact(ANN, first="Ann"), identity=Identity(7, "u-7"))

    created = stored_state(
        before, Contact(ANN, last="Lee"), Identity(8, "u-8"), None, existed=False, applied_ms=NINE, confirmed_ms=NINE,
        void_ms=0,
    )  # fmt: skip

    assert created.digests == field_digests(Contact(ANN, last="Lee"))


def test_the_snapshot_is_the_answers_else_the_last_one_with_the_fields_just_sent() -> None:
    before = confirmed(
        Contact(ANN, first="Ann"), identity=Identity(7, None), snapshot=Contact(ANN, first="Ann", custom={"1": "a"})
    )

    shown = Contact(ANN, first="Ann", last="Lee", is_opted_out=False)
    from_answer = stored_state(
        before, Contact(ANN, last="Lee"), Identity(7, "u-7"), shown, existed=True, applied_ms=NINE, confirmed_ms=NINE,
        void_ms=0,
    )  # fmt: skip
    from_v1 = stored_state(
        before, Contact(ANN, custom={"2": "b"}), Identity(7, "u-7"), None, existed=True, applied_ms=NINE,
        confirmed_ms=NINE, void_ms=0,
    )  # fmt: skip

    assert from_answer.snapshot == shown
    assert from_v1.snapshot == Contact(ANN, first="Ann", custom={"1": "a", "2": "b"})


def test_a_uuid_learned_before_is_kept_when_the_answer_gives_the_integer_id_only() -> None:
    before = confirmed(Contact(ANN, first="Ann"), identity=Identity(7, "u-7"))

    after = stored_state(
        before, Contact(ANN, last="Lee"), Identity(7, None), None, existed=True, applied_ms=NINE, confirmed_ms=NINE,
        void_ms=0,
    )  # fmt: skip

    assert after.identity == Identity(7, "u-7")


def test_a_tombstone_keeps_the_newest_time_and_nothing_of_the_contact() -> None:
    before = confirmed(Contact(ANN, first="Ann"), identity=Identity(7, "u-7"))

    gone = tombstone(before, ANN, NINE - 5, expires_s=1_800_000_000)

    assert gone == ContactState(ANN, applied_ms=NINE, deleted=True, expires_s=1_800_000_000)
    assert gone.known() is None
