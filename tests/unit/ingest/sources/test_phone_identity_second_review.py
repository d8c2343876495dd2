"""Second review of issue 22 (phone identity): attacks the fix does not resolve. Each test states the behaviour the
issue and the README ask for; every one of them fails on the reviewed commit (7371c05)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.observability import metrics
from tests.unit.ingest.sources.payloads import calendly, hubspot, jotform, salesforce, stored, typeform
from tests.unit.ingest.sources.test_phone_identity_review import letters_of


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


# ------------------------------------------- 1. country evidence lost when the phone is mapped (the README's own
# example mapping "jotform": {"phone": "mobileNumber"}): the Phone widget's Country Code sub-field is ignored and the
# Mexican number is stored as the US stranger +1 551-234-5679.
def test_jotform_mapped_phone_widget_keeps_its_country_code() -> None:
    event = jotform({"q7_mobileNumber": {"country": "52", "area": "55", "phone": "1234 5679"}})
    assert stored(event, mappings={"jotform": {"phone": "mobileNumber"}}) == "525512345679"


# ------------------------------------------- 2. someone else's phone is still a fallback when the respondent's own
# phone does not parse and the other field's wording is outside the word list (other languages, other phrasings).
SOMEONE_ELSE = [
    pytest.param("緊急連絡先の電話番号", id="Japanese: emergency contact phone"),
    pytest.param("紧急联系人电话", id="Chinese: emergency contact phone"),
    pytest.param("Telefon do osoby kontaktowej w nagłych wypadkach", id="Polish: emergency contact"),
    pytest.param("Telefon till anhörig", id="Swedish: next of kin"),
    pytest.param("Acil durum iletişim telefonu", id="Turkish: emergency contact"),
    pytest.param("Who should we call if we can't reach you?", id="English: who should we call"),
    pytest.param("Gift recipient's phone", id="English: gift recipient"),
    pytest.param("Phone number of the person picking up the order", id="English: person picking up"),
]


@pytest.mark.parametrize("title", SOMEONE_ELSE)
def test_typeform_never_falls_back_to_another_persons_phone(title: str) -> None:
    event = typeform(
        ("p", "Your phone", "phone_number", "+1 12"),
        ("e", title, "phone_number", "+15105550157"),
    )
    assert stored(event).startswith("refused"), "the respondent's phone does not parse: another phone was stored"


@pytest.mark.parametrize(
    "field",
    ["q5_recipientPhone", "q5_giftRecipientPhone", "q5_hostPhone", "q5_studentPhone"],
)
def test_jotform_never_falls_back_to_another_persons_phone(field: str) -> None:
    event = jotform({"q4_phone": {"full": "12"}, field: {"full": "(510) 555-0157"}})
    assert stored(event).startswith("refused"), "the respondent's phone does not parse: another phone was stored"


@pytest.mark.parametrize(
    "question",
    ["Teléfono de tu acompañante", "Guest phone number", "Patient's phone number"],
)
def test_calendly_never_takes_a_question_about_someone_else(question: str) -> None:
    assert stored(calendly(None, (question, "(510) 555-0157"))).startswith("refused")


# ------------------------------------------- 3. more country evidence the payload gives and the bridge ignores
def test_hubspot_calculated_phone_country_code_names_the_country() -> None:
    event = hubspot({"mobilephone": "55 1234 5679", "hs_calculated_phone_number_country_code": "MX"})
    assert stored(event) in ("525512345679",) or stored(event).startswith("refused")


def test_salesforce_person_account_mobile_is_read_in_its_person_mailing_country() -> None:
    event = salesforce(
        {"LastName": "Ruiz", "PersonMobilePhone": "55 1234 5679", "PersonMailingCountryCode": "MX"}, kind="Account"
    )
    assert stored(event) == "525512345679"


def test_salesforce_person_account_other_address_country_is_evidence() -> None:
    event = salesforce({"LastName": "Ruiz", "Phone": "55 1234 5679", "PersonOtherCountryCode": "MX"}, kind="Account")
    assert stored(event) != "15512345679", "a Mexican number guessed as a US stranger's"


# ------------------------------------------- 4. a refusal letter must keep the fields as received, the phone too:
# the reason masks the number, so without it the operator cannot correct it with --set.
@pytest.mark.parametrize(
    "event",
    [
        pytest.param(
            lambda: salesforce(
                {
                    "LastName": "X",
                    "MobilePhone": "55 1234 5679",
                    "MailingCountryCode": "MX",
                    "MailingCountry": "Germany",
                }
            ),
            id="salesforce: two countries",
        ),
        pytest.param(lambda: hubspot({"mobilephone": "07700 900123", "country": "UK"}), id="hubspot: not valid in GB"),
        pytest.param(lambda: typeform(("p", "Phone", "phone_number", "+1 12")), id="typeform: unreadable"),
    ],
)
def test_refusal_letter_keeps_the_phone_as_received(event: Any) -> None:
    [letter] = letters_of(event())
    fields = json.loads(letter.to_json())["fields"]
    assert any("phone" in key.lower() for key in fields), f"the letter keeps no phone: {sorted(fields)}"


# ------------------------------------------- 5. free text: common labels still refused
@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        pytest.param("Cel. 55 1234 5679", "MX", "525512345679", id="Spanish 'Cel.'"),
        pytest.param("(510)\n555-0157", "US", "15105550157", id="a line break inside the number"),
    ],
)
def test_labels_and_breaks_in_free_text(value: str, country: str, expected: str) -> None:
    event = salesforce({"LastName": "X", "MobilePhone": value, "MailingCountryCode": country})
    assert stored(event) == expected


# ------------------------------------------- 7. Shopify: a customer whose only address (their own, not marked default)
# is in Mexico names Mexico; the national phone is still read as the US stranger +1 551-234-5679.
def test_shopify_national_phone_read_in_the_country_of_the_customers_own_address() -> None:
    from tests.unit.ingest.sources.payloads import shopify

    event = shopify(
        {
            "phone": "55 1234 5679",
            "default_address": None,
            "addresses": [
                {"first_name": "Mary", "last_name": "Jackson", "phone": None, "country_code": "MX", "default": False}
            ],
        }
    )
    assert stored(event) != "15512345679", "the payload names Mexico: never the default region's reading"


# ------------------------------------------- 8. international dialling prefixes of the named country (AU 0011, JP 010,
# RU 810) are not honoured: a valid number written as its owner dials it is refused.
@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [
        pytest.param("0011 44 7911 123456", "AU", "447911123456", id="AU 0011"),
        pytest.param("010 44 7911 123456", "JP", "447911123456", id="JP 010"),
        pytest.param("0011 61 412 345 678", "AU", "61412345678", id="AU 0011 to its own code"),
    ],
)
def test_the_named_countrys_international_prefix_is_read(phone: str, country: str, expected: str) -> None:
    from tests.unit.ingest.sources.payloads import generic

    assert stored(generic({"phone": phone, "country": country, "first": "X"})) == expected
