"""SyncService with a contact state: Heymarket clearing what an update leaves out, and writes whose outcome is
unknown; the opt-out always survives."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.doubles.heymarket_double import HeymarketDouble
from tests.unit.sync.harness import ANN, BOB, Harness, again, upsert
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
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # the person texted START to Heymarket
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert h.heymarket.routes() == [CONTACTS]
    assert held(h)[0]["is_opted_out"] is False


def test_an_opt_out_gone_with_nothing_to_show_the_update_kept_what_it_left_out_is_written_back() -> None:
    # (Was: a START texted to Heymarket is not undone. Nothing in the answer tells a START from an update that
    # cleared the STOP it left out: opt-out wins on doubt, and the fact is unlearned; issue 26/27 review.)
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # a START texted, or a STOP cleared: the same answer
    h.heymarket.log.clear()

    h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert h.heymarket.routes() == [CONTACTS, CONTACTS]
    assert held(h)[0]["is_opted_out"] is True


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
    # (The answer must show the update kept another field it left out: otherwise opt-out wins on doubt, above.)
    h = stateful()
    learned(h)
    h.process(upsert(ANN, received_at=at(1), first="Ann", email="ann@example.com", is_opted_out=True))
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # the person texted START to Heymarket

    h.process(upsert(ANN, received_at=at(2), first="Annie"))

    assert held(h) == [{"phone": ANN, "first": "Annie", "email": "ann@example.com", "is_opted_out": False}]


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
    h = stateful(max_receive_count=1, outage=NO_TIME_TO_WAIT)
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
