"""SyncService with lists, over the V2 gateway and an in-memory Heymarket and managed-lists table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.sync.lists.rules import list_local_id
from tests.unit.sync.harness import ANN, BOB, Harness, redelivered, upsert
from tests.unit.sync.lists.listing import (
    CONTACTS,
    LIST,
    LISTS,
    SEARCH,
    SPRING,
    TAG,
    TAGS,
    count,
    list_writes,
    sent_contacts,
)

# ------------------------------------------------------------------------------------------------ lists


def test_contacts_go_on_a_managed_list_created_once_and_on_lists_given_by_id() -> None:
    h = Harness()
    app_list = h.heymarket.add_list("Made in the app")

    first = h.process(upsert(ANN, lists=(SPRING,)), upsert(BOB, lists=(SPRING, app_list)))
    h.process(upsert("15105550001", lists=("spring open HOUSE", app_list)))

    [spring] = h.heymarket.list_titled(SPRING)
    assert spring.local_id == list_local_id("test", SPRING)
    assert spring.phones == [ANN, BOB, "15105550001"]
    assert h.heymarket.list_titled("Made in the app")[0].phones == [BOB, "15105550001"]
    assert count(h, LISTS) == 1
    assert [write["add_phones"] for write in list_writes(h)] == [[ANN, BOB], [BOB], ["15105550001"], ["15105550001"]]
    assert (first.delivered_contacts, first.listed_contacts, h.letters.letters) == (2, 2, [])


def test_a_list_id_heymarket_does_not_hold_is_dead_lettered_as_a_list_write_and_the_contact_is_delivered() -> None:
    h = Harness()

    report = h.process(upsert(ANN, first="Ann", lists=(999,)))

    [letter] = h.letters.letters
    assert "Heymarket holds no list 999" in letter.error
    assert json.loads(letter.message or "")["op"] == "lists"
    assert json.loads(letter.message or "")["contact"] == {"phone": ANN, "lists": [999]}
    assert (report.delivered_contacts, report.list_writes_dead_lettered, report.failed_message_ids) == (1, 1, [])


def test_a_cold_start_finds_the_managed_list_in_the_table_and_does_not_create_it_again() -> None:
    h = Harness()
    h.process(upsert(ANN, lists=(SPRING,)))
    cold = Harness(heymarket=h.heymarket, store=h.store)

    cold.process(upsert(BOB, lists=(SPRING,)))

    assert count(cold, LISTS) == 1
    assert h.heymarket.list_titled(SPRING)[0].phones == [ANN, BOB]


def test_list_creation_racing_between_two_consumers_makes_one_list() -> None:
    # Given two consumers; the second gets a batch for the same new list while the first is creating it
    first = Harness()
    second = Harness(heymarket=first.heymarket, store=first.store)
    reports: list[Any] = []
    answer = first.heymarket._create_list

    def create_while_the_other_runs(data: Any) -> Any:
        reports.append(second.process(upsert(BOB, lists=(SPRING,))))
        return answer(data)

    first.heymarket.script(LISTS, create_while_the_other_runs)

    # When both run
    first.process(upsert(ANN, lists=(SPRING,)))
    # And the second consumer's follow-up is received later
    [body] = second.follow_ups.bodies
    done = second.process(redelivered(body))

    # Then there is one list, holding both contacts; the second consumer stored its contact once
    assert count(first, LISTS) == 1
    [spring] = first.heymarket.list_titled(SPRING)
    assert sorted(spring.phones) == [BOB, ANN]
    assert (reports[0].delivered_contacts, reports[0].list_follow_ups, reports[0].failed_message_ids) == (1, 1, [])
    assert [contact["phone"] for contact in sent_contacts(first)].count(BOB) == 1
    assert (done.failed_message_ids, done.listed_contacts, second.letters.letters) == ([], 1, [])


@pytest.mark.parametrize("repeat", ["existing", "refuse", "duplicate"])
def test_a_list_create_that_failed_before_taking_effect_is_asked_again_and_makes_one_list(repeat: str) -> None:
    h = Harness()
    h.heymarket.list_local_id_repeat = repeat
    h.heymarket.script(LISTS, (500, {"error_code": "internal_error"}))  # a 500 may or may not have taken effect

    h.process(upsert(ANN, lists=(SPRING,)))
    [body] = h.follow_ups.bodies
    h.process(redelivered(body))

    [spring] = h.heymarket.lists
    assert (spring.title, spring.phones, spring.local_id) == (SPRING, [ANN], list_local_id("test", SPRING))


def lose_the_answer(h: Harness) -> None:
    """The next POST /v2/lists creates the list, and its answer never arrives (a 504 from a proxy)."""
    answer = h.heymarket._create_list

    def created_then_lost(data: Any) -> Any:
        answer(data)
        return 504, b"<html>Gateway Timeout</html>"

    h.heymarket.script(LISTS, created_then_lost)


def test_a_list_create_whose_answer_was_lost_is_asked_again_once_and_makes_one_list() -> None:
    # Given Heymarket answers a repeated local_id with the existing list (the behaviour its docs suggest)
    h = Harness()
    lose_the_answer(h)

    # When the contact is stored and its list create's answer is lost
    first = h.process(upsert(ANN, first="Ann", lists=(SPRING,)))
    # Then the create is not sent again in that invocation: the contact is done, its lists follow
    assert (count(h, LISTS), first.delivered_contacts, first.list_follow_ups) == (1, 1, 1)
    # And when the follow-up comes, the create is asked again with the same local_id and its answer used
    [body] = h.follow_ups.bodies
    h.process(redelivered(body))

    [spring] = h.heymarket.lists
    assert (spring.phones, count(h, LISTS)) == ([ANN], 2)
    assert len([c for c in sent_contacts(h) if c["phone"] == ANN]) == 1


@pytest.mark.parametrize("repeat", ["refuse", "duplicate"])
def test_where_heymarket_refuses_or_duplicates_a_repeated_local_id_a_lost_answer_leaves_one_empty_list_unused(
    repeat: str,
) -> None:
    # The list created by the lost request cannot be found again (no endpoint lists lists): the bridge uses one list,
    # and the one the lost answer created stays empty.
    h = Harness()
    h.heymarket.list_local_id_repeat = repeat
    lose_the_answer(h)

    h.process(upsert(ANN, lists=(SPRING,)))
    [body] = h.follow_ups.bodies
    h.process(redelivered(body))
    h.process(upsert(BOB, lists=(SPRING,)))

    unused, used = h.heymarket.list_titled(SPRING)
    assert (unused.phones, used.phones) == ([], [ANN, BOB])
    assert h.letters.letters == []


def test_a_failed_list_write_is_retried_by_a_follow_up_without_writing_the_contact_again() -> None:
    # Given list writes that keep failing for the whole invocation
    h = Harness()
    h.heymarket.script(LIST, *[(503, {"error_code": "unavailable"})] * 100)

    # When a contact with a list is synced
    first = h.process(upsert(ANN, first="Ann", lists=(SPRING,)))
    h.heymarket.unscript(LIST)

    # Then the contact is delivered and its message done; the list write waits in a follow-up message
    assert (first.delivered_contacts, first.failed_message_ids, first.list_follow_ups) == (1, [], 1)
    [body] = h.follow_ups.bodies
    assert json.loads(body)["op"] == "lists"
    # And when the follow-up is received, only the list is written
    again = h.process(redelivered(body))
    assert h.heymarket.list_titled(SPRING)[0].phones == [ANN]
    assert (again.failed_message_ids, again.delivered_contacts, again.listed_contacts) == ([], 0, 1)
    assert count(h, CONTACTS) == 1
    assert h.heymarket.routes()[-2:] == [SEARCH, "PUT /v2/lists/42"]


def test_a_follow_up_that_keeps_failing_is_redelivered_then_dead_lettered_with_the_reason() -> None:
    h = Harness(max_receive_count=2)
    h.heymarket.script(LIST, *[(503, {"error_code": "unavailable"})] * 100)
    h.process(upsert(ANN, lists=(SPRING,)))
    [body] = h.follow_ups.bodies

    retried = h.process(redelivered(body, receive_count=1))
    h.process(redelivered(body, receive_count=2))

    assert retried.failed_message_ids != []
    [letter] = h.letters.letters
    assert "writing the contact's lists failed: Heymarket answered 503" in letter.error
    assert letter.message == body


def test_a_follow_up_for_a_contact_deleted_since_does_not_put_it_back() -> None:
    h = Harness()
    h.heymarket.script(LIST, *[(503, {"error_code": "unavailable"})] * 100)
    h.process(upsert(ANN, lists=(SPRING,)))
    h.heymarket.unscript(LIST)
    [body] = h.follow_ups.bodies
    h.heymarket.contacts.clear()

    done = h.process(redelivered(body))

    assert (done.failed_message_ids, h.heymarket.holding(ANN), h.heymarket.list_titled(SPRING)[0].phones) == (
        [],
        [],
        [],
    )


def test_an_opted_out_contact_is_taken_off_the_lists_its_source_puts_it_on() -> None:
    h = Harness()
    h.process(upsert(ANN, lists=(SPRING,)), upsert(BOB, lists=(SPRING,)))

    h.process(upsert(ANN, is_opted_out=True, lists=(SPRING,)))

    assert h.heymarket.list_titled(SPRING)[0].phones == [BOB]
    assert list_writes(h)[-1] == {"remove_phones": [ANN]}


def test_with_remove_opted_out_off_an_opted_out_contact_is_added_like_any_other() -> None:
    h = Harness(remove_opted_out=False)

    h.process(upsert(ANN, is_opted_out=True, lists=(SPRING,)))

    assert h.heymarket.list_titled(SPRING)[0].phones == [ANN]


def test_a_contact_heymarket_holds_as_opted_out_is_not_added_even_if_the_message_does_not_say() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True)

    h.process(upsert(ANN, first="Ann", lists=(SPRING,)))

    assert list_writes(h) == [{"remove_phones": [ANN]}]


def test_a_managed_list_deleted_in_heymarket_is_not_created_again_and_its_writes_say_how_to_go_on() -> None:
    h = Harness()
    h.process(upsert(ANN, lists=(SPRING,)))
    h.heymarket.lists.clear()

    report = h.process(upsert(BOB, lists=(SPRING,)))

    [letter] = h.letters.letters
    assert "the list 'Spring open house' that the bridge created no longer exists in Heymarket" in letter.error
    assert "give the list a new name" in letter.error
    assert (report.delivered_contacts, count(h, LISTS), h.heymarket.lists) == (1, 1, [])


def test_one_list_write_per_list_per_chunk_and_none_per_contact() -> None:
    h = Harness(max_batch=100)
    phones = [f"1510555{n:04d}" for n in range(150)]

    report = h.process(*(upsert(phone, lists=(SPRING, "Newsletter")) for phone in phones))

    assert report.delivered_contacts == 150
    assert (count(h, LISTS), count(h, LIST)) == (2, 4)  # 2 lists x 2 chunks of 100 phones
    assert sorted(h.heymarket.list_titled("Newsletter")[0].phones) == sorted(phones)


def test_a_managed_lists_table_that_cannot_be_reached_delays_the_lists_not_the_contact() -> None:
    h = Harness()
    h.store.unavailable = True

    report = h.process(upsert(ANN, lists=(SPRING,)))
    h.store.unavailable = False
    [body] = h.follow_ups.bodies
    later = h.process(redelivered(body))

    assert (report.delivered_contacts, report.failed_message_ids, report.list_follow_ups) == (1, [], 1)
    assert (later.listed_contacts, h.heymarket.list_titled(SPRING)[0].phones, count(h, CONTACTS)) == (1, [ANN], 1)


def test_a_sync_service_without_tags_and_lists_set_up_refuses_them_naming_why() -> None:
    from heymarket_bridge.sync.service import SyncService

    h = Harness()
    service = SyncService(h.gateway, h.letters, h.waiting, max_receive_count=5, clock=h.clock)

    report = service.process([upsert(ANN, tags=("VIP",)), upsert(BOB, lists=(42,))], lambda: 60)

    assert [letter.error for letter in h.letters.letters] == [
        "reading Heymarket's tags failed: this sync function is not set up for tags by name and lists (no "
        "managed-lists table)",
        "writing the contact's lists failed: this sync function is not set up for tags by name and lists (no "
        "managed-lists table)",
    ]
    assert (report.delivered_contacts, report.failed_message_ids) == (1, [])


def test_a_list_heymarket_refuses_as_a_whole_costs_a_few_requests_and_each_contact_gets_a_letter_naming_it() -> None:
    # Given a list made in Heymarket's app that Heymarket refuses every change to (archived)
    h = Harness()
    archived = h.heymarket.add_list("Archived")
    h.heymarket.script(LIST, *[(400, {"error_code": "bad_data", "message": "id: the list is archived"})] * 300)
    phones = [f"1510555{n:04d}" for n in range(100)]

    # When 100 contacts naming it are synced
    report = h.process(*(upsert(phone, lists=(archived,)) for phone in phones))

    # Then the contacts are stored; the list costs 3 requests, not one per phone; each contact has its letter
    assert (report.delivered_contacts, report.list_writes_dead_lettered, count(h, LIST)) == (100, 100, 3)
    assert sorted((letter.contact or {})["phone"] for letter in h.letters.letters) == phones
    assert all(
        f"Heymarket refuses every change to list {archived}, whatever the phone" in letter.error
        for letter in h.letters.letters
    )


def test_a_proxys_404_for_a_managed_list_write_waits_as_a_configuration_error_and_never_says_the_list_is_gone() -> None:
    # Given a managed list the bridge created, then a proxy answering its writes with an HTML 404
    h = Harness()
    h.process(upsert(ANN, lists=(SPRING,)))
    page = (404, b"<html><h1>404 Not Found</h1></html>", {"Content-Type": "text/html"})
    h.heymarket.script(LIST, page, page)

    # When a contact for it is synced, and its follow-up received
    report = h.process(upsert(BOB, lists=(SPRING,)))
    [body] = h.follow_ups.bodies
    later = h.process(redelivered(body))

    # Then nothing is dead-lettered: the follow-up waits while the bridge is misconfigured
    assert (report.delivered_contacts, report.list_follow_ups, h.letters.letters) == (1, 1, [])
    assert (later.waiting_messages, h.waiting.bodies) == (1, [body])
    assert "not Heymarket's answer for a missing list" in (later.configuration_error or "")
    # And once the proxy is fixed, the same list is used
    h.process(redelivered(body))
    assert (h.heymarket.list_titled(SPRING)[0].phones, count(h, LISTS)) == ([ANN, BOB], 1)


@pytest.mark.parametrize("create_missing_tags", [False, True])
def test_an_older_messages_unknown_tag_costs_nothing_when_a_newer_message_replaces_the_tags(
    create_missing_tags: bool,
) -> None:
    # Given a tag the account has, and two messages for one phone in one batch: the older names an unknown tag
    h = Harness(create_missing_tags=create_missing_tags)
    vip = h.heymarket.add_tag("VIP")

    # When the batch is synced
    report = h.process(upsert(ANN, tags=("Autumn fair",)), upsert(ANN, first="Ann", tags=("VIP",)))

    # Then the contact is sent with the newer message's tags, as it would be one message at a time, and the unknown
    # name is neither dead-lettered, nor read for again, nor created
    assert [contact["tags"] for contact in sent_contacts(h)] == [[{"tag_id": vip}]]
    assert (report.delivered_contacts, report.merged_messages, h.letters.letters) == (1, 1, [])
    assert (count(h, TAGS), count(h, TAG)) == (1, 0)
