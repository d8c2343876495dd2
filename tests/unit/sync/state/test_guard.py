"""SyncService with a contact state: the newest operation wins across batches and concurrent invocations, deletes stay
deleted, known contacts cost one request, unchanged ones none; the table failing only delays.

The V2 gateway over the in-memory Heymarket (tests/doubles/heymarket_double.py) and the in-memory table with the
adapter's conditions (tests/doubles/state_double.py); two harnesses sharing both play two concurrent invocations.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from heymarket_bridge.sync.model import SyncReport
from tests.doubles.heymarket_double import HeymarketDouble
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, BOB, Harness, again, delete, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def at(second: int) -> str:
    return f"2026-11-23T09:00:{second:02d}.000+00:00"


def stateful(**options: Any) -> Harness:
    return Harness(state=InMemoryContactState(), **options)


def held(h: Harness, phone: str = ANN) -> list[dict[str, Any]]:
    return [contact.fields for contact in h.heymarket.holding(phone)]


def bulk_items(h: Harness) -> list[dict[str, Any]]:
    return [item for route, data in h.heymarket.log if route == CONTACTS for item in data["contacts"]]


def settled(report: SyncReport) -> tuple[list[str], int, int]:
    return report.failed_message_ids, report.superseded_operations, report.unchanged_skipped


WARM = "15105559999"


def learned(h: Harness) -> None:
    """Let the instance learn what Heymarket's updates do with what they leave out, on a contact of its own: its
    first update after a look-up leaves a field out (the probe), and the answer shows whether it was kept."""
    h.process(upsert(WARM, received_at=at(0), first="Warm", email="warm@example.com"))
    h.process(upsert(WARM, received_at=at(1), last="Up"))
    # (answers without UUIDs: the first update is a v1 write, whose answer gives the UUID the probe needs)
    h.process(upsert(WARM, received_at=at(2), first="Warmer"))
    h.heymarket.log.clear()


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
    h = stateful(max_receive_count=1)
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


# ---------------------------------------------------------------------- Heymarket clearing what an update leaves out


def test_a_field_the_first_update_left_out_and_heymarket_cleared_is_written_back_then_updates_are_looked_up() -> None:
    h = stateful(heymarket=HeymarketDouble(update_omitted="clear"))
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com", is_opted_out=True))
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), last="Lee"))
    repaired = held(h)
    routes = h.heymarket.routes()
    h.heymarket.log.clear()
    h.process(upsert(ANN, received_at=at(3), last="Ray"))

    # The first update is looked up, and leaves one field out to learn what Heymarket does (email, cleared: written
    # back at once); from then on every update is looked up and completed
    assert routes == [SEARCH, CONTACTS, CONTACTS]
    assert repaired == [{"phone": ANN, "first": "Ann", "email": "ann@example.com", "is_opted_out": True, "last": "Lee"}]
    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    assert held(h)[0]["last"] == "Ray"
    assert held(h)[0]["is_opted_out"] is True


def test_a_stop_made_in_heymarket_survives_the_first_update_of_an_instance_where_updates_clear_what_they_omit() -> None:
    # Given a contact the bridge synced opted in, the person's STOP texted to Heymarket since, and an instance that
    # does not know yet that Heymarket's updates clear what they leave out
    h = stateful(heymarket=HeymarketDouble(update_omitted="clear"))
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com", is_opted_out=False))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = True

    # When a CRM update of one field arrives
    h.process(upsert(ANN, received_at=at(2), last="Lee"))

    # Then the contact was looked up (never written blindly by its UUID), and stays opted out with every field
    assert h.heymarket.routes()[-3] == SEARCH
    assert held(h) == [{"phone": ANN, "first": "Ann", "email": "ann@example.com", "is_opted_out": True, "last": "Lee"}]


def test_known_contacts_are_written_without_a_look_up_only_once_the_instance_has_seen_updates_keep_what_they_omit() -> (
    None
):
    h = stateful()
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))
    h.process(upsert(BOB, received_at=at(1), first="Bob", email="bob@example.com"))
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), last="Lee"))
    first = h.heymarket.routes()
    h.heymarket.log.clear()
    h.process(upsert(BOB, received_at=at(2), first="Robert"))

    assert first == [SEARCH, CONTACTS]  # the probe: email left out, and the answer showed it kept
    assert h.heymarket.routes() == [CONTACTS]
    assert held(h) == [{"phone": ANN, "first": "Ann", "email": "ann@example.com", "last": "Lee"}]
    assert held(h, BOB) == [{"phone": BOB, "first": "Robert", "email": "bob@example.com"}]


def test_an_opt_in_made_in_heymarket_is_not_undone_when_the_other_fields_the_update_left_out_were_kept() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # the person texted START to Heymarket
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert h.heymarket.routes() == [CONTACTS]
    assert held(h)[0]["is_opted_out"] is False


# ---------------------------------------------------------------------- concurrent invocations


def twins() -> tuple[Harness, Harness]:
    """Two invocations of one deployment: the same table, the same Heymarket."""
    state, heymarket = InMemoryContactState(), HeymarketDouble()
    heymarket.add(ANN, first="Ann")
    return Harness(state=state, heymarket=heymarket), Harness(state=state, heymarket=heymarket)


def test_a_newer_operation_meeting_an_older_one_being_applied_waits_and_is_applied_after_it() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    meanwhile: dict[str, SyncReport] = {}
    # Given invocation B receives the newer operation while invocation A is writing the older one to Heymarket
    a.heymarket.during(CONTACTS, lambda: meanwhile.setdefault("b", b.process(newer)))

    first = a.process(older)
    later = b.process(again(newer))

    # Then B's message waited (redelivered, untouched), and applied on its next receive: the newer one wins
    assert meanwhile["b"].failed_message_ids == [newer.message_id]
    assert (first.failed_message_ids, later.failed_message_ids) == ([], [])
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_an_older_operation_meeting_a_newer_one_being_applied_waits_and_is_then_skipped() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    meanwhile: dict[str, SyncReport] = {}
    b.heymarket.during(CONTACTS, lambda: meanwhile.setdefault("a", a.process(older)))

    b.process(newer)
    later = a.process(again(older))

    assert meanwhile["a"].failed_message_ids == [older.message_id]
    assert settled(later) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_an_invocation_whose_entry_changed_between_its_read_and_its_claim_decides_again_and_skips_the_older() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    assert a.state is not None
    # Given A read the entry, and B applied the newer operation before A's conditional claim reached the table
    a.state.before_write.append(lambda: b.process(newer) and None)

    report = a.process(older)

    assert settled(report) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_a_lease_left_by_an_invocation_that_failed_to_record_holds_off_others_until_it_expires() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    assert a.state is not None
    # Given A wrote the older operation to Heymarket, but its lease could not be given back with the outcome
    a.state.unavailable.add("release")
    recorded = a.process(older)
    a.state.unavailable.clear()

    waiting = b.process(newer)
    b.now += timedelta(minutes=3)  # the lease has expired
    applied = b.process(again(newer))
    a.now += timedelta(minutes=3)
    skipped = a.process(again(older))

    assert recorded.failed_message_ids == [older.message_id]  # Heymarket has it, the table does not: sent again
    assert waiting.failed_message_ids == [newer.message_id]
    assert applied.failed_message_ids == []
    assert settled(skipped) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_after_a_request_whose_outcome_is_unknown_the_contact_stays_leased_a_while_and_newer_operations_wait() -> None:
    # A 5xx, a reset, no answer in time: the request may still take effect, and must not land after a newer write
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    a.heymarket.down = True
    assert a.process(older, remaining_s=10).failed_message_ids == [older.message_id]
    a.heymarket.down = False

    waiting = b.process(newer)
    b.now += timedelta(seconds=31)  # the lease margin (30 s) has passed
    applied = b.process(again(newer))

    assert waiting.failed_message_ids == [newer.message_id]
    assert applied.failed_message_ids == []
    assert [fields["first"] for fields in held(a)] == ["Newer"]


# ---------------------------------------------------------------------- the table failing


def test_when_the_table_cannot_be_read_nothing_is_sent_skipped_or_dead_lettered_and_sqs_redelivers() -> None:
    h = stateful()
    assert h.state is not None
    h.state.unavailable.add("read")
    record = upsert(ANN, received_at=at(1), first="Ann")

    report = h.process(record)

    assert settled(report) == ([record.message_id], 0, 0)
    assert (h.heymarket.log, h.letters.letters) == ([], [])


def test_when_the_table_cannot_be_written_nothing_is_sent_and_sqs_redelivers() -> None:
    h = stateful()
    assert h.state is not None
    h.state.unavailable.add("write")
    record = upsert(ANN, received_at=at(1), first="Ann")

    report = h.process(record)

    assert settled(report) == ([record.message_id], 0, 0)
    assert h.heymarket.log == []


def test_on_its_last_receive_a_message_the_table_keeps_from_being_applied_waits_instead_of_being_dead_lettered() -> (
    None
):
    h = stateful(max_receive_count=5)
    assert h.state is not None
    h.state.unavailable.add("read")
    record = upsert(ANN, receive_count=5, received_at=at(1), first="Ann")

    report = h.process(record)

    assert (report.waiting_messages, h.letters.letters, h.waiting.bodies) == (1, [], [record.body])


def test_a_delete_by_contact_id_whose_time_the_table_could_not_record_is_sent_again() -> None:
    h = stateful()
    h.heymarket.add(ANN)
    [contact] = h.heymarket.holding(ANN)
    assert h.state is not None
    h.state.unavailable.add("void")
    record = delete(contact_id=contact.uuid, received_at=at(1))

    report = h.process(record)

    assert report.failed_message_ids == [record.message_id]
    assert held(h) == []


@pytest.mark.parametrize("omitted", ["keep", "clear"])
def test_the_first_update_of_an_instance_leaves_one_field_and_the_custom_values_not_sent_out_to_learn_and_loses_none(
    omitted: str,
) -> None:
    # Given a contact the bridge synced, and a Heymarket whose updates keep or clear what they leave out (and, the
    # double, replace the custom map sent)
    h = stateful(heymarket=HeymarketDouble(update_omitted=omitted))
    h.process(
        upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com", custom={"7": "x"}, is_opted_out=True)
    )
    h.heymarket.log.clear()

    # When the instance's first update of it is sent
    h.process(upsert(ANN, received_at=at(2), last="Lee", custom={"8": "y"}))

    # Then it was looked up, left the email and the custom value 7 out, and what Heymarket cleared was written back
    assert h.heymarket.routes() == [SEARCH, CONTACTS, CONTACTS]
    probe = bulk_items(h)[0]
    assert ("email" in probe, probe["custom"], probe["is_opted_out"]) == (False, {"8": "y"}, True)
    assert held(h) == [
        {
            "phone": ANN,
            "first": "Ann",
            "last": "Lee",
            "email": "ann@example.com",
            "custom": {"7": "x", "8": "y"},
            "is_opted_out": True,
        }
    ]


def test_a_probe_whose_answer_was_lost_after_it_cleared_a_field_loses_nothing() -> None:
    # Given a Heymarket whose updates clear what they leave out, and the probe's answer lost after it landed
    h = stateful(heymarket=HeymarketDouble(update_omitted="clear"))
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))

    def stored_then_reset(data: Any) -> tuple[int, Any]:
        h.heymarket._bulk(data["contacts"])
        return 503, {"error": "unavailable"}

    h.heymarket.script(CONTACTS, stored_then_reset, *[(503, {"error": "unavailable"})] * 30)
    first = h.process(upsert(ANN, received_at=at(2), last="Lee"), remaining_s=10)
    h.heymarket.unscript(CONTACTS)
    assert "email" not in held(h)[0]  # cleared by the probe, whose answer never came
    h.now += timedelta(minutes=5)  # the lease kept after an unknown outcome has passed

    # When the message comes back, in another instance (nothing kept in memory)
    h2 = Harness(state=h.state, heymarket=h.heymarket, now=h.now)
    report = h2.process(again(upsert(ANN, received_at=at(2), last="Lee")))

    # Then the email the probe cleared is back, from the contact state's snapshot
    assert first.failed_message_ids
    assert report.failed_message_ids == []
    assert held(h) == [{"phone": ANN, "first": "Ann", "email": "ann@example.com", "last": "Lee"}]


# ---------------------------------------------------------------------- writes whose outcome is unknown, opt-outs


def stored_then(h: Harness, status: int, body: Any) -> Any:
    """A handler of POST /v2/contacts that stores the write, then answers `status` with `body` (bytes or JSON)."""

    def handler(data: Any) -> tuple[int, Any]:
        h.heymarket._bulk(data["contacts"])
        return status, body

    return handler


@pytest.mark.parametrize(
    "answer", [(200, b"<html>proxy</html>"), (200, b""), (200, b'{"contacts": [{"id": 1'), (502, {})]
)
def test_a_stop_after_a_subscription_whose_answer_could_not_be_read_is_sent(answer: tuple[int, Any]) -> None:
    h = stateful()
    h.process(upsert(ANN, received_at=at(0), first="Ann", is_opted_out=True))
    subscribe, stop = (
        upsert(ANN, received_at=at(1), is_opted_out=False),
        upsert(ANN, received_at=at(2), is_opted_out=True),
    )
    # Given a subscription Heymarket stored, whose every answer in the invocation could not be read
    h.heymarket.script(CONTACTS, *[stored_then(h, *answer)] * 30)
    assert h.process(subscribe, remaining_s=10).failed_message_ids == [subscribe.message_id]
    h.heymarket.unscript(CONTACTS)
    h.now += timedelta(minutes=1)

    # When the person's STOP arrives, then the subscription again
    stopped = h.process(stop)
    h.process(again(subscribe))

    # Then the STOP was sent, and the contact ends opted out
    assert settled(stopped) == ([], 0, 0)
    assert [fields["is_opted_out"] for fields in held(h)] == [True]


def test_a_probe_that_landed_then_met_throttling_on_the_look_up_loses_nothing_in_the_next_invocation() -> None:
    h = stateful(heymarket=HeymarketDouble(update_omitted="clear"))
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))
    # Given the probe stored (email cleared) and answered 502, then every look-up throttled until the deadline
    h.heymarket.script(CONTACTS, stored_then(h, 502, {}), *[(503, {})] * 30)
    h.heymarket.script(SEARCH, (200, [c.as_answer(True) for c in h.heymarket.holding(ANN)]), *[(429, {})] * 60)
    first = h.process(upsert(ANN, received_at=at(2), last="Lee"), remaining_s=10)
    h.heymarket.unscript(CONTACTS)
    h.heymarket.unscript(SEARCH)
    assert first.failed_message_ids
    assert "email" not in held(h)[0]
    h.now += timedelta(minutes=5)

    # When the message comes back in another instance
    report = Harness(state=h.state, heymarket=h.heymarket, now=h.now).process(
        again(upsert(ANN, received_at=at(2), last="Lee"))
    )

    # Then the email is back
    assert report.failed_message_ids == []
    assert held(h) == [{"phone": ANN, "first": "Ann", "email": "ann@example.com", "last": "Lee"}]


def test_a_start_texted_to_heymarket_is_not_reverted_once_updates_are_known_to_keep() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # the person texted START to Heymarket

    h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert held(h) == [{"phone": ANN, "first": "Annie", "is_opted_out": False}]


def test_a_field_cleared_in_heymarkets_app_stays_cleared_once_updates_are_known_to_keep() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))
    del h.heymarket.holding(ANN)[0].fields["email"]  # a person cleared it in Heymarket's app

    h.process(upsert(ANN, received_at=at(2), last="Lee"))
    h.heymarket.log.clear()
    h.process(upsert(BOB, received_at=at(1), first="Bob"))
    h.process(upsert(BOB, received_at=at(2), last="Ray"))

    assert held(h) == [{"phone": ANN, "first": "Ann", "last": "Lee"}]
    assert h.heymarket.routes()[-1:] == [CONTACTS]  # and the instance still knows updates keep: no look-up


def test_an_opt_in_over_an_opt_out_written_without_an_answer_is_held_back_and_a_newer_change_keeps_the_opt_out() -> (
    None
):
    h = stateful()
    h.process(upsert(ANN, received_at=at(0), first="Ann", is_opted_out=True))
    subscribe = upsert(ANN, received_at=at(1), is_opted_out=False)
    h.heymarket.script(CONTACTS, *[stored_then(h, 502, {})] * 30)
    h.process(subscribe, remaining_s=10)
    h.heymarket.unscript(CONTACTS)
    h.now += timedelta(minutes=5)

    h.process(upsert(ANN, received_at=at(2), last="Lee"))
    h.process(again(subscribe))

    assert [fields["is_opted_out"] for fields in held(h)] == [True]
    assert held(h)[0]["last"] == "Lee"


def test_an_opt_in_with_the_same_event_time_as_a_stop_received_after_it_does_not_revert_the_stop() -> None:
    h = stateful()
    h.process(upsert(ANN, received_at=at(0), first="Ann"))
    event = "2026-11-23T09:00:05.000+00:00"  # whole seconds, as Shopify's updated_at
    subscribe = upsert(ANN, received_at=at(6), occurred_at=event, is_opted_out=False)
    stop = upsert(ANN, received_at=at(7), occurred_at=event, is_opted_out=True)
    h.heymarket.down = True
    h.process(subscribe, remaining_s=10)
    h.heymarket.down = False
    h.now += timedelta(minutes=1)

    h.process(stop)
    report = h.process(again(subscribe))

    assert settled(report) == ([], 1, 0)
    assert [fields["is_opted_out"] for fields in held(h)] == [True]


def test_a_stop_dead_lettered_after_a_write_of_unknown_outcome_is_not_undone_by_an_older_opt_in() -> None:
    h = stateful(max_receive_count=1)
    h.process(upsert(ANN, received_at=at(0), first="Ann"))
    subscribe = upsert(ANN, received_at=at(1), is_opted_out=False)
    stop = upsert(ANN, received_at=at(2), is_opted_out=True)
    # Given the STOP stored by Heymarket on its last receive, every answer a 502: dead-lettered
    h.heymarket.script(CONTACTS, *[stored_then(h, 502, {})] * 30)
    h.process(stop, remaining_s=10)
    h.heymarket.unscript(CONTACTS)
    h.now += timedelta(minutes=5)

    # When the older subscription arrives later
    report = h.process(subscribe)

    # Then it is skipped (the STOP may have taken effect, and did), and the STOP's letter says it may have
    assert settled(report) == ([], 1, 0)
    assert [fields["is_opted_out"] for fields in held(h)] == [True]
    [letter] = h.letters.letters
    assert "may have taken effect" in letter.error


def test_custom_values_set_in_heymarkets_app_survive_an_update_of_a_contact_known_by_integer_id_only() -> None:
    # Updates keep what they leave out but replace the custom map sent (the double's way)
    h = stateful(heymarket=HeymarketDouble(uuids=False))
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", custom={"101": "North"}))
    h.heymarket.holding(ANN)[0].fields["custom"] = {"101": "North", "102": "Phone call"}  # set in the app

    h.process(upsert(ANN, received_at=at(2), last="Lee", custom={"101": "South"}))

    assert held(h)[0]["custom"] == {"101": "South", "102": "Phone call"}


def test_once_updates_are_known_to_keep_a_contact_in_doubt_is_not_restored_over_a_persons_clear() -> None:
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com"))
    h.heymarket.script(CONTACTS, *[stored_then(h, 502, {})] * 30)
    h.process(upsert(ANN, received_at=at(2), last="Lee"), remaining_s=10)
    h.heymarket.unscript(CONTACTS)
    del h.heymarket.holding(ANN)[0].fields["email"]  # a person cleared it in Heymarket's app
    h.now += timedelta(minutes=5)

    h.process(upsert(ANN, received_at=at(3), last="Lee2"))

    assert held(h) == [{"phone": ANN, "first": "Ann", "last": "Lee2"}]


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
