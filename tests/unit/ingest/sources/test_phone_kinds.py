"""Phone identity at ingest, the kinds the review of issue 22 found still open (its findings 3-11), each tried on
instances beyond the review's examples: other countries and ways of writing a calling code, other languages' words
for someone else, other shapes of an event time, other places a payload names a country."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.phone import read_phone
from heymarket_bridge.domain.phone_owner import about_someone_else, asks_for_phone, country_answers
from heymarket_bridge.observability import metrics
from heymarket_bridge_tools.signing import event_body
from tests.unit.ingest.sources.harness import deliver, with_body
from tests.unit.ingest.sources.payloads import (
    calendly,
    generic,
    hubspot,
    jotform,
    salesforce,
    shopify,
    stored,
    typeform,
)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Any:
    yield
    metrics.clear_metrics()


def person(country: str) -> list[CountryEvidence]:
    return [CountryEvidence("country", country)]


def _typeform_hidden_country(phone: str, country: str) -> dict[str, Any]:
    from tests.unit.ingest.sources.harness import payload_of, with_json

    event = typeform(("m", "Mobile", "text", phone))
    payload = payload_of(event)
    payload["form_response"]["hidden"] = {"country": country}
    return with_json(event, payload)


# ------------------------------------------------------------------ 3. the default region's number with its code
@pytest.mark.parametrize("country", ["MX", "AT", "DE", "GB", "FR", "BR", "CN", "IT", "ES", "AR"])
@pytest.mark.parametrize("written", ["1-415-555-2671", "1 (718) 555-0175", "1.646.555.0100", "(1) 800 356 9377"])
def test_a_us_number_written_with_its_1_is_never_read_as_a_number_of_the_named_country(
    country: str, written: str
) -> None:
    # Given a US number written with its calling code but no "+", beside a person's country that is not the US
    # When it is read
    # Then it is refused, naming both the named country and the +1 reading
    with pytest.raises(ValueError, match=rf"{country} .*\+1 "):
        read_phone(written, "US", person(country))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    area=st.sampled_from((201, 212, 312, 415, 510, 512, 646, 713, 718, 800, 917)),
    line=st.integers(2_000_000, 9_999_999),
    region=st.sampled_from(
        sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.country_code_for_region(r) != 1)
    ),
)
def test_no_country_makes_a_us_number_written_with_its_1_its_own(area: int, line: int, region: str) -> None:
    # Given a valid US number written "1 <area> <line>" and any non-NANP country named for the person
    national = f"{area}{line}"
    if not phonenumbers.is_valid_number(phonenumbers.parse(national, "US")):
        return
    # When it is read, Then it is refused or it is the US number: never the named country's
    try:
        digits = read_phone(f"1 {national}", "US", person(region)).digits
    except ValueError:
        return
    assert digits == f"1{national}"


@pytest.mark.parametrize(
    ("written", "country", "expected"),
    [
        ("55 1234 5679", "MX", "525512345679"),  # a national number is still read in the named country
        ("044 55 1234 5678", "MX", "525512345678"),  # Mexico's old local mobile prefix
        ("045 33 1234 5678", "Mexico", "523312345678"),  # and its long-distance one
        ("01 55 1234 5678", "MX", "525512345678"),  # and its old long-distance trunk prefix
        ("52 1 55 1234 5678", "MX", "525512345678"),  # +52 1 written without its "+"
        ("33 99123 4567", "BR", "5533991234567"),  # also +33 (France) as written, but not the default region's
        ("030 1234567", "DE", "49301234567"),
        ("0664 1234567", "AT", "436641234567"),
    ],
)
def test_national_numbers_of_the_named_country_are_read_there(written: str, country: str, expected: str) -> None:
    assert read_phone(written, "US", person(country)).digits == expected


def test_a_us_number_with_its_1_in_a_mexican_default_region_is_refused_naming_both() -> None:
    # DefaultCountry MX: "1 415 555 2671" is Mexico's old mobile form only by a rewrite, +1 415 555 2671 as written
    with pytest.raises(ValueError, match=r"\+1 \(US\)"):
        read_phone("1 415 555 2671", "MX")


@pytest.mark.parametrize(
    ("written", "default", "country", "expected"),
    [
        ("011 52 55 1234 5679", "US", "MX", "525512345679"),  # dialled from the US, beside the person's country
        ("011 44 7400 123456", "US", "MX", "447400123456"),  # a traveller's number: its own country wins, as with +
        ("0011 61 412 345 678", "AU", None, "61412345678"),  # Australia's prefix is no "00" and a +11 number
        ("010 44 7400 123456", "JP", None, "447400123456"),
    ],
)
def test_a_number_dialled_with_the_default_regions_international_prefix_is_read_as_international(
    written: str, default: str, country: str | None, expected: str
) -> None:
    assert read_phone(written, default, person(country) if country else []).digits == expected


# ------------------------------------------------------------------ 8. a country the bridge cannot read
@pytest.mark.parametrize(
    "evidence",
    [
        [CountryEvidence("country", "MX"), CountryEvidence("country_code", "Atlantis")],
        [CountryEvidence("country", "Narnia"), CountryEvidence("country_code", "52")],
        [CountryEvidence("q4_phoneNumber.country", "Westeros", of_number=True)],
    ],
)
def test_an_unreadable_country_refuses_a_national_number_even_beside_a_readable_one(
    evidence: list[CountryEvidence],
) -> None:
    with pytest.raises(ValueError, match="not a country the bridge can read"):
        read_phone("55 1234 5679", "US", evidence)


def test_an_unreadable_country_code_of_the_number_refuses_an_international_number() -> None:
    # A Jotform Country Code sub-field holding a whole number is no calling code: which is right is a guess
    evidence = [CountryEvidence("q4_phoneNumber.country", "15105550157", of_number=True)]

    with pytest.raises(ValueError, match="not a country code the bridge can read"):
        read_phone("+44 7400 123456", "US", evidence)


# ------------------------------------------------------------------ 4. someone else's field, in any spelling
@pytest.mark.parametrize(
    "label",
    [
        "q5_guardianphone",
        "q6_fatherscell",
        "q7_emergencynumber",
        "notfallnummer",
        "q8_elterntelefon",
        "Telefone da mãe",
        "ICE phone",
        "Phone of a colleague we can reach",
        "Número de la madre",
        "Cellulare della moglie",
        "Téléphone du conjoint",
        "Grandmother's phone",
        "spousemobile",
        "Contact phone (parent/guardian)",
    ],
)
def test_a_field_about_someone_else_is_recognised_whatever_its_spelling(label: str) -> None:
    assert about_someone_else(label)


@pytest.mark.parametrize(
    "label",
    ["Privater Telefon", "privatertelefon", "Personal phone", "phoneNumber5", "Your cell", "Telefonnummer", "Celular"],
)
def test_a_respondents_own_field_is_not_taken_for_someone_elses(label: str) -> None:
    assert not about_someone_else(label)


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(generic({"phone": "510 555 0157 (Dad)"}), id="(Dad)"),
        pytest.param(generic({"phone": "510 555 0157 [Notfall]"}), id="[Notfall]"),
        pytest.param(generic({"phone": "510 555 0157 (madre)"}), id="(madre)"),
        pytest.param(hubspot({"mobilephone": "510 555 0157 (spouse)"}), id="hubspot (spouse)"),
    ],
)
def test_a_number_marked_in_brackets_as_someone_elses_is_refused(event: dict[str, Any]) -> None:
    assert stored(event).startswith("refused: ")


def test_a_label_in_brackets_is_still_removed() -> None:
    assert stored(generic({"phone": "(510) 555-0157 (Handy)"})) == "15105550157"


def test_a_jotform_phone_field_labelled_as_the_respondents_is_taken() -> None:
    # A relabelled widget whose label is only in `pretty`: the respondent's own, so it is the phone
    from tests.unit.ingest.sources.test_phone_identity_review import jotform_labelled

    event = jotform_labelled({"q5_phoneNumber5": {"full": "(510) 555-0100"}}, "Full Name:Ana Ruiz, Cell:(510) 555-0100")

    assert stored(event) == "15105550100"


def test_a_jotform_widget_labelled_as_a_parents_is_named_in_the_refusal() -> None:
    from tests.unit.ingest.sources.test_phone_identity_review import jotform_labelled

    event = jotform_labelled(
        {"q5_phoneNumber5": {"full": "(510) 555-0100"}}, "Full Name:Ana Ruiz, Dad's cell:(510) 555-0100"
    )

    assert "Dad's cell" in stored(event)


# ------------------------------------------------------------------ 10. phone questions in other languages
@pytest.mark.parametrize(
    "question", ["Número de celular", "Telefone", "Numero di cellulare", "Mobilnummer", "Teléfono móvil", "Natel"]
)
def test_a_phone_question_in_another_language_is_read(question: str) -> None:
    assert asks_for_phone(question)
    assert stored(calendly(None, (question, "+49 151 23456789"))) == "4915123456789"


def test_a_typeform_text_question_in_portuguese_gives_the_phone() -> None:
    event = typeform(("cel", "Celular", "text", "+55 11 96123 4567"))

    assert stored(event) == "5511961234567"


# ------------------------------------------------------------------ 7. the country a payload names, wherever it is
@pytest.mark.parametrize(
    ("event", "expected"),
    [
        pytest.param(
            typeform(("m", "Mobile", "text", "030 1234567"), ("c", "País", "choice", {"label": "Alemania"})),
            "49301234567",
            id="typeform: a País choice",
        ),
        pytest.param(
            calendly(None, ("Handynummer", "0151 23456789"), ("Land", "Deutschland")),
            "4915123456789",
            id="calendly: a Land answer",
        ),
        pytest.param(
            calendly(None, ("Phone", "(510) 555-0157"), ("Country of birth", "Mexico")),
            "15105550157",
            id="calendly: a country of birth is not where the phone is",
        ),
        pytest.param(
            salesforce({"Phone": "0664 1234567", "ShippingCountry": "Austria"}, kind="Account"),
            "436641234567",
            id="salesforce: an Account's shipping country",
        ),
        pytest.param(
            hubspot({"mobilephone": "55 1234 5679", "ip_country_code": "mx"}),
            "525512345679",
            id="hubspot: ip_country_code when nothing else names a country",
        ),
        pytest.param(
            hubspot({"mobilephone": "(510) 555-0157", "country": "United States", "ip_country_code": "mx"}),
            "15105550157",
            id="hubspot: a country property wins over ip_country_code",
        ),
        pytest.param(
            shopify(
                {"phone": "030 1234567", "addresses": [{"country_code": "US"}, {"country_code": "DE", "default": True}]}
            ),
            "49301234567",
            id="shopify: the default item of addresses",
        ),
        pytest.param(
            shopify(
                {
                    "phone": "55 1234 5679",
                    "first_name": "Mary",
                    "last_name": "Major",
                    "billing_address": {"first_name": "Gift", "last_name": "Friend", "country_code": "MX"},
                }
            ),
            "15512345679",
            id="shopify: an address in another person's name names no country for the customer",
        ),
        pytest.param(
            hubspot({"mobilephone": "0151 23456789", "ip_country": "germany"}),
            "4915123456789",
            id="hubspot: ip_country (a name)",
        ),
        pytest.param(_typeform_hidden_country("030 1234567", "DE"), "49301234567", id="typeform: a hidden country"),
        pytest.param(
            jotform({"q4_phoneNumber": {"full": "030 1234567"}, "q7_country": "Germany"}),
            "49301234567",
            id="jotform: a Country dropdown",
        ),
    ],
)
def test_a_national_number_is_read_in_the_country_the_payload_names(event: dict[str, Any], expected: str) -> None:
    assert stored(event) == expected


def test_country_answers_skip_someone_elses_and_non_residence_questions() -> None:
    pairs = [("Emergency contact country", "MX"), ("Nationality", "FR"), ("Country of residence", "DE")]

    assert [item.value for item in country_answers(pairs)] == ["DE"]


# ------------------------------------------------------------------ 9. an address in another person's name
def test_a_shopify_address_in_another_persons_name_is_named_in_the_refusal() -> None:
    event = shopify(
        {"phone": None, "first_name": "Mary", "default_address": {"first_name": "Gift", "phone": "+15105550100"}}
    )

    assert "another person" in stored(event)


def test_a_shopify_address_in_the_customers_own_name_gives_the_phone() -> None:
    event = shopify(
        {"phone": None, "first_name": "Mary", "default_address": {"first_name": "MARY", "phone": "+15105550100"}}
    )

    assert stored(event) == "15105550100"


# ------------------------------------------------------------------ 6. order inside one delivery
def test_the_newest_of_three_notifications_of_one_salesforce_record_is_the_one_kept() -> None:
    event = salesforce(
        {"MobilePhone": "+15105550157", "LastModifiedDate": "2026-11-23T08:57:00.000Z"},
        {"MobilePhone": "+15105550159", "LastModifiedDate": "2026-11-23T08:59:00.000Z"},
        {"MobilePhone": "+15105550158", "LastModifiedDate": "2026-11-23T08:58:00.000Z"},
    )
    body = event_body(event).decode()
    for index in (1, 2):
        body = body.replace(f"00300000000000{index}AAA", "003000000000000AAA")

    delivered = deliver(with_body(event, body))

    assert [contact["phone"] for contact in delivered.queued] == ["15105550159"]


def test_notifications_of_different_salesforce_records_are_all_kept() -> None:
    event = salesforce(
        {"MobilePhone": "+15105550157", "LastModifiedDate": "2026-11-23T08:59:00.000Z"},
        {"MobilePhone": "+15105550158", "LastModifiedDate": "2026-11-23T08:58:00.000Z"},
    )

    assert sorted(contact["phone"] for contact in deliver(event).queued) == ["15105550157", "15105550158"]


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        pytest.param(1795424340, 1795424280, id="epoch seconds"),
        pytest.param("1795424340000", ["1795424280000"], id="ms text and a one-item list"),
        pytest.param("2026-11-23T03:59:00-05:00", "2026-11-23T08:58:00.000000Z", id="offsets"),
    ],
)
def test_generic_contacts_for_one_phone_follow_their_occurred_at(newer: Any, older: Any) -> None:
    body = [
        {"phone": "5105550157", "first": "New", "occurred_at": newer},
        {"phone": "5105550157", "first": "Old", "occurred_at": older},
    ]

    [contact] = deliver(generic(body)).queued

    assert contact["first"] == "New"


@pytest.mark.parametrize("bad", ["9999999999999999", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", 1e308])
def test_a_contact_with_an_impossible_event_time_is_queued_without_it(bad: Any) -> None:
    delivered = deliver(generic({"phone": "+15105550157", "occurred_at": bad}))

    assert delivered.status == 202
    assert [message.get("occurred_at") for message in delivered.messages] == [None]


def test_an_older_generic_record_of_a_contact_id_with_its_old_phone_is_not_applied() -> None:
    # Mia moved from ...157 to ...158 (contact_id 77): the older record, later in the array, holds the number she left
    body = [
        {"phone": "5105550158", "first": "Mia", "contact_id": "77", "occurred_at": "2026-11-23T08:59:00Z"},
        {"phone": "5105550157", "first": "Mia", "contact_id": "77", "occurred_at": "2026-11-23T08:58:00Z"},
    ]

    assert [contact["phone"] for contact in deliver(generic(body)).queued] == ["15105550158"]


def test_generic_records_of_one_contact_id_and_one_phone_are_all_applied_in_time_order() -> None:
    body = [
        {"phone": "5105550158", "first": "New", "contact_id": "77", "occurred_at": "2026-11-23T08:59:00Z"},
        {
            "phone": "(510) 555-0158",
            "first": "Old",
            "email": "mia@example.com",
            "contact_id": "77",
            "occurred_at": "2026-11-23T08:58:00Z",
        },
    ]

    [contact] = deliver(generic(body)).queued

    assert (contact["first"], contact["email"]) == ("New", "mia@example.com")
