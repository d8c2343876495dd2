"""SyncService with tags by name (and tag ids gone stale), over the V2 gateway and an in-memory Heymarket and
managed-lists table."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.sync.lists.steps import TAGS_MAX_AGE_S
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, BOB, Harness, upsert
from tests.unit.sync.lists.listing import (
    CONTACTS,
    TAG,
    TAGS,
    count,
    sent_contacts,
)

# ------------------------------------------------------------------------------------------------ tags by name


def test_tag_names_are_resolved_across_pages_of_the_teams_tags_and_read_once_per_execution_environment() -> None:
    # Given a team with 65 tags: "Spring lead" is among the oldest, on the third page
    h = Harness()
    spring = h.heymarket.add_tag("Spring lead")
    for n in range(64):
        h.heymarket.add_tag(f"Tag {n}")

    # When two batches name it (the second in a later invocation)
    first = h.process(upsert(ANN, tags=("spring LEAD", 7)))
    h.process(upsert(BOB, tags=("Spring lead",)))

    # Then the contacts are sent with its id, and the tags were read once, page by page
    assert [contact["tags"] for contact in sent_contacts(h)] == [
        [{"tag_id": spring}, {"tag_id": 7}],
        [{"tag_id": spring}],
    ]
    pages = [data for route, data in h.heymarket.log if route == TAGS]
    assert pages[0] == {}
    assert [page["date"] for page in pages[1:]] == [h.heymarket.tags[35]["updated"], h.heymarket.tags[5]["updated"]]
    assert (first.delivered_contacts, h.letters.letters) == (1, [])


def test_an_unknown_tag_name_is_dead_lettered_naming_it_and_the_other_contacts_are_delivered() -> None:
    h = Harness()
    h.heymarket.add_tag("VIP")

    report = h.process(upsert(ANN, tags=("VIP", "Autumn fair")), upsert(BOB, tags=("VIP",)))

    [letter] = h.letters.letters
    assert (letter.contact or {})["phone"] == ANN
    assert "tag 'Autumn fair' is not a tag of this Heymarket account" in letter.error
    assert [contact["phone"] for contact in sent_contacts(h)] == [BOB]
    assert (report.delivered_contacts, report.failed_message_ids, count(h, TAG)) == (1, [], 0)


def test_the_tags_are_read_again_once_per_invocation_for_a_name_created_in_heymarket_since() -> None:
    h = Harness()
    h.heymarket.add_tag("VIP")
    h.process(upsert(ANN, tags=("VIP",)))
    autumn = h.heymarket.add_tag("Autumn fair")

    h.process(upsert(ANN, tags=("Autumn fair",)), upsert(BOB, tags=("Winter",)))

    assert count(h, TAGS) == 2  # once at the first batch, once again for the names unknown since
    assert sent_contacts(h)[-1]["tags"] == [{"tag_id": autumn}]
    assert "'Winter'" in h.letters.letters[0].error


def test_with_create_missing_tags_an_unknown_name_is_created_once_and_used() -> None:
    h = Harness(create_missing_tags=True)

    h.process(upsert(ANN, tags=("Autumn fair",)), upsert(BOB, tags=("autumn FAIR",)))
    h.process(upsert(ANN, tags=("Autumn fair",)))

    [created] = [data for route, data in h.heymarket.log if route == TAG]
    assert created["tag"] == "Autumn fair"
    [tag] = h.heymarket.tags
    assert [contact["tags"] for contact in sent_contacts(h)] == [[{"tag_id": tag["id"]}]] * 3
    assert h.letters.letters == []


def test_two_consumers_creating_the_same_missing_tag_create_it_once() -> None:
    # Given two consumers sharing the managed-lists table; the second runs while the first is creating the tag
    first = Harness(create_missing_tags=True)
    second = Harness(create_missing_tags=True, heymarket=first.heymarket, store=first.store)
    second_report: list[Any] = []

    def create_while_the_other_waits(data: Any) -> Any:
        second_report.append(second.process(upsert(BOB, tags=("Autumn fair",))))
        return 200, {"id": first.heymarket.add_tag(data["tag"]), "rev": 1, "uuid": "u"}

    first.heymarket.script(TAG, create_while_the_other_waits)

    # When the first creates it
    first.process(upsert(ANN, tags=("Autumn fair",)))

    # Then one tag was created; the second consumer waited for the first's claim, then let SQS redeliver its contact
    assert count(first, TAG) == 1
    [tag] = first.heymarket.tags
    assert (len(second_report[0].failed_message_ids), second.letters.letters) == (1, [])
    # And when SQS redelivers it, it gets the tag the first consumer created
    second.process(upsert(BOB, tags=("Autumn fair",)))
    assert sent_contacts(first)[-1] == {**sent_contacts(first)[-1], "phone": BOB, "tags": [{"tag_id": tag["id"]}]}
    assert count(first, TAG) == 1


def test_a_tag_create_whose_answer_was_lost_is_not_sent_again_and_is_found_by_the_next_read() -> None:
    h = Harness(create_missing_tags=True)

    def created_then_lost(data: Any) -> Any:
        h.heymarket.add_tag(data["tag"])
        return 504, b"<html>Gateway Timeout</html>"

    h.heymarket.script(TAG, created_then_lost)

    first = h.process(upsert(ANN, tags=("Autumn fair",)))
    h.process(upsert(ANN, tags=("Autumn fair",)))

    assert (len(first.failed_message_ids), count(h, TAG), len(h.heymarket.tags)) == (1, 1, 1)
    assert sent_contacts(h) == [{**sent_contacts(h)[0], "tags": [{"tag_id": h.heymarket.tags[0]["id"]}]}]


# ------------------------------------------------------------------------------------------------ stale tag ids


def refuse_tag_ids_heymarket_does_not_hold(h: Harness) -> None:
    """Heymarket refuses, in `failed_contacts`, a contact written with a tag id it does not hold (the error text is
    not documented: the bridge cannot tell from it that the tag is the cause)."""

    def answer(data: Any) -> Any:
        held = {tag["id"] for tag in h.heymarket.tags}
        good = [c for c in data["contacts"] if all(t.get("tag_id") in held for t in c.get("tags", []))]
        status, body = h.heymarket._bulk(good)
        body["failed_contacts"] += [{"contact": c, "error": "tags: invalid"} for c in data["contacts"] if c not in good]
        return status, body

    h.heymarket.script(CONTACTS, *[answer] * 10)


def refuse_every_contact(data: Any) -> Any:
    return 200, {
        "contacts": [],
        "failed_contacts": [{"contact": c, "error": "email: invalid"} for c in data["contacts"]],
    }


def delete_tag(h: Harness, tag_id: int) -> None:
    h.heymarket.tags = [tag for tag in h.heymarket.tags if tag["id"] != tag_id]


def rename_tag(h: Harness, tag_id: int, name: str) -> None:
    next(tag for tag in h.heymarket.tags if tag["id"] == tag_id)["tag"] = name


@pytest.mark.parametrize("change", ["deleted and made again", "deleted, another renamed to its name"])
@pytest.mark.parametrize("with_state", [False, True])
def test_a_write_refused_for_a_cached_tag_id_is_sent_again_with_the_ids_read_afresh(
    change: str, with_state: bool
) -> None:
    # Given a warm execution environment that read the tag "VIP"
    h = Harness(state=InMemoryContactState() if with_state else None)
    old = h.heymarket.add_tag("VIP")
    premium = h.heymarket.add_tag("Premium")
    h.process(upsert(BOB, tags=("VIP",)))
    # And in Heymarket's app the tag is deleted, and "VIP" is a tag again under another id
    delete_tag(h, old)
    if change == "deleted and made again":
        new = h.heymarket.add_tag("VIP")
    else:
        rename_tag(h, premium, "VIP")
        new = premium
    refuse_tag_ids_heymarket_does_not_hold(h)

    # When a contact tagged "VIP" is synced
    report = h.process(upsert(ANN, first="Ann", tags=("VIP",)))

    # Then its refused write is sent again once, with the id read afresh, and it is delivered
    assert [contact["tags"] for contact in sent_contacts(h)[1:]] == [[{"tag_id": old}], [{"tag_id": new}]]
    assert (report.delivered_contacts, h.letters.letters, count(h, TAGS)) == (1, [], 2)
    assert h.heymarket.holding(ANN)[0].fields["tags"] == [{"tag_id": new}]


def test_a_refusal_that_the_tags_do_not_explain_stands_and_the_tags_are_read_again_once_per_invocation() -> None:
    # Given a warm execution environment, and Heymarket refusing two contacts for another reason
    h = Harness()
    h.heymarket.add_tag("VIP")
    h.process(upsert(BOB, tags=("VIP",)))
    h.heymarket.script(CONTACTS, refuse_every_contact)

    # When both are synced in one batch
    report = h.process(upsert(ANN, tags=("VIP",)), upsert("15105550001", tags=("VIP",)))

    # Then the tags were read again once, the ids were unchanged, so nothing was sent again: both dead-lettered
    assert (count(h, TAGS), count(h, CONTACTS)) == (2, 2)
    assert (report.delivered_contacts, len(h.letters.letters)) == (0, 2)
    assert all("email: invalid" in letter.error for letter in h.letters.letters)


def test_a_write_refused_for_a_tag_deleted_since_is_dead_lettered_naming_the_tag() -> None:
    h = Harness()
    vip = h.heymarket.add_tag("VIP")
    h.process(upsert(BOB, tags=("VIP",)))
    delete_tag(h, vip)
    refuse_tag_ids_heymarket_does_not_hold(h)

    h.process(upsert(ANN, tags=("VIP",)))

    [letter] = h.letters.letters
    assert "tag 'VIP' is not a tag of this Heymarket account" in letter.error
    assert count(h, CONTACTS) == 2  # the first batch, and the refused write: not sent again


def test_the_tags_are_read_again_when_the_copy_is_older_than_the_max_age_so_a_rename_is_seen() -> None:
    # Given "VIP" read, then renamed in Heymarket's app and "VIP" made anew (the old id still holds: no refusal)
    h = Harness()
    old = h.heymarket.add_tag("VIP")
    h.process(upsert(BOB, tags=("VIP",)))
    rename_tag(h, old, "VIP 2025")
    new = h.heymarket.add_tag("VIP")

    # When a contact tagged "VIP" comes within the max age, then one after it
    h.process(upsert(ANN, tags=("VIP",)))
    h.clock.now += TAGS_MAX_AGE_S
    h.process(upsert(ANN, tags=("VIP",)))

    # Then the first still uses the copy; the second reads the tags again and uses the new id
    assert [contact["tags"] for contact in sent_contacts(h)] == [[{"tag_id": old}]] * 2 + [[{"tag_id": new}]]
    assert count(h, TAGS) == 2
