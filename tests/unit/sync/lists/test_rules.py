"""The rules of tags by name and lists (heymarket_bridge.sync.lists.rules): pure, no Heymarket."""

from __future__ import annotations

import pytest

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import PermanentFailure, TransientFailure
from heymarket_bridge.sync.lists.rules import (
    Ambiguous,
    Membership,
    TagIndex,
    TagLookup,
    changes_by_list,
    list_key,
    list_local_id,
    membership,
    resolve_tags,
    without_superseded_tags,
)
from heymarket_bridge.sync.model import ListChange, Tag

ANN, BOB = "15105551234", "15105550000"
INDEX = TagIndex([Tag(55, "VIP"), Tag(56, "Spring lead"), Tag(57, "vip list"), Tag(58, "VIP LIST"), Tag(59, "VIP")])


@pytest.mark.parametrize(
    ("name", "found"),
    [
        ("VIP", 55),  # two tags spelled exactly alike: the oldest
        ("spring  LEAD", 56),  # case and spacing do not matter when one tag matches
        ("Vip List", Ambiguous(("vip list", "VIP LIST"))),
        ("VIP LIST", 58),  # an exact spelling is never ambiguous
        ("Autumn", None),
    ],
)
def test_a_tag_name_is_matched_exactly_first_then_ignoring_case_and_spaces(
    name: str, found: int | Ambiguous | None
) -> None:
    assert INDEX.lookup(name) == found


def test_tag_names_become_ids_next_to_the_ids_given_each_once() -> None:
    contacts = [Contact(phone=ANN, tags=("VIP", 56, "spring lead")), Contact(phone=BOB, tags=(7,))]

    resolved = resolve_tags(contacts, TagLookup(INDEX))

    assert not isinstance(resolved, PermanentFailure)
    assert [contact.tags for contact in resolved] == [(55, 56), (7,)]


def test_an_unknown_tag_name_is_refused_for_good_naming_it_and_how_to_fix_it() -> None:
    failure = resolve_tags([Contact(phone=ANN, tags=("VIP", "Autumn fair"))], TagLookup(INDEX))

    assert isinstance(failure, PermanentFailure)
    assert "'Autumn fair' is not a tag of this Heymarket account" in failure.reason
    assert "CreateMissingTags" in failure.reason


def test_an_ambiguous_tag_name_is_refused_naming_the_spellings_it_matches() -> None:
    failure = resolve_tags([Contact(phone=ANN, tags=("vip LIST ",))], TagLookup(INDEX))

    assert isinstance(failure, PermanentFailure)
    assert "'vip list', 'VIP LIST'" in failure.reason


def test_a_tag_the_bridge_could_not_create_shares_that_failure_with_its_contacts() -> None:
    lookup = TagLookup(INDEX, {"autumn fair": TransientFailure("Heymarket answered 503", outcome_unknown=True)})

    failure = resolve_tags([Contact(phone=ANN, tags=("Autumn Fair",))], lookup)

    assert isinstance(failure, TransientFailure)
    assert failure.reason == "creating the tag 'Autumn Fair' failed: Heymarket answered 503"


def test_contacts_without_tag_names_need_no_tags_at_all() -> None:
    contacts = [Contact(phone=ANN, tags=(3,))]

    assert resolve_tags(contacts, None) == contacts


def test_a_stored_contact_goes_on_every_list_its_messages_name_each_once() -> None:
    contacts = [Contact(phone=ANN, lists=(42, "Spring")), Contact(phone=ANN, lists=("spring", "Newsletter"))]

    assert membership(ANN, contacts, None, remove_opted_out=True) == Membership(ANN, add=(42, "Spring", "Newsletter"))


@pytest.mark.parametrize(
    ("sent", "answered", "remove_opted_out", "expected"),
    [
        (True, None, True, Membership(ANN, remove=(42,))),  # opted out as sent: taken off
        (None, True, True, Membership(ANN, remove=(42,))),  # opted out in Heymarket (a STOP): taken off too
        (True, False, True, Membership(ANN, add=(42,))),  # Heymarket's answer is the contact's final state
        (True, None, False, Membership(ANN, add=(42,))),  # RemoveOptedOutFromLists off: added like any other
        (None, None, True, Membership(ANN, add=(42,))),
    ],
)
def test_a_contact_that_ends_opted_out_is_taken_off_its_lists_when_the_setting_says_so(
    sent: bool | None, answered: bool | None, remove_opted_out: bool, expected: Membership
) -> None:
    contacts = [Contact(phone=ANN, lists=(42,), is_opted_out=sent)]

    assert membership(ANN, contacts, answered, remove_opted_out=remove_opted_out) == expected


def test_a_contact_without_lists_has_no_membership_to_write() -> None:
    assert membership(ANN, [Contact(phone=ANN, is_opted_out=True)], True, remove_opted_out=True) is None


def test_changes_are_one_per_list_and_the_latest_membership_of_a_phone_decides() -> None:
    memberships = [
        Membership(ANN, add=(42, "Spring")),
        Membership(BOB, add=(42,)),
        Membership(ANN, remove=(42,)),  # received later: ANN ends off list 42
    ]
    ids = {list_key(42): 42, list_key("Spring"): 43}

    changes = changes_by_list(memberships, ids)

    assert changes == [ListChange(42, add_phones=(BOB,), remove_phones=(ANN,)), ListChange(43, add_phones=(ANN,))]


def test_a_list_without_an_id_is_left_out_of_the_changes() -> None:
    assert changes_by_list([Membership(ANN, add=("Spring",))], {}) == []


def test_a_managed_lists_local_id_is_the_stack_and_the_name_whatever_its_spelling() -> None:
    assert list_local_id("prod", "Spring open house") == list_local_id("prod", " spring  OPEN house")
    assert list_local_id("prod", "Spring open house") != list_local_id("dev", "Spring open house")
    assert list_local_id("prod", "Spring open house").startswith("heymarket-bridge:prod:")
    assert list_local_id("prod", "Spring open house", 2) == list_local_id("prod", "Spring open house") + ":2"


def test_a_tag_and_a_managed_list_are_found_whatever_the_unicode_spelling_of_their_name() -> None:
    # Given a tag named with a composed "é", and a list name sent with a decomposed one behind a BOM
    index = TagIndex([Tag(60, "Caf\u00e9 club")])

    # Then both spellings name the same tag and the same managed list
    assert index.lookup("\ufeffCafe\u0301 club") == 60
    assert list_local_id("prod", "\ufeffCafe\u0301 club") == list_local_id("prod", "Caf\u00e9 club")


def test_only_the_tags_of_the_latest_message_that_gives_tags_are_kept_for_resolving() -> None:
    # Given three messages merged into one contact: the second's tags replace the first's, the third gives none
    contacts = [
        Contact(phone=ANN, tags=("Autumn fair",)),
        Contact(phone=ANN, tags=("VIP",)),
        Contact(phone=ANN, first="Ann"),
    ]

    # When the superseded tags are left out, Then only the second keeps its tags, and it resolves
    kept = without_superseded_tags(contacts)
    assert [contact.tags for contact in kept] == [None, ("VIP",), None]
    resolved = resolve_tags(kept, TagLookup(INDEX))
    assert not isinstance(resolved, PermanentFailure)
    assert [contact.tags for contact in resolved] == [None, (55,), None]
