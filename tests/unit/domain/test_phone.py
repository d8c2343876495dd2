"""Reading a phone (heymarket_bridge.domain.phone): formats, countries, free text, warnings."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heymarket_bridge.domain.contact import read_contact
from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.fields import MAX_RAW_TEXT
from heymarket_bridge.domain.phone import normalise_phone, read_phone


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


# ------------------------------------------------------------------------- issue 22: phone identity, contact rules
def evidence(field: str, value: object, *, of_number: bool = False) -> CountryEvidence:
    return CountryEvidence(field, value, of_number)


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


def test_a_phone_longer_than_any_formatting_allows_is_refused_before_it_is_normalised() -> None:
    with pytest.raises(ValueError, match="phone is too long"):
        normalise_phone("\u200b" * (MAX_RAW_TEXT + 1), "US")
