"""SyncService with a contact state: the newest operation wins across batches, deletes stay deleted, known contacts
cost one request, unchanged ones none.

The V2 gateway over the in-memory Heymarket (tests/doubles/heymarket_double.py) and the in-memory table with the
adapter's conditions (tests/doubles/state_double.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.doubles.heymarket_double import HeymarketDouble
from tests.unit.sync.harness import ANN, BOB, again, delete, upsert
from tests.unit.sync.state.guarding import (
    CONTACTS,
    NO_TIME_TO_WAIT,
    SEARCH,
    at,
    bulk_items,
    held,
    learned,
    settled,
    stateful,
)

# ---------------------------------------------------------------------- newest wins, deletes stay deleted


def test_an_opt_in_redelivered_after_a_newer_stop_was_applied_is_skipped_and_the_contact_stays_opted_out() -> None:
    h = stateful()
    h.heymarket.add(ANN, first="Ann")
    subscribe = upsert(ANN, received_at=at(1), is_opted_out=False)
    stop = upsert(ANN, received_at=at(2), is_opted_out=True)
    # Given the subscription could not be delivered (Heymarket answered 5xx) and waits for SQS to redeliver it
    h.heymarket.down = True
    assert h.process(subscribe, remaining_s=10).failed_message_ids == [subscribe.message_id]
    h.heymarket.down = False
    h.now += timedelta(minutes=1)
    # And the person's STOP, received after it, was delivered meanwhile
    assert h.process(stop).failed_message_ids == []
    requests = len(h.heymarket.log)

    # When the subscription comes back
    report = h.process(again(subscribe))

    # Then it is skipped as older than what was applied: no request, not dead-lettered; the contact stays opted out
    assert settled(report) == ([], 1, 0)
    assert len(h.heymarket.log) == requests
    assert [fields["is_opted_out"] for fields in held(h)] == [True]
    assert h.letters.letters == []


def test_an_opt_in_over_an_opt_out_whose_answer_was_lost_never_opts_the_contact_in_and_a_later_stop_keeps_it_out() -> (
    None
):
    h = stateful()
    h.heymarket.add(ANN, first="Ann", is_opted_out=True)
    h.process(upsert(ANN, received_at=at(0), first="Ann", is_opted_out=True))  # synced: the table knows it opted out
    subscribe = upsert(ANN, received_at=at(1), is_opted_out=False)
    stop = upsert(ANN, received_at=at(2), is_opted_out=True)

    # Given a subscription whose write Heymarket carried out, but whose answer was lost (a 5xx after the write)
    def stored_then_500(data: Any) -> tuple[int, Any]:
        h.heymarket._bulk(data["contacts"])
        return 500, {"error": "internal"}

    h.heymarket.script(CONTACTS, *[stored_then_500] * 20)
    assert h.process(subscribe, remaining_s=10).failed_message_ids == [subscribe.message_id]
    h.heymarket.unscript(CONTACTS)
    h.now += timedelta(minutes=1)

    # When the person's STOP arrives, then the subscription is redelivered
    stopped = h.process(stop)
    h.process(again(subscribe))

    # Then the opt-in was never written (the write carried no opt-in), and the contact ends opted out
    assert stopped.failed_message_ids == []
    assert all(item.get("is_opted_out") is not False for item in bulk_items(h))
    assert [fields["is_opted_out"] for fields in held(h)] == [True]


def test_an_upsert_older_than_a_delete_arriving_after_it_does_not_bring_the_contact_back() -> None:
    h = stateful()
    h.heymarket.add(ANN, first="Ann")
    late = upsert(ANN, received_at=at(1), first="Late")
    h.heymarket.down = True
    h.process(late, remaining_s=10)
    h.heymarket.down = False
    h.now += timedelta(minutes=1)
    h.process(delete(phone=ANN, received_at=at(2)))

    report = h.process(again(late))

    assert settled(report) == ([], 1, 0)
    assert held(h) == []


def test_an_upsert_newer_than_a_delete_brings_the_contact_back() -> None:
    h = stateful()
    h.heymarket.add(ANN, first="Ann")
    h.process(delete(phone=ANN, received_at=at(1)))

    report = h.process(upsert(ANN, received_at=at(2), first="Back"))

    assert settled(report) == ([], 0, 0)
    assert [fields["first"] for fields in held(h)] == ["Back"]


def test_operations_are_ordered_by_the_sources_event_time_where_it_gives_one() -> None:
    # Given a change made at 09:00:04, then the sender's retry of an older event (made at 09:00:01) received later
    h = stateful()
    h.process(upsert(ANN, received_at=at(5), occurred_at=at(4), first="New"))

    report = h.process(upsert(ANN, received_at=at(9), occurred_at=at(1), first="Old"))

    assert settled(report) == ([], 1, 0)
    assert [fields["first"] for fields in held(h)] == ["New"]


def test_in_one_batch_the_operation_with_the_later_event_time_wins_whatever_order_they_were_received_in() -> None:
    h = stateful()

    h.process(
        upsert(ANN, received_at=at(5), occurred_at=at(4), first="New"),
        upsert(ANN, received_at=at(9), occurred_at=at(1), first="Old", last="Kept"),
    )

    assert [(fields["first"], fields["last"]) for fields in held(h)] == [("New", "Kept")]


def test_a_forced_operation_is_applied_even_when_a_newer_one_was_applied_and_later_older_ones_stay_skipped() -> None:
    h = stateful()
    h.process(upsert(ANN, received_at=at(5), first="New"))

    forced = h.process(upsert(ANN, received_at=at(1), first="Redriven", force=True))
    older = h.process(upsert(ANN, received_at=at(3), first="Older"))

    assert settled(forced) == ([], 0, 0)
    assert settled(older) == ([], 1, 0)
    assert [fields["first"] for fields in held(h)] == ["Redriven"]


# ---------------------------------------------------------------------- known contacts, unchanged contacts


def test_a_contact_stored_before_is_updated_by_its_uuid_in_one_request_sending_only_what_was_sent_but_its_phone() -> (
    None
):
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))
    [contact] = h.heymarket.holding(ANN)
    h.heymarket.log.clear()

    report = h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert h.heymarket.routes() == [CONTACTS]
    [item] = bulk_items(h)
    # The phone is left out: an update by the state's identifier never moves a contact back to a number it left.
    assert item == {"first": "Annie", "contact_id": contact.uuid}
    assert held(h) == [{"phone": ANN, "first": "Annie", "email": "ann@example.com"}]
    assert (report.delivered_contacts, report.updated_existing) == (1, 1)


def test_100_contacts_stored_before_cost_one_request_and_100_deliveries_that_change_nothing_cost_none() -> None:
    h = stateful()
    learned(h)
    phones = [f"1510555{n:04d}" for n in range(100)]
    h.process(*[upsert(phone, received_at=at(1), first="A") for phone in phones])
    h.heymarket.log.clear()

    changed = h.process(*[upsert(phone, received_at=at(2), first="B") for phone in phones])
    requests_for_changes = len(h.heymarket.log)
    unchanged = h.process(*[upsert(phone, received_at=at(3), first="B") for phone in phones])

    assert (requests_for_changes, changed.delivered_contacts) == (1, 100)
    assert len(h.heymarket.log) == requests_for_changes
    assert settled(unchanged) == ([], 0, 100)


def test_a_delivery_that_changes_nothing_records_its_time_so_an_older_change_arriving_later_is_skipped() -> None:
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="A"))
    delayed = upsert(ANN, received_at=at(2), first="B")

    unchanged = h.process(upsert(ANN, received_at=at(3), first="A"))
    late = h.process(delayed)

    assert settled(unchanged) == ([], 0, 1)
    assert settled(late) == ([], 1, 0)
    assert [fields["first"] for fields in held(h)] == ["A"]


def test_an_opt_out_the_state_says_was_stored_is_sent_again_not_skipped_as_unchanged() -> None:
    # Given an opt-out stored, then a START texted to Heymarket (no request from the bridge: the entry still says
    # opted out)
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="A", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False

    # When the same opt-out arrives again
    report = h.process(upsert(ANN, received_at=at(2), is_opted_out=True))

    # Then it is sent: the entry is the bridge's memory, not Heymarket's state
    assert settled(report) == ([], 0, 0)
    assert held(h)[0]["is_opted_out"] is True


def test_an_upsert_that_sends_a_field_not_confirmed_before_is_sent() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="A"))
    h.heymarket.log.clear()

    report = h.process(upsert(ANN, received_at=at(2), first="A", email="a@example.com"))

    assert settled(report) == ([], 0, 0)
    # A field the contact never held is written after a look-up: on a contact that moved away from the phone, it
    # could not be taken back (an update never sends empty values).
    assert h.heymarket.routes() == [SEARCH, CONTACTS]


def test_with_skipping_turned_off_an_upsert_that_changes_nothing_is_sent() -> None:
    h = stateful(skip_unchanged=False)
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="A"))
    h.heymarket.log.clear()

    report = h.process(upsert(ANN, received_at=at(2), first="A"))

    assert settled(report) == ([], 0, 0)
    assert h.heymarket.routes() == [CONTACTS]


def test_an_operation_received_longer_ago_than_tombstones_are_kept_is_skipped_unless_forced() -> None:
    # A letter redriven and dead-lettered again starts a new stay in the DLQ: the delete that followed it may be
    # forgotten, so it cannot bring a deleted contact back
    h = stateful()
    h.now += timedelta(days=23)
    old = upsert(ANN, received_at=at(1), first="Old")

    report = h.process(old)
    forced = h.process(upsert(ANN, received_at=at(1), first="Forced", force=True))

    assert settled(report) == ([], 1, 0)
    assert settled(forced) == ([], 0, 0)
    assert [fields["first"] for fields in held(h)] == ["Forced"]


def test_a_forced_operation_dead_lettered_again_is_no_longer_forced_in_its_letter() -> None:
    h = stateful(max_receive_count=1, outage=NO_TIME_TO_WAIT)
    h.heymarket.down = True
    forced = upsert(ANN, received_at=at(1), force=True, is_opted_out=False)

    h.process(forced, remaining_s=10)

    [letter] = h.letters.letters
    assert "force" not in json.loads(letter.message)


def test_a_forced_operation_that_changes_nothing_is_sent() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="A"))
    h.heymarket.log.clear()

    report = h.process(upsert(ANN, received_at=at(2), first="A", force=True))

    assert settled(report) == ([], 0, 0)
    assert h.heymarket.routes() == [CONTACTS]


def test_after_a_delete_by_contact_id_an_upsert_equal_to_the_last_one_is_sent_and_the_contact_made_again() -> None:
    # A delete by id does not say which phone it removed: nothing confirmed before it is taken for granted
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="Ann"))
    [contact] = h.heymarket.holding(ANN)
    h.process(delete(contact_id=contact.uuid, received_at=at(2)))

    report = h.process(upsert(ANN, received_at=at(3), first="Ann"))

    assert settled(report) == ([], 0, 0)
    assert [fields["first"] for fields in held(h)] == ["Ann"]


def test_a_contact_heymarket_no_longer_holds_is_stored_by_its_phone_and_its_new_identifiers_are_used_next() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann"))
    h.heymarket.contacts.clear()  # deleted in Heymarket's app
    h.heymarket.log.clear()

    report = h.process(upsert(ANN, received_at=at(2), last="Lee"))
    [again_made] = h.heymarket.holding(ANN)
    h.heymarket.log.clear()
    h.process(upsert(ANN, received_at=at(3), last="Li"))

    assert settled(report) == ([], 0, 0)
    assert again_made.fields == {"phone": ANN, "last": "Li"}
    assert h.heymarket.routes() == [CONTACTS]
    assert bulk_items(h)[0]["contact_id"] == again_made.uuid


def test_a_contact_known_by_its_integer_id_only_is_looked_up_before_its_v1_update_even_once_updates_keep() -> None:
    # Given answers without UUIDs: Ann and Bob created by the bridge (integer ids only), Ann updated twice since
    # (the v1 update's answer gave her UUID, and the answer to the next update showed the fields it left out kept)
    h = stateful(heymarket=HeymarketDouble(uuids=False))
    h.process(upsert(ANN, received_at=at(1), first="Ann"), upsert(BOB, received_at=at(1), first="Bob"))
    h.process(upsert(ANN, received_at=at(2), last="Lee"))
    h.process(upsert(ANN, received_at=at(3), email="ann@example.com"))
    [bob] = h.heymarket.holding(BOB)
    h.heymarket.log.clear()

    h.process(upsert(BOB, received_at=at(4), last="Ray"))

    # The v1 write by id needs the phone and answers only identifiers: nothing would show Bob's contact holding
    # another number now (changed in Heymarket's app), so the phone is looked up first.
    assert h.heymarket.routes() == [SEARCH, f"PUT /v1/contact/{bob.id}"]
    assert held(h, BOB) == [{"phone": BOB, "first": "Bob", "last": "Ray"}]


def test_a_contact_known_by_its_integer_id_only_is_looked_up_while_updates_are_not_known_to_keep_what_they_omit() -> (
    None
):
    h = stateful(heymarket=HeymarketDouble(uuids=False))
    h.process(upsert(ANN, received_at=at(1), first="Ann"))
    [ann] = h.heymarket.holding(ANN)
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), last="Lee"))

    assert h.heymarket.routes() == [SEARCH, f"PUT /v1/contact/{ann.id}"]
