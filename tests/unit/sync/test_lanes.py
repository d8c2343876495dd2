"""A batch's upserts and deletes become lanes that keep, per contact, the order they were received in."""

from __future__ import annotations

from typing import Any

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, DeleteOperation, DeleteTarget, Operation
from heymarket_bridge.sync.lanes import Lane, merge_contacts, plan_lanes

ANN = "15105551234"
BOB = "15105550000"
ANN_ID = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"


def upsert(phone: str, **fields: Any) -> ContactOperation:
    return ContactOperation(Operation.UPSERT, Contact(phone=phone, **fields), "generic", "t", "corr")


def delete(*, phone: str | None = None, contact_id: str | None = None) -> DeleteOperation:
    return DeleteOperation(DeleteTarget(contact_id=contact_id, phone=phone), "generic", "t", "corr")


def test_upserts_of_one_phone_form_one_lane_and_other_phones_their_own() -> None:
    lanes = plan_lanes([upsert(ANN), upsert(BOB), upsert(ANN)])

    assert lanes == [Lane(upserts=(0, 2)), Lane(upserts=(1,))]


def test_an_upsert_then_a_delete_of_the_same_phone_sends_only_the_delete() -> None:
    lanes = plan_lanes([upsert(ANN, first="Ann"), delete(phone=ANN)])

    assert lanes == [Lane(deletes=(1,), superseded=(0,))]


def test_a_delete_then_an_upsert_of_the_same_phone_sends_the_delete_then_the_upsert() -> None:
    lanes = plan_lanes([delete(phone=ANN), upsert(ANN, first="Ann")])

    assert lanes == [Lane(deletes=(0,), upserts=(1,))]


def test_an_upsert_carrying_a_contact_id_ties_a_delete_by_that_id_to_its_phone() -> None:
    # Given an update of Ann by id, a delete of that id, then a create for Ann's phone
    operations = [upsert(ANN, contact_id=ANN_ID), delete(contact_id=ANN_ID), upsert(ANN, first="New")]

    # Then all three are one contact's lane, in that order
    assert plan_lanes(operations) == [Lane(deletes=(1,), superseded=(0,), upserts=(2,))]


def test_a_delete_by_id_and_an_upsert_by_phone_alone_are_different_contacts() -> None:
    # Nothing in the messages says that this id holds this phone.
    assert plan_lanes([delete(contact_id=ANN_ID), upsert(ANN)]) == [Lane(deletes=(0,)), Lane(upserts=(1,))]


def test_every_delete_of_a_lane_is_sent_and_only_upserts_after_the_last_one() -> None:
    operations = [delete(phone=ANN), upsert(ANN), delete(phone=ANN), upsert(ANN), upsert(ANN)]

    assert plan_lanes(operations) == [Lane(deletes=(0, 2), superseded=(1,), upserts=(3, 4))]


def test_merging_keeps_later_values_and_turns_an_update_of_a_deleted_id_into_a_create() -> None:
    first = Contact(phone=ANN, first="Ann", contact_id=ANN_ID, custom={"1": "a"})
    later = Contact(phone=ANN, last="Lee", custom={"2": "b"})

    kept = merge_contacts([first, later])
    recreated = merge_contacts([first, later], frozenset({ANN_ID}))

    assert kept == Contact(phone=ANN, first="Ann", last="Lee", contact_id=ANN_ID, custom={"1": "a", "2": "b"})
    assert recreated.contact_id is None
    assert (recreated.first, recreated.last) == ("Ann", "Lee")
