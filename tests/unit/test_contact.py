from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heymarket_bridge.domain.contact import Contact, InvalidContact, parse_contact, read_contact
from heymarket_bridge.domain.country import CountryEvidence, country_of
from heymarket_bridge.domain.fields import MAX_RAW_TEXT, MAX_SEGMENT_ITEMS
from heymarket_bridge.domain.phone import normalise_phone, read_phone
from heymarket_bridge.domain.text import fold_name


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("(510) 555-1234", "US", "15105551234"),
        ("+44 20 7946 0958", "US", "442079460958"),
        ("0044 20 7946 0958", "US", "442079460958"),
        ("020 7946 0958", "GB", "442079460958"),
        ("1-510-555-1234", "US", "15105551234"),
        (5105551234, "US", "15105551234"),
    ],
)
def test_phone_in_any_human_format_is_normalised_to_e164_digits(raw: object, country: str, expected: str) -> None:
    assert normalise_phone(raw, country) == expected


@pytest.mark.parametrize(
    "raw", ["555-12", "", "not a phone", "+1 (200) 555-1234", True, ["15105551234", "15105551235"], "9" * 50]
)
def test_impossible_phones_are_refused(raw: object) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalise_phone(raw, "US")


def test_every_problem_of_a_contact_is_named_at_once() -> None:
    with pytest.raises(InvalidContact) as caught:
        parse_contact({"phone": "555-12", "email": "carol@@example", "tags": [1, 2, 3, 4, 5, 6]}, "US")
    errors = " | ".join(caught.value.errors)
    assert "phone" in errors
    assert "email" in errors
    assert "tags" in errors


def test_missing_phone_is_refused() -> None:
    with pytest.raises(InvalidContact, match="phone is required"):
        parse_contact({"first": "Ann"}, "US")


def test_fields_not_provided_are_never_sent_to_heymarket() -> None:
    contact = parse_contact({"phone": "5105551234", "first": "Ann", "last": "", "email": None}, "US")
    body = contact.to_heymarket()
    assert body == {
        "phone": "15105551234",
        "first": "Ann",
        "contact_channels": [{"channel_type": "phone", "channel_id": "15105551234"}],
    }


def test_optional_fields_are_typed_for_heymarket() -> None:
    contact = parse_contact(
        {
            "phone": "+1 415 555 0100",
            "tags": ["3", {"tag_id": 4}],
            "is_opted_out": "yes",
            "assignee_id": "-1",
            "custom": {"101": 7, "102": True, "103": ""},
            "contact_id": "A1B2C3D4-E5F6-7890-ABCD-EF1234567890",
        },
        "US",
    )
    body = contact.to_heymarket()
    assert body["tags"] == [{"tag_id": 3}, {"tag_id": 4}]
    assert body["is_opted_out"] is True
    assert body["assignee_id"] == -1
    assert body["custom"] == {"101": "7", "102": "true"}
    assert body["contact_id"] == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def test_a_later_contact_wins_field_by_field_and_custom_fields_merge() -> None:
    earlier = Contact(phone="15105551234", first="Alice", last="Smith", custom={"101": "a", "102": "b"})
    later = Contact(phone="15105551234", last="Jones", custom={"102": "c"})
    merged = earlier.merged_with(later)
    assert merged == Contact(phone="15105551234", first="Alice", last="Jones", custom={"101": "a", "102": "c"})


def test_queue_form_round_trips() -> None:
    contact = Contact(phone="15105551234", first="A", tags=(1, 2), custom={"1": "x"}, is_opted_out=False)
    assert Contact.from_dict(contact.to_dict()) == contact


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        (
            "first",
            "Ada \ud800",
            "D800",
        ),  # a lone surrogate, as a JSON "\ud800" escape decodes: botocore cannot encode it
        ("last", "Love\ufffflace", "FFFF"),  # outside the characters SQS accepts
        ("email", "ada\x00@example.com", "0000"),  # a control character: SQS refuses it too
    ],
)
def test_text_the_queue_cannot_carry_is_refused_by_name(field: str, value: str, code: str) -> None:
    with pytest.raises(InvalidContact) as refused:
        parse_contact({"phone": "+14155550100", field: value}, "US")

    assert refused.value.errors == [f"{field} contains a character that cannot be sent (U+{code})"]


def test_custom_fields_the_queue_cannot_carry_are_refused_and_the_rest_of_the_contact_is_named() -> None:
    with pytest.raises(InvalidContact) as refused:
        parse_contact({"phone": "+14155550100", "custom": {"plan": "gold", "note\udc80": "x"}}, "US")

    assert refused.value.errors == ["custom field 'note\\udc80' contains a character that cannot be sent (U+DC80)"]


def test_tabs_newlines_and_characters_beyond_the_basic_plane_are_kept() -> None:
    contact = parse_contact({"phone": "+14155550100", "first": "Ada\tB", "last": "L\U0001f600"}, "US")

    assert (contact.first, contact.last) == ("Ada\tB", "L\U0001f600")


# ---------------------------------------------------------------- values as senders write them (issue 13)


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        (5105550113.0, "US", "15105550113"),  # spreadsheets and pandas make phones floats
        ("5105550113.0", "US", "15105550113"),  # ... and write them out as text
        ("5.105550113E+09", "US", "15105550113"),  # Excel's scientific notation
        ("tel:+1-510-555-0113", "US", "15105550113"),
        ("510\u200e555\u200e0113", "US", "15105550113"),  # invisible marks copied from an app
        ("+44 (0)20 7946 0958", "US", "442079460958"),  # the trunk 0 kept after the country code
        ("442079460958", "US", "442079460958"),  # an international number without its "+"
        ("1-510-555-0113", "GB", "15105550113"),
        ("+52 1 55 1234 5678", "US", "525512345678"),  # Mexico's mobile 1, dropped in 2019
        ("+55 11 8765 4321", "US", "5511987654321"),  # Brazil's 8-digit mobiles, before the 9
        ("\uff15\uff11\uff10\uff15\uff15\uff15\uff10\uff11\uff11\uff13", "US", "15105550113"),  # full-width digits
    ],
)
def test_phones_as_senders_write_them_are_read(raw: object, country: str, expected: str) -> None:
    assert normalise_phone(raw, country) == expected


@pytest.mark.parametrize("raw", [5105550113.5, float("inf"), float("nan"), -5105550113.0])
def test_floats_that_are_no_phone_number_are_refused(raw: float) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalise_phone(raw, "US")


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


def test_an_invalid_optional_field_is_dropped_and_named_never_costing_the_contact() -> None:
    contact, dropped, _ = read_contact(
        {"phone": "5105550113", "email": "ann@@example", "tags": "3,-1", "is_opted_out": "maybe", "first": "Ann"},
        "US",
    )

    assert (contact.phone, contact.first, contact.email, contact.tags, contact.is_opted_out) == (
        "15105550113",
        "Ann",
        None,
        (3,),
        None,
    )
    assert [item.field for item in dropped] == ["email", "tags", "is_opted_out"]


def test_numbers_in_text_fields_are_read_as_their_digits() -> None:
    contact = parse_contact({"phone": "5105550113", "last": 1984, "custom": {"101": 7.0, "102": 7.5}}, "US")

    assert (contact.last, contact.custom) == ("1984", {"101": "7", "102": "7.5"})


# Digits written without "+" that the default country rejects are read as an international number (11-15 digits):
# when a national number with a digit too many would read the same, the reading carries a warning.


def test_a_national_number_with_a_digit_too_many_is_read_as_international_with_a_warning() -> None:
    contact, dropped, warnings = read_contact({"phone": "31255504034"}, "US")

    assert (contact.phone, dropped) == ("31255504034", [])
    [warning] = warnings
    assert "+31" in warning
    assert "with one digit fewer it is a US number" in warning
    assert "255504034" not in warning  # the warning never holds the number


@pytest.mark.parametrize("raw", ["+31255504034", "0031255504034", "447911123456", "5105550113", "15105550113"])
def test_a_number_with_its_international_prefix_or_that_no_typo_explains_reads_without_a_warning(raw: str) -> None:
    assert read_contact({"phone": raw}, "US")[2] == []


def test_the_doubt_depends_on_the_default_country() -> None:
    assert read_contact({"phone": "31255504034"}, "FR")[2] == []


# ------------------------------------------------------------------------------------------------ tags and lists


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


def test_lists_are_not_sent_to_heymarket_as_a_contact_field_in_either_mode() -> None:
    contact = Contact(phone="15105550113", first="Ann", lists=(42, "Spring open house"), tags=(3,))

    assert "lists" not in contact.to_heymarket()
    assert contact.fields_v1_cannot_send() == ["tags"]
    assert Contact.from_dict(contact.to_dict()) == contact


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


# ------------------------------------------------------------------------- issue 22: phone identity, contact rules
def evidence(field: str, value: object, *, of_number: bool = False) -> CountryEvidence:
    return CountryEvidence(field, value, of_number)


@pytest.mark.parametrize(
    ("value", "region"),
    [
        ("MX", "MX"),
        ("mx", "MX"),
        ("MEX", "MX"),
        ("México", "MX"),
        ("52", "MX"),
        ("+52", "MX"),
        ("Deutschland", "DE"),
        ("Österreich", "AT"),
        ("UK", "GB"),
        ("United States of America", "US"),
        ("U.S.A.", "US"),
        ("+525512345679", "MX"),
        (["FR"], "FR"),
    ],
)
def test_a_country_is_read_from_codes_names_calling_codes_and_international_numbers(value: object, region: str) -> None:
    country = country_of(value)

    assert country is not None
    assert country.region == region


@pytest.mark.parametrize("value", ["Narnia", "", "ZZ", "999", True, None, {"country": "MX"}, "+800 1234 5678"])
def test_a_value_naming_no_country_the_bridge_knows_is_none(value: object) -> None:
    assert country_of(value) is None


def test_a_national_number_is_read_in_the_named_country_not_the_default() -> None:
    assert normalise_phone("55 1234 5679", "US", [evidence("country", "MX")]) == "525512345679"


def test_without_evidence_a_national_number_is_read_in_the_default_region() -> None:
    assert normalise_phone("55 1234 5679", "US") == "15512345679"


def test_an_international_number_is_self_describing_whatever_the_persons_country() -> None:
    assert normalise_phone("+44 7400 123456", "US", [evidence("MailingCountryCode", "US")]) == "447400123456"


def test_evidence_about_the_number_that_names_another_code_refuses_naming_both() -> None:
    with pytest.raises(ValueError, match=r"is a \+44 number, but widget.country '52' says its country code is \+52"):
        read_phone("+44 7400 123456", "US", [evidence("widget.country", "52", of_number=True)])


def test_evidence_about_the_number_outranks_the_persons_country() -> None:
    found = [evidence("country", "US"), evidence("calculated", "+525512345679", of_number=True)]

    assert normalise_phone("55 1234 5679", "US", found) == "525512345679"


def test_a_national_number_not_valid_in_the_named_country_is_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"is not a valid MX \(\+52\) number, the country named by country 'Mexico'"):
        read_phone("0664 123456", "US", [evidence("country", "Mexico")])


def test_two_countries_for_a_national_number_are_refused_naming_both() -> None:
    with pytest.raises(ValueError, match=r"two countries for it: a 'MX' \(\+52\), b 'DE' \(\+49\)"):
        read_phone("5105550157", "US", [evidence("a", "MX"), evidence("b", "DE")])


def test_two_regions_of_one_calling_code_are_one_country() -> None:
    assert normalise_phone("(506) 234-5678", "GB", [evidence("a", "US"), evidence("b", "CA")]) == "15062345678"


def test_a_country_the_bridge_cannot_read_refuses_a_national_number() -> None:
    with pytest.raises(ValueError, match="'Narnia' is not a country the bridge can read"):
        read_phone("5105550157", "US", [evidence("country", "Narnia")])


def test_digits_without_plus_are_an_international_number_only_in_the_named_country() -> None:
    assert normalise_phone("525512345679", "US", [evidence("country", "MX")]) == "525512345679"
    with pytest.raises(ValueError, match="not a valid MX"):
        read_phone("447400123456", "US", [evidence("country", "MX")])


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(510) 555-0157 (cell)", "15105550157"),
        ("+49 30 1234567 (Arbeit)", "49301234567"),
        ("Büro: +43 1 234567", "431234567"),
        ("privat +49 30 12345678", "493012345678"),
        ("Mobile: 510.555.0157", "15105550157"),
        ("510-555-0157 x12", "15105550157"),
        ("510-555-0157 ext. 12", "15105550157"),
        ("510-555-0157 #12", "15105550157"),
        ("home (510) 555-0100, work (510) 555-0199", "15105550100"),
        ("12; (510) 555-0157", "15105550157"),
        ("(510) 555-0157; ask for Jim", "15105550157"),
        ("home 510 555 0100 cell 510 555 0157", "15105550100"),
        ("1-800-FLOWERS", "18003569377"),
        ("1 (800) FLOWERS", "18003569377"),
        ("5105550157x12", "15105550157"),
        ("+49 30 1234567 Durchwahl 12", "49301234567"),
        ("+43 (0) 664 123456 (Handy)", "43664123456"),
        ("510 555 0157 (home) / 510 555 0199 (cell)", "15105550157"),
        ("+1 800 GOT JUNK", "18004685865"),
        ("tel:+49-30-1234567", "49301234567"),
    ],
)
def test_free_text_is_read_without_labels_and_extensions(raw: str, expected: str) -> None:
    assert normalise_phone(raw, "US") == expected


@pytest.mark.parametrize("raw", ["510 555 0157 Mom", "call 510 555 0157", "(510) 555-0157 (cell) Jim"])
def test_a_word_that_is_no_label_is_refused_naming_it(raw: str) -> None:
    with pytest.raises(ValueError, match="phone has the word"):
        normalise_phone(raw, "US")


def test_letters_beside_a_label_are_never_vanity_digits() -> None:
    with pytest.raises(ValueError, match="phone has the word 'ABC'"):
        normalise_phone("+49 30 1234567 Arbeit ABC", "US")


@pytest.mark.parametrize("digits", ["4930123456727234", "1" * 16, "+15105550157", "", "15105550157x"])
def test_a_contact_never_holds_a_phone_that_is_not_1_to_15_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="1 to 15 digits"):
        Contact(phone=digits)


def test_a_queued_contact_with_too_many_digits_cannot_be_rebuilt() -> None:
    with pytest.raises(ValueError, match="1 to 15 digits"):
        Contact.from_dict({"phone": "4930123456727234"})


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


def test_a_submissions_country_and_its_sources_evidence_decide_the_phone() -> None:
    raw = {
        "phone": "0664 123456",
        "country_evidence": [{"field": "address.country", "value": "Austria", "of_number": False}],
    }

    contact, _, _ = read_contact(raw, "US")

    assert contact.phone == "43664123456"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from("0123456789 +-().#xX/;,:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyzÜü")
    ).filter(lambda text: len(text) <= 120),
    st.sampled_from([(), ("country", "DE"), ("country", "52"), ("country", "Narnia")]),
)
def test_any_text_is_read_as_at_most_15_digits_or_refused_with_a_value_error(
    text: str, given_country: tuple[str, str] | tuple[()]
) -> None:
    found = [CountryEvidence(given_country[0], given_country[1])] if given_country else []
    try:
        digits = normalise_phone(text, "US", found)
    except ValueError:
        return
    assert digits.isdigit()
    assert len(digits) <= 15


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


def test_a_phone_longer_than_any_formatting_allows_is_refused_before_it_is_normalised() -> None:
    with pytest.raises(ValueError, match="phone is too long"):
        normalise_phone("\u200b" * (MAX_RAW_TEXT + 1), "US")
