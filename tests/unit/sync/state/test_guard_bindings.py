"""SyncService with a contact state: bindings follow the person (issue 22), so that a number's next owner is never
written onto its previous owner's contact."""

from __future__ import annotations

from typing import Any

from tests.doubles.heymarket_double import HeymarketDouble
from tests.unit.sync.harness import ANN, Harness, upsert
from tests.unit.sync.state.guarding import (
    CONTACTS,
    SEARCH,
    at,
    held,
    learned,
    stateful,
)

# ---------------------------------------------------------------------- bindings follow the person (issue 22)

MOVED_TO = "15105550177"  # the number a person moved to


def bound(h: Harness, phone: str) -> str | int | None:
    """The contact id the state binds `phone` to (its UUID, else its integer id), None for none."""
    assert h.state is not None
    identity = h.state.entries[phone].identity
    return None if identity is None else (identity.uuid or identity.id)


def one(h: Harness, phone: str) -> dict[str, Any]:
    [contact] = held(h, phone)
    return contact


def test_a_contact_id_update_that_moves_a_contact_releases_its_old_phone_in_the_contact_state() -> None:
    # Given Ann stored for her first number, the state binding it to her contact
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="Ann", last="Lee"))
    [ann] = h.heymarket.holding(ANN)
    assert bound(h, ANN) == ann.uuid

    # When a sender moves her contact to a new number by its contact_id
    h.process(upsert(MOVED_TO, received_at=at(2), contact_id=ann.uuid))

    # Then the new number is bound to her contact, and her old number to no contact any more
    assert bound(h, MOVED_TO) == ann.uuid
    assert bound(h, ANN) is None
    assert h.state is not None
    assert h.state.entries[ANN].snapshot is None


def test_the_old_numbers_next_owner_after_a_contact_id_move_gets_a_contact_of_their_own() -> None:
    # Given Ann stored, then moved to a new number by her contact_id, on an instance that writes known contacts
    # straight by their id
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann", last="Lee"))
    [ann] = h.heymarket.holding(ANN)
    h.process(upsert(MOVED_TO, received_at=at(4), contact_id=ann.uuid))

    # When the old number's new owner opts out
    h.process(upsert(ANN, received_at=at(5), first="Zoe", last="Ray", is_opted_out=True))

    # Then each phone is on its own person's contact: Ann's is not opted out nor renamed
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann", "last": "Lee"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "last": "Ray", "is_opted_out": True}


def test_a_number_changed_in_heymarkets_app_is_seen_in_the_answer_and_the_old_numbers_owner_is_looked_up() -> None:
    # Given Ann stored (the state binds her number to her contact), then her number changed in Heymarket's app
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann", last="Lee"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO
    h.heymarket.log.clear()

    # When the old number's new owner arrives
    report = h.process(upsert(ANN, received_at=at(4), first="Zoe", last="Ray"))

    # Then the write by the known id is answered with the other phone: Ann's contact gets its names back, and the
    # old number is looked up and stored as a contact of its own
    assert report.failed_message_ids == []
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann", "last": "Lee"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "last": "Ray"}
    assert h.heymarket.routes() == [CONTACTS, CONTACTS, SEARCH, CONTACTS]
    assert bound(h, ANN) not in (None, ann.uuid)


def test_a_write_by_a_known_id_never_moves_the_contact_back_to_the_number_sent() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO  # changed in Heymarket's app

    h.process(upsert(ANN, received_at=at(4), first="Zoe"))

    assert ann.fields["phone"] == MOVED_TO


def test_a_number_changed_in_heymarkets_app_and_found_by_a_look_up_of_the_new_one_releases_the_old_one() -> None:
    # Given Ann stored, then her number changed in Heymarket's app
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="Ann"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO

    # When a change for her new number arrives (looked up: the state does not know it)
    h.process(upsert(MOVED_TO, received_at=at(2), last="Lee"))

    # Then the look-up found her contact, and her old number is no longer bound to it
    assert bound(h, ANN) is None
    assert bound(h, MOVED_TO) == ann.uuid


def test_a_recycled_number_whose_owner_moved_in_heymarkets_app_ends_with_each_phone_on_its_own_person() -> None:
    # Given answers without UUIDs (the state knows integer ids, and UUIDs from v1 answers): Ann stored and updated
    h = stateful(heymarket=HeymarketDouble(uuids=False))
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann", last="Lee"))
    h.process(upsert(ANN, received_at=at(4), email="ann@example.com"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO  # Ann changed numbers in Heymarket's app

    # When her old number's new owner arrives
    report = h.process(upsert(ANN, received_at=at(5), first="Zoe", last="Ray"))

    # Then each phone is on its own person's contact
    assert report.failed_message_ids == []
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann", "last": "Lee", "email": "ann@example.com"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "last": "Ray"}


def test_an_opt_out_for_a_known_contact_is_written_after_a_look_up_of_its_phone() -> None:
    # Given Ann stored on an instance that writes known contacts straight by their id
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann"))
    h.heymarket.log.clear()

    # When her phone opts out
    h.process(upsert(ANN, received_at=at(4), is_opted_out=True))

    # Then the phone is looked up before the opt-out is written: an opt-out on a person who moved away from the
    # number could not be taken back (that would be writing an opt-in onto a person)
    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    assert one(h, ANN) == {"phone": ANN, "first": "Ann", "is_opted_out": True}


def test_the_next_owner_of_a_number_changed_in_heymarkets_app_opting_out_never_opts_out_its_previous_owner() -> None:
    # Given Ann stored, then her number changed in Heymarket's app
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann", last="Lee"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO

    # When the old number's new owner opts out
    report = h.process(upsert(ANN, received_at=at(4), first="Zoe", last="Ray", is_opted_out=True))

    # Then the opt-out is on Zoe's own contact, and Ann's contact was never written
    assert report.failed_message_ids == []
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann", "last": "Lee"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "last": "Ray", "is_opted_out": True}


def test_a_field_the_previous_owner_never_held_is_never_left_on_them_by_the_next_owner_of_their_old_number() -> None:
    # Given Ann stored without an email, then her number changed in Heymarket's app
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann"))
    [ann] = h.heymarket.holding(ANN)
    ann.fields["phone"] = MOVED_TO

    # When the old number's new owner arrives with an email
    h.process(upsert(ANN, received_at=at(4), first="Zoe", email="zoe@example.com"))

    # Then Ann's contact does not hold Zoe's email (which no update could clear again): it was looked up first
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "email": "zoe@example.com"}


def test_a_contact_id_move_and_its_old_numbers_next_owner_in_one_batch_end_each_on_their_own_contact() -> None:
    # Given Ann stored on an instance that writes known contacts straight by their id
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(3), first="Ann", last="Lee"))
    [ann] = h.heymarket.holding(ANN)

    # When one batch moves Ann to a new number by her contact_id, and carries her old number's next owner opting out
    report = h.process(
        upsert(MOVED_TO, received_at=at(4), contact_id=ann.uuid, first="Ann"),
        upsert(ANN, received_at=at(4), first="Zoe", last="Lee", is_opted_out=True),
    )

    # Then Zoe is written only once Ann has moved, onto a contact of her own; Ann keeps her names and her consent
    assert report.failed_message_ids == []
    assert one(h, MOVED_TO) == {"phone": MOVED_TO, "first": "Ann", "last": "Lee"}
    assert one(h, ANN) == {"phone": ANN, "first": "Zoe", "last": "Lee", "is_opted_out": True}
    assert bound(h, ANN) not in (None, ann.uuid)
