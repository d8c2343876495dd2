"""Phone identity at ingest (issue 22): the right person's number, read in the right country, or a refusal that says
why. One table per kind; each row is a delivery from one source and the stored phone (E.164 digits) or the refusal.

Countries: US (the default), Mexico (national numbers of a NANP number's length), Germany and Austria (variable
length), the United Kingdom, France, Brazil.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heymarket_bridge.domain.phone_owner import about_someone_else
from heymarket_bridge.observability import metrics
from tests.unit.ingest.sources.harness import deliver
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

Row = tuple[str, dict[str, Any], str]


def rows(*table: Row) -> Any:
    return pytest.mark.parametrize(("event", "expected"), [pytest.param(e, x, id=i) for i, e, x in table])


def assert_outcome(outcome: str, expected: str) -> None:
    """`expected` is the stored phone's digits, or "refused: " and the fragments ("a | b") the reasons must hold."""
    if not expected.startswith("refused: "):
        assert outcome == expected
        return
    assert outcome.startswith("refused: ")
    for fragment in expected.removeprefix("refused: ").split(" | "):
        assert fragment in outcome


# ------------------------------------------------------------------------------------ 1. country evidence
COUNTRY_EVIDENCE: list[Row] = [
    (
        "hubspot: national mobile with its calculated number and country -> Mexico",
        hubspot({"mobilephone": "55 1234 5679", "hs_calculated_mobile_number": "+525512345679", "country": "Mexico"}),
        "525512345679",
    ),
    (
        "hubspot: country property alone -> Mexico",
        hubspot({"mobilephone": "55 1234 5679", "country": "México"}),
        "525512345679",
    ),
    (
        "hubspot: region code -> UK",
        hubspot({"mobilephone": "07400 123456", "hs_country_region_code": "GB"}),
        "447400123456",
    ),
    ("hubspot: phone with country -> Germany", hubspot({"phone": "030 1234567", "country": "Germany"}), "49301234567"),
    (
        "hubspot: the calculated number outranks the person's country",
        hubspot(
            {"mobilephone": "55 1234 5679", "hs_calculated_mobile_number": "+525512345679", "country": "United States"}
        ),
        "525512345679",
    ),
    (
        "hubspot: an international number with another person's country is self-describing",
        hubspot({"mobilephone": "+44 7400 123456", "country": "United States"}),
        "447400123456",
    ),
    (
        "hubspot: an international number its calculated form contradicts is refused naming both",
        hubspot({"mobilephone": "+44 7400 123456", "hs_calculated_mobile_number": "+525512345679"}),
        "refused: 'mobilephone' | is a +44 number | hs_calculated_mobile_number (a +52 number, MX)",
    ),
    (
        "hubspot: a national number not valid in the named country is refused naming both",
        hubspot({"mobilephone": "0664 123456", "country": "Mexico"}),
        "refused: 'mobilephone' | ****56' is not a valid MX (+52) number | country 'Mexico'",
    ),
    (
        "salesforce: mailing country code -> Mexico",
        salesforce({"MobilePhone": "55 1234 5679", "MailingCountryCode": "MX"}),
        "525512345679",
    ),
    (
        "salesforce: mailing country name -> Austria",
        salesforce({"Phone": "0664 123456", "MailingCountry": "Austria"}),
        "43664123456",
    ),
    (
        "salesforce: a lead's country -> France",
        salesforce({"Phone": "06 12 34 56 78", "Country": "France"}, kind="Lead"),
        "33612345678",
    ),
    ("salesforce: Brazil", salesforce({"MobilePhone": "(11) 96123-4567", "MailingCountryCode": "BR"}), "5511961234567"),
    ("salesforce: UK", salesforce({"MobilePhone": "07400 123456", "MailingCountry": "United Kingdom"}), "447400123456"),
    (
        "salesforce: the other address's country when no mailing country is sent -> Mexico",
        salesforce({"MobilePhone": "55 1234 5679", "OtherCountry": "Mexico"}),
        "525512345679",
    ),
    (
        "salesforce: the mailing country wins over the other address's",
        salesforce({"MobilePhone": "55 1234 5679", "MailingCountryCode": "MX", "OtherCountryCode": "US"}),
        "525512345679",
    ),
    (
        "salesforce: two countries for a national number is refused naming both",
        salesforce({"MobilePhone": "5105550157", "MailingCountryCode": "MX", "Country": "US"}),
        "refused: 'MobilePhone' | ****57' has no country code | MailingCountryCode 'MX' (+52), Country 'US' (+1)",
    ),
    (
        "jotform: the phone widget's country code -> Mexico",
        jotform({"q4_phoneNumber": {"country": "52", "area": "55", "phone": "1234 5678"}}),
        "525512345678",
    ),
    (
        "jotform: the widget's full number with +43 -> Austria",
        jotform({"q4_phoneNumber": {"full": "0664 123456", "country": "+43"}}),
        "43664123456",
    ),
    (
        "jotform: the phone widget's country code -> UK",
        jotform({"q4_phoneNumber": {"country": "44", "area": "7400", "phone": "123456"}}),
        "447400123456",
    ),
    (
        "jotform: an address widget's country -> Germany",
        jotform({"q4_phoneNumber": {"full": "030 1234567"}, "q9_address": {"city": "Berlin", "country": "Germany"}}),
        "49301234567",
    ),
    (
        "jotform: the widget's country code contradicting an international number is refused naming both",
        jotform({"q4_phoneNumber": {"full": "+44 7400 123456", "country": "52"}}),
        "refused: 'q4_phoneNumber' | ****56' is a +44 number | q4_phoneNumber.country '52' says its country code is "
        "+52",
    ),
    (
        "shopify: the default address's phone in its country -> UK",
        shopify({"default_address": {"phone": "07400 123456", "country_code": "GB"}}),
        "447400123456",
    ),
    (
        "shopify: the customer's national phone in the billing address's country -> Germany",
        shopify({"phone": "030 1234567", "billing_address": {"country_code": "DE"}}),
        "49301234567",
    ),
    (
        "shopify: an E.164 phone with an address elsewhere is self-describing",
        shopify({"phone": "+13125550143", "default_address": {"country_code": "MX"}}),
        "13125550143",
    ),
    (
        "typeform: phone_number answers are E.164 -> Mexico",
        typeform(("mobile", "Mobile?", "phone_number", "+525512345679")),
        "525512345679",
    ),
    ("typeform: Germany", typeform(("mobile", "Mobile?", "phone_number", "+4930123456")), "4930123456"),
    ("calendly: an international SMS number -> Austria", calendly("+43 664 123456"), "43664123456"),
    ("calendly: Brazil", calendly("+55 11 96123-4567"), "5511961234567"),
    ("generic: country -> Mexico", generic({"phone": "55 1234 5679", "country": "MX"}), "525512345679"),
    ("generic: country_code -> Germany", generic({"phone": "030 1234567", "country_code": "DE"}), "49301234567"),
    ("generic: a calling code -> Austria", generic({"phone": "0664 123456", "country_code": "+43"}), "43664123456"),
    ("generic: nothing named -> the default region", generic({"phone": "5105550157"}), "15105550157"),
    (
        "generic: a country the bridge cannot read is refused naming it",
        generic({"phone": "5105550157", "country": "Narnia"}),
        "refused: ****57' has no country code | country 'Narnia' is not a country",
    ),
]


@rows(*COUNTRY_EVIDENCE)
def test_a_phone_is_read_in_the_country_its_payload_names(event: dict[str, Any], expected: str) -> None:
    assert_outcome(stored(event), expected)


MAPPED_COUNTRY: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    (
        "generic mapping: a mapped country -> Mexico",
        generic({"data": {"mobile": "55 1234 5679", "pais": "México"}}),
        {"generic": {"phone": "data.mobile", "country": "data.pais"}},
        "525512345679",
    ),
    (
        "hubspot mapping: a mapped phone keeps the contact's country, not another property's calculated number",
        hubspot(
            {
                "hs_whatsapp_phone_number": "0664 123456",
                "country": "Austria",
                "mobilephone": "55 1234 5679",
                "hs_calculated_mobile_number": "+525512345679",
            }
        ),
        {"hubspot": {"phone": "hs_whatsapp_phone_number"}},
        "43664123456",
    ),
    (
        "salesforce mapping: a custom phone and country field -> UK",
        salesforce({"Mobile_SMS__c": "07400 123456", "Country__c": "United Kingdom", "MailingCountryCode": "US"}),
        {"salesforce": {"phone": "Mobile_SMS__c", "country": "Country__c"}},
        "447400123456",
    ),
    (
        "jotform mapping: a mapped country code field -> Germany",
        jotform({"q5_handy": "0151 23456789", "q6_land": "DE"}),
        {"jotform": {"phone": "handy", "country_code": "land"}},
        "4915123456789",
    ),
]


@pytest.mark.parametrize(
    ("event", "mappings", "expected"), [pytest.param(e, m, x, id=i) for i, e, m, x in MAPPED_COUNTRY]
)
def test_a_mapped_country_decides_the_phones_country(
    event: dict[str, Any], mappings: dict[str, Any], expected: str
) -> None:
    assert stored(event, mappings=mappings) == expected


# ------------------------------------------------------------------------------- 2. the respondent's own fields
RESPONDENT: list[Row] = [
    (
        "typeform: only an emergency contact's phone is refused naming it",
        typeform(("emergency_phone", "Emergency contact phone", "phone_number", "+15105550100")),
        "refused: no field is clearly the respondent's phone: 'Emergency contact phone / emergency_phone' is about "
        "someone else",
    ),
    (
        "typeform: the respondent's unreadable phone is refused, never the parent's",
        typeform(
            ("mobile", "Your mobile", "phone_number", "12"),
            ("parent_phone", "Parent's phone", "phone_number", "+15105550100"),
        ),
        "refused: the field 'Your mobile / mobile' does not parse as a phone number",
    ),
    (
        "typeform: the respondent's phone after a guardian's",
        typeform(
            ("guardian", "Guardian mobile", "phone_number", "+15105550100"),
            ("mobile", "Your mobile", "phone_number", "+525512345679"),
        ),
        "525512345679",
    ),
    (
        "calendly: a question about an emergency contact's phone is never the invitee's",
        calendly(None, ("Emergency contact phone number", "+1 510-555-0100")),
        "refused: no field is clearly the respondent's phone: 'Emergency contact phone number' is about someone else",
    ),
    (
        "calendly: a father's phone (Spanish) is never the invitee's",
        calendly("+52 55 1234 5679", ("Teléfono del padre", "+1 510-555-0100")),
        "525512345679",
    ),
    (
        "jotform: only a guardian's phone widget is refused naming it",
        jotform({"q7_guardianPhone": {"full": "(510) 555-0100"}}),
        "refused: no field is clearly the respondent's phone: 'q7_guardianPhone' is about someone else",
    ),
    (
        "jotform: a German emergency-contact field is never the respondent's",
        jotform({"q4_phoneNumber": {"full": "0664 123456", "country": "43"}, "q8_telefonNotfall": "(510) 555-0100"}),
        "43664123456",
    ),
    (
        "jotform: an alternative number is never the fallback",
        jotform({"q4_phoneNumber": {"full": "12"}, "q5_alternativePhone": {"full": "(510) 555-0100"}}),
        "refused: the field 'q4_phoneNumber' does not parse as a phone number",
    ),
    (
        "salesforce: OtherPhone and AssistantPhone are never the contact's",
        salesforce({"OtherPhone": "(510) 555-0100", "AssistantPhone": "(510) 555-0101"}),
        "refused: no MobilePhone or Phone field",
    ),
    (
        "hubspot: the contact's own phone when the mobile does not read",
        hubspot({"mobilephone": "n/a", "phone": "+49 30 1234567"}),
        "49301234567",
    ),
    (
        "shopify: the customer's phone before the address's",
        shopify({"phone": "+525512345679", "default_address": {"phone": "07400 123456", "country_code": "GB"}}),
        "525512345679",
    ),
]


@rows(*RESPONDENT)
def test_only_the_respondents_own_field_gives_the_phone(event: dict[str, Any], expected: str) -> None:
    assert_outcome(stored(event), expected)


def test_names_and_email_about_someone_else_are_not_the_respondents() -> None:
    event = typeform(
        ("parent_first", "Parent's first name", "text", "Maria"),
        ("referrer_email", "Referrer's email", "email", "ref@example.com"),
        ("mobile", "Your mobile", "phone_number", "+15105550157"),
        ("first", "Your first name", "text", "Ana"),
    )

    [contact] = deliver(event).queued

    assert (contact.get("first"), contact.get("email")) == ("Ana", None)


def test_a_jotform_name_widget_about_an_emergency_contact_is_not_the_respondents() -> None:
    event = jotform(
        {
            "q3_fullName": {"first": "", "last": ""},
            "q5_emergencyContact": {"first": "Maria", "last": "Ruiz"},
            "q4_phoneNumber": {"full": "(510) 555-0157"},
            "q6_parentEmail": "parent@example.com",
        }
    )

    [contact] = deliver(event).queued

    assert (contact.get("first"), contact.get("email")) == (None, None)


# ------------------------------------------------------------------------------------------------ 3. free text
FREE_TEXT: list[Row] = [
    ("salesforce: a label in parentheses", salesforce({"Phone": "(510) 555-0157 (cell)"}), "15105550157"),
    (
        "salesforce: a German label is not read as vanity digits",
        salesforce({"MobilePhone": "+49 30 1234567 (Arbeit)"}),
        "49301234567",
    ),
    (
        "salesforce: Büro before an Austrian number",
        salesforce({"Phone": "Büro: 0664 123456", "MailingCountryCode": "AT"}),
        "43664123456",
    ),
    ("hubspot: a whole vanity number", hubspot({"phone": "1-800-FLOWERS"}), "18003569377"),
    ("hubspot: an extension after x", hubspot({"phone": "+52 55 1234 5679 x12"}), "525512345679"),
    (
        "jotform: privat label, variable-length German number",
        jotform({"q4_phoneNumber": {"full": "privat 030 12345678", "country": "49"}}),
        "493012345678",
    ),
    (
        "generic: the first of several numbers",
        generic({"phone": "home 510 555 0100; cell 510 555 0157"}),
        "15105550100",
    ),
    ("generic: two numbers without a separator", generic({"phone": "510-555-0100 mobile 510-555-0157"}), "15105550100"),
    ("generic: an extension word", generic({"phone": "(510) 555-0157 ext. 22"}), "15105550157"),
    ("generic: a # extension", generic({"phone": "+44 20 7946 0958 #4"}), "442079460958"),
    ("generic: Austria's short Vienna number", generic({"phone": "+43 1 234567"}), "431234567"),
    ("generic: a French label", generic({"phone": "portable : 06 12 34 56 78", "country": "FR"}), "33612345678"),
    (
        "generic: a word that is not a label is refused naming it",
        generic({"phone": "510 555 0157 Mom"}),
        "refused: phone has the word 'Mom', which is not part of a number",
    ),
    (
        "generic: more than 15 digits never leave the bridge",
        generic({"phone": "+49 30 1234567 272348"}),
        "refused: phone",
    ),
    (
        "calendly: a label after an international number",
        calendly(None, ("Mobile phone", "+44 7400 123456 mobile")),
        "447400123456",
    ),
    (
        "typeform: a text answer with a label",
        typeform(("phone", "Phone", "text", "cell: +33 6 12 34 56 78")),
        "33612345678",
    ),
    ("shopify: an extension on the customer's phone", shopify({"phone": "+1 312 555 0143 ext 9"}), "13125550143"),
]


@rows(*FREE_TEXT)
def test_free_text_is_read_without_its_labels(event: dict[str, Any], expected: str) -> None:
    assert_outcome(stored(event), expected)


# ------------------------------------------------------------------------------------------ 4. one-item arrays
ONE_ITEM: list[Row] = [
    (
        "generic: Apps Script's e.namedValues fields",
        generic({"phone": ["(510) 555-0157"], "first": ["Ada"], "email": ["ada@example.com"], "country": ["US"]}),
        "15105550157",
    ),
    ("generic: a one-item country", generic({"phone": ["55 1234 5679"], "country_code": ["MX"]}), "525512345679"),
    (
        "jotform: a named field as a one-item list",
        jotform({"q4_mobile": ["0664 123456"], "q9_address": {"country": "AT"}}),
        "43664123456",
    ),
    ("calendly: an answer as a one-item list", calendly(None, ("Phone number", ["+49 30 1234567"])), "49301234567"),
    ("hubspot: a property as a one-item list", hubspot({"phone": ["(510) 555-0157"]}), "15105550157"),
]


@rows(*ONE_ITEM)
def test_a_one_item_array_is_its_item(event: dict[str, Any], expected: str) -> None:
    assert stored(event) == expected


def test_a_mapped_one_item_answer_joining_tags_is_read_as_that_text() -> None:
    named_values = {"Phone": ["(510) 555-0157"], "Interests": ["Evening classes, Weekend workshops"]}

    [contact] = deliver(generic(named_values), mappings={"generic": {"phone": "Phone", "tags": "Interests"}}).queued

    assert contact["tags"] == ["Evening classes", "Weekend workshops"]


def test_google_forms_named_values_through_a_mapping_are_a_contact() -> None:
    named_values = {
        "Timestamp": ["12/7/2026 16:20:00"],
        "Full name": ["Ada Lovelace"],
        "Mobile": ["030 1234567"],
        "Country": ["Deutschland"],
        "Email": ["ada@example.com"],
        "Opt out": ["No"],
        "Campus": ["Berlin"],
    }
    mapping = {
        "phone": "Mobile",
        "name": "Full name",
        "email": "Email",
        "country": "Country",
        "is_opted_out": "Opt out",
        "custom": {"101": "Campus"},
    }

    [contact] = deliver(generic(named_values), mappings={"generic": mapping}).queued

    assert contact == {
        "phone": "49301234567",
        "first": "Ada",
        "last": "Lovelace",
        "email": "ada@example.com",
        "is_opted_out": False,
        "custom": {"101": "Berlin"},
    }


# ------------------------------------------------------------------------------------ 5. order inside a delivery
def test_salesforce_notifications_for_one_record_are_applied_by_their_own_time() -> None:
    newer = {"MobilePhone": "+1 510 555 0157", "FirstName": "New", "LastModifiedDate": "2026-11-23T08:59:00.000Z"}
    older = {"MobilePhone": "+1 510 555 0157", "FirstName": "Old", "LastModifiedDate": "2026-11-23T08:58:00.000Z"}

    delivered = deliver(salesforce(newer, older))

    assert [(c["first"], m["occurred_at"]) for c, m in zip(delivered.queued, delivered.messages, strict=True)] == [
        ("New", "2026-11-23T08:59:00.000+00:00")
    ]


def test_generic_contacts_for_one_phone_are_applied_by_their_occurred_at() -> None:
    body = {
        "contacts": [
            {"phone": "030 1234567", "country": "DE", "first": "Newest", "occurred_at": "2026-11-23T08:50:00Z"},
            {
                "phone": "+49 30 1234567",
                "first": "Oldest",
                "email": "a@example.com",
                "occurred_at": "2026-11-23T08:40:00Z",
            },
            {"phone": "+49301234567", "first": "Middle", "occurred_at": "2026-11-23T08:45:00Z"},
        ]
    }

    [contact] = deliver(generic(body)).queued

    assert (contact["first"], contact["email"]) == ("Newest", "a@example.com")


def test_a_record_without_a_time_is_as_new_as_its_delivery() -> None:
    body = [
        {"phone": "5105550157", "first": "Untimed"},
        {"phone": "5105550157", "first": "Timed", "occurred_at": "2026-11-23T08:00:00Z"},
    ]

    [contact] = deliver(generic(body)).queued

    assert contact["first"] == "Untimed"


def test_records_with_equal_times_keep_the_delivery_order() -> None:
    body = [
        {"phone": "5105550157", "first": "First", "occurred_at": "2026-11-23T08:00:00Z"},
        {"phone": "5105550157", "first": "Second", "occurred_at": "2026-11-23T08:00:00Z"},
    ]

    [contact] = deliver(generic(body)).queued

    assert contact["first"] == "Second"


# --------------------------------------------------------------------------- property: never the default's reading
# US area codes (the default region) whose 10-digit numbers are often also valid national numbers elsewhere.
AREA_CODES = (201, 202, 203, 212, 214, 228, 231, 234, 301, 312, 316, 347, 404, 512, 612, 662, 713, 718, 732, 818, 917)
REGIONS = ("MX", "DE", "AT", "GB", "BR", "IN", "CN", "JP")


def _in_both(draw: st.DrawFn) -> tuple[str, str]:
    region = draw(st.sampled_from(REGIONS))
    national = f"{draw(st.sampled_from(AREA_CODES))}{draw(st.integers(2, 9))}{draw(st.integers(0, 999_999)):06d}"
    here, default = phonenumbers.parse(national, region), phonenumbers.parse(national, "US")
    valid = phonenumbers.is_valid_number(here) and phonenumbers.is_valid_number(default)
    return (region, national) if valid and here.country_code != 1 else ("", "")


def _country_payloads(region: str, national: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    code = str(phonenumbers.country_code_for_region(region))
    return [
        (generic({"phone": national, "country": region}), {}),
        (generic({"phone": [national], "country_code": f"+{code}"}), {}),
        (generic({"m": national, "c": region.lower()}), {"generic": {"phone": "m", "country": "c"}}),
        (hubspot({"mobilephone": national, "hs_country_region_code": region}), {}),
        (salesforce({"MobilePhone": national, "MailingCountryCode": region}), {}),
        (shopify({"phone": national, "default_address": {"country_code": region}}), {}),
        (jotform({"q4_phoneNumber": {"full": national, "country": code}}), {}),
        (jotform({"q4_phoneNumber": {"full": national}, "q9_address": {"country": region}}), {}),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.composite(_in_both)().filter(lambda pair: bool(pair[0])))
def test_a_named_country_is_never_read_as_the_default_region(pair: tuple[str, str]) -> None:
    region, national = pair
    default_reading = phonenumbers.format_number(
        phonenumbers.parse(national, "US"), phonenumbers.PhoneNumberFormat.E164
    )
    expected = phonenumbers.format_number(phonenumbers.parse(national, region), phonenumbers.PhoneNumberFormat.E164)

    outcomes = set()
    for event, mappings in _country_payloads(region, national):
        metrics.clear_metrics()  # each delivery is one invocation (the autouse fixture clears once per test)
        outcomes.add(stored(event, mappings=mappings))

    assert default_reading[1:] not in outcomes
    assert outcomes == {expected[1:]}


@pytest.mark.parametrize(
    "label",
    [
        "Emergency contact phone",
        "emergencyContactPhone",
        "q7_mothersPhone",
        "parents_mobile",
        "Guardian's cell",
        "Referred by (phone)",
        "Alternative number",
        "Other phone",
        "Spouse mobile",
        "Telefon Notfallkontakt",
        "Handy der Eltern",
        "Teléfono del padre",
        "Téléphone en cas d'urgence",
    ],
)
def test_a_field_about_someone_else_is_recognised(label: str) -> None:
    assert about_someone_else(label)


@pytest.mark.parametrize(
    "label",
    ["Phone", "Your mobile", "Best number to text you?", "q4_phoneNumber", "Handynummer", "Teléfono", "Work phone"],
)
def test_the_respondents_own_field_is_not_about_someone_else(label: str) -> None:
    assert not about_someone_else(label)
