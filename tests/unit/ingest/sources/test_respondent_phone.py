"""Issue 22, second review: the respondent's phone is one field chosen by a structural rule (never a later phone
question when it does not read), a mapped phone keeps its own field's country evidence, and HubSpot app subscription
events are refused saying what they are. One row per behaviour; each row gives the stored number or the refusal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.observability import metrics
from tests.unit.ingest.sources.harness import with_json
from tests.unit.ingest.sources.payloads import calendly, hubspot, jotform, salesforce, stored, typeform


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


ROWS = [
    pytest.param(
        typeform(
            ("k", "Parent's phone", "phone_number", "+15105550100"),
            ("p", "Your phone", "phone_number", "+447911123456"),
        ),
        "447911123456",
        id="typeform: a known someone-else question first, the respondent's own second: the respondent's",
    ),
    pytest.param(
        typeform(
            ("x", "Numéro de la personne à prévenir", "phone_number", "+15105550100"),
            ("p", "Phone", "phone_number", "+447911123456"),
        ),
        "447911123456",
        id="typeform: an unknown wording first, a plain 'Phone' later: the plain phone question is the respondent's",
    ),
    pytest.param(
        typeform(
            ("p", "Your phone", "phone_number", "+1 12"), ("x", "Autre numéro utile", "phone_number", "+15105550100")
        ),
        "refused: ",
        id="typeform: the respondent's unreadable phone is refused, never a later question",
    ),
    pytest.param(
        jotform({"q3_phone": {"full": "not yet"}, "q9_numberAt": {"full": "(510) 555-0157"}}),
        "refused: ",
        id="jotform: the first phone widget does not read: refused, never the next widget",
    ),
    pytest.param(
        calendly(None, ("Phone number", "+52 55 1234 5679"), ("Guest phone number", "(510) 555-0157")),
        "525512345679",
        id="calendly: the question plainly asking for a phone, never the guest's",
    ),
    pytest.param(
        hubspot({"mobilephone": "n/a", "phone": "+44 7911 123456"}),
        "447911123456",
        id="hubspot: the record's own phone when its mobile does not read (the same person's fields)",
    ),
    pytest.param(
        salesforce(
            {"LastName": "R", "PersonMobilePhone": "n/a", "Phone": "030 1234567", "PersonMailingCountryCode": "DE"},
            kind="Account",
        ),
        "49301234567",
        id="salesforce: a Person Account's Phone after its unreadable PersonMobilePhone, in its mailing country",
    ),
]


@pytest.mark.parametrize(("event", "expected"), ROWS)
def test_the_respondents_phone_is_one_field_chosen_by_its_place_and_name(event: dict[str, Any], expected: str) -> None:
    assert stored(event).startswith(expected) if expected == "refused: " else stored(event) == expected


def test_a_refusal_names_the_respondents_field_and_the_fields_never_used_in_its_place() -> None:
    # Given a form whose respondent's phone does not read, and a later phone question in an unknown wording
    event = typeform(
        ("p", "Your phone", "phone_number", "+1 12"), ("x", "Autre numéro utile", "phone_number", "+15105550100")
    )

    # When it is delivered, Then the refusal names both fields
    reason = stored(event)
    assert "Your phone" in reason
    assert "Autre numéro utile" in reason


@pytest.mark.parametrize(
    ("event", "mapping", "expected"),
    [
        pytest.param(
            hubspot({"mobilephone": "55 1234 5679", "hs_calculated_mobile_number": "+525512345679"}),
            {"hubspot": {"phone": "mobilephone"}},
            "525512345679",
            id="hubspot: a mapped mobilephone keeps its calculated international form",
        ),
        pytest.param(
            jotform({"q7_mobileNumber": {"country": "43", "area": "664", "phone": "123456"}}),
            {"jotform": {"phone": ["mobileNumber"]}},
            "43664123456",
            id="jotform: a mapped Phone widget keeps its Country Code (Austria, variable length)",
        ),
    ],
)
def test_a_mapped_phone_keeps_the_evidence_about_its_own_field(
    event: dict[str, Any], mapping: dict[str, Any], expected: str
) -> None:
    assert stored(event, mappings=mapping) == expected


def test_a_hubspot_app_subscription_event_is_refused_saying_it_carries_no_contact() -> None:
    # Given an app's webhook subscription event (one changed property of a contact known by its id)
    event = with_json(
        hubspot({}),
        [
            {
                "eventId": 1,
                "subscriptionId": 2,
                "portalId": 3,
                "occurredAt": 1764000000000,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
                "objectId": 123,
                "propertyName": "phone",
                "propertyValue": "55 1234 5679",
            }
        ],
    )

    # When it is delivered, Then it is refused as an event without a contact, never read as a national number
    reason = stored(event)
    assert reason.startswith("refused: ")
    assert "subscription event" in reason
    assert "not the contact" in reason


@pytest.mark.parametrize(
    ("value", "country", "expected"),
    [
        pytest.param("Cel. 55 1234 5679", "MX", "525512345679", id="an abbreviated label with its dot"),
        pytest.param("(510)\n555-0157", "US", "15105550157", id="a line break inside one number"),
        pytest.param("1 800 FLOWERS (cell)", "US", "18003569377", id="a vanity number with a label after it"),
        pytest.param("(cell) 1-800-FLOWERS", "US", "18003569377", id="a vanity number with a label before it"),
        pytest.param("1-800-FLOWERS ext 12", "US", "18003569377", id="a vanity number with an extension"),
        pytest.param("0xx11 91234-5678", "BR", "5511912345678", id="Brazil's 0xx carrier choice"),
        pytest.param("510 555 0150 x 123456789", "US", "15105550150", id="a long extension"),
        pytest.param("(510) 555-0157 - mobile - best after 5pm", "US", "15105550157", id="a note after a dash"),
        pytest.param("030 - 1234567", "DE", "49301234567", id="a German area code apart by a dash"),
        pytest.param("0011 44 7911 123456", "AU", "447911123456", id="Australia's international prefix"),
        pytest.param("010 44 7911 123456", "JP", "447911123456", id="Japan's international prefix"),
        pytest.param("8 10 44 7911 123456", "RU", "447911123456", id="Russia's international prefix"),
    ],
)
def test_free_text_and_the_named_countrys_international_prefix(value: str, country: str, expected: str) -> None:
    from heymarket_bridge.domain.country import CountryEvidence
    from heymarket_bridge.domain.phone import read_phone

    assert read_phone(value, "US", [CountryEvidence("country", country)]).digits == expected


@pytest.mark.parametrize(
    ("value", "country", "reason"),
    [
        pytest.param("510 555 0157 (Sekretariat)", "US", "someone other than the contact", id="a secretary's line"),
        pytest.param("0xx11 91234-5678", "US", "Brazil's carrier choice", id="0xx with a country that is not Brazil"),
    ],
)
def test_free_text_that_is_not_the_persons_own_number_is_refused(value: str, country: str, reason: str) -> None:
    from heymarket_bridge.domain.country import CountryEvidence
    from heymarket_bridge.domain.phone import read_phone

    with pytest.raises(ValueError, match=reason):
        read_phone(value, "US", [CountryEvidence("country", country)])
