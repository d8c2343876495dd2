"""Reading the optional fields (heymarket_bridge.domain.fields): tags, lists, names, booleans, emails, custom fields."""

from __future__ import annotations

import pytest

from heymarket_bridge.domain.contact import parse_contact, read_contact
from heymarket_bridge.domain.fields import MAX_SEGMENT_ITEMS, read_text
from heymarket_bridge.domain.text import fold_name


@pytest.mark.parametrize(
    ("raw", "tags"),
    [("3,7", (3, 7)), ("3; 7", (3, 7)), (3, (3,)), (3.0, (3,)), (["3,7", 9], (3, 7, 9)), ([{"tag_id": "4"}], (4,))],
)
def test_tags_as_senders_write_them_are_read(raw: object, tags: tuple[int, ...]) -> None:
    assert parse_contact({"phone": "5105550113", "tags": raw}, "US").tags == tags


@pytest.mark.parametrize(
    ("raw", "value"),
    [(1, True), (0, False), (1.0, True), ("Yes", True), ("no", False), ("on", True), ("TRUE", True), (["Yes"], True)],
)
def test_booleans_as_senders_write_them_are_read(raw: object, value: bool) -> None:
    assert parse_contact({"phone": "5105550113", "is_opted_out": raw}, "US").is_opted_out is value


@pytest.mark.parametrize(
    "email", ["josé@exämple.com", "用户@例子.广告", "ада@пример.рф", "a.b+tag@xn--bcher-kva.example"]
)
def test_internationalised_email_addresses_are_accepted(email: str) -> None:
    assert parse_contact({"phone": "5105550113", "email": email}, "US").email == email


def test_numbers_in_text_fields_are_read_as_their_digits() -> None:
    contact = parse_contact({"phone": "5105550113", "last": 1984, "custom": {"101": 7.0, "102": 7.5}}, "US")

    assert (contact.last, contact.custom) == ("1984", {"101": "7", "102": "7.5"})


@pytest.mark.parametrize(
    ("raw", "tags"),
    [
        ("VIP", ("VIP",)),
        ("VIP, 3", ("VIP", 3)),
        (["Spring lead", 7], ("Spring lead", 7)),
        ([{"tag": "VIP"}, {"tag_id": 4}], ("VIP", 4)),
        (["VIP", "vip ", " VIP"], ("VIP",)),
    ],
)
def test_tags_may_be_given_by_name_next_to_ids(raw: object, tags: tuple[int | str, ...]) -> None:
    assert parse_contact({"phone": "5105550113", "tags": raw}, "US").tags == tags


def test_more_than_five_tags_by_name_or_id_drop_the_tags_naming_heymarkets_limit() -> None:
    contact, dropped, _ = read_contact({"phone": "5105550113", "tags": ["a", "b", "c", "d", 1, 2]}, "US")

    assert contact.tags is None
    assert [item.error for item in dropped] == ["tags has 6 tags; Heymarket allows at most 5"]


@pytest.mark.parametrize(
    ("raw", "lists"),
    [
        (42, (42,)),
        ("42, Spring open house", (42, "Spring open house")),
        # changed (review 22, 11): a one-item list is its item (e.namedValues); in a longer array a name keeps its comma
        (["Spring open house, 2026", "VIP"], ("Spring open house, 2026", "VIP")),
        (["Spring open house, Fall fair"], ("Spring open house", "Fall fair")),
        (["Spring open house", "spring  OPEN house"], ("Spring open house",)),
    ],
)
def test_lists_are_ids_or_names_each_once(raw: object, lists: tuple[int | str, ...]) -> None:
    assert parse_contact({"phone": "5105550113", "lists": raw}, "US").lists == lists


@pytest.mark.parametrize("raw", [[0], [-4], [2.5], [True], [{"id": 4}], {"list": 4}])
def test_a_list_that_is_neither_an_id_nor_a_name_is_dropped_and_named(raw: object) -> None:
    contact, dropped, _ = read_contact({"phone": "5105550113", "lists": raw}, "US")

    assert contact.lists is None
    assert [item.field for item in dropped] == ["lists"]


CAFE_NFC, CAFE_NFD = "Caf\u00e9 club", "Cafe\u0301 club"


@pytest.mark.parametrize(
    ("raw", "lists"),
    [
        ("\ufeffSpring open house", ("Spring open house",)),  # a BOM from a spreadsheet export
        (["Spring\u200b open house"], ("Spring open house",)),  # a zero-width space copied with the name
        ([CAFE_NFC, CAFE_NFD], (CAFE_NFC,)),  # one name however its accent is encoded: the first spelling kept
        (["\ufeff42"], (42,)),  # an id behind a BOM is an id
        (["\U0001f468\u200d\U0001f469 Families"], ("\U0001f468\u200d\U0001f469 Families",)),  # a joiner is seen
    ],
)
def test_a_name_loses_its_invisible_characters_and_keeps_its_visible_spelling(
    raw: object, lists: tuple[int | str, ...]
) -> None:
    # Given a list name as senders' apps and exports write it; When it is read; Then it is the name a person sees
    assert parse_contact({"phone": "5105550113", "lists": raw}, "US").lists == lists


def test_a_name_of_invisible_characters_only_is_dropped_and_named() -> None:
    contact, dropped, _ = read_contact({"phone": "5105550113", "tags": ["\ufeff\u200b"]}, "US")

    assert (contact.tags, [item.field for item in dropped]) == (None, ["tags"])


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (CAFE_NFC, CAFE_NFD),
        ("\ufeffVIP", "vip"),
        ("VIP\u200b", "VIP"),
        ("\uff36\uff29\uff30", "VIP"),  # full-width letters
        ("Stra\u00dfe", "STRASSE"),
        ("Spring  open\u00a0house", "spring open house"),  # a no-break space is a space
    ],
)
def test_names_that_look_alike_fold_alike(one: str, other: str) -> None:
    assert fold_name(one) == fold_name(other)


@pytest.mark.parametrize(
    ("raw", "tags"),
    [("2026", (2026,)), ("\u0661\u0662\u0663", (123,)), ("\uff11\uff12\uff13", (123,)), ([{"tag": "2026"}], (2026,))],
)
def test_a_name_of_digits_of_any_script_is_read_as_an_id(raw: object, tags: tuple[int, ...]) -> None:
    # The README says so ("Tags and lists", Syntax): there is no way to give such a name
    assert parse_contact({"phone": "5105550113", "tags": raw}, "US").tags == tags


def test_a_one_item_list_is_its_item_for_every_single_valued_field() -> None:
    contact, dropped, _ = read_contact(
        {
            "phone": ["(510) 555-0157"],
            "first": ["Ada"],
            "last": ["Lovelace"],
            "email": ["ada@example.com"],
            "is_opted_out": ["no"],
            "assignee_id": ["7"],
            "custom": {"101": ["Berlin"]},
            "tags": ["VIP"],
        },
        "US",
    )

    assert (dropped, contact.to_dict()) == (
        [],
        {
            "phone": "15105550157",
            "first": "Ada",
            "last": "Lovelace",
            "email": "ada@example.com",
            "custom": {"101": "Berlin"},
            "tags": ["VIP"],
            "is_opted_out": False,
            "assignee_id": 7,
        },
    )


def test_more_tag_items_than_a_field_may_hold_are_refused_before_any_is_read() -> None:
    # Given a megabyte of "a," as the tags (500,000 items, one name repeated)
    raw = {"phone": "5105550109", "tags": "a," * 500_000}

    # When the contact is read
    contact, dropped, _ = read_contact(raw, "US")

    # Then the tags are dropped whole, naming the limit, and the contact kept
    assert contact.tags is None
    assert [item.error for item in dropped] == [f"tags holds more than {MAX_SEGMENT_ITEMS} items"]


def test_a_hundred_repeats_of_one_tag_are_still_one_tag() -> None:
    contact, dropped, _ = read_contact({"phone": "5105550109", "tags": ["VIP"] * MAX_SEGMENT_ITEMS}, "US")

    assert contact.tags == ("VIP",)
    assert dropped == []


def test_an_over_long_tag_name_is_refused_without_quoting_it() -> None:
    _, dropped, _ = read_contact({"phone": "5105550109", "tags": ["VIP", "n" * 100_000]}, "US")

    [item] = dropped
    assert item.error == "tags must be tag ids or names of at most 255 characters"


def test_an_over_long_custom_field_key_is_refused_without_quoting_it() -> None:
    _, dropped, _ = read_contact({"phone": "5105550109", "custom": {"k" * 256: "v", "Grade": "A"}}, "US")

    [item] = dropped
    assert item.error == "custom has a field id or title longer than 255 characters"


# Every edge of what SQS carries (tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF):
# the class of refused characters is written as the complement of these ranges, so each boundary is checked.
@pytest.mark.parametrize(
    ("code", "sendable"),
    [
        *(
            (code, False)
            for code in (0x00, 0x08, 0x0B, 0x0C, 0x0E, 0x1F, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xFFFE, 0xFFFF)
        ),
        *((code, True) for code in (0x09, 0x0A, 0x0D, 0x20, 0x7F, 0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF)),
    ],
)
def test_characters_the_queue_cannot_carry_are_named_at_every_edge_of_the_sendable_ranges(
    code: int, sendable: bool
) -> None:
    errors: list[str] = []
    read_text("first", f"a{chr(code)}b", errors)

    assert errors == ([] if sendable else [f"first contains a character that cannot be sent (U+{code:04X})"])
