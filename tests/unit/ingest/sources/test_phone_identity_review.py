"""Review of issue 22 (phone identity): attacks that the fix does not resolve. Each test states the expected behaviour
from the issue and the README; every one of them fails on the reviewed commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.domain.operations import DeadLetter
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.observability import metrics
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge_tools.signing import event_body
from tests.doubles.dead_letters import SerializingDeadLetters
from tests.doubles.queue import RecordingQueue
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import SIGNED_AT, deliver, with_body
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
def fresh_metrics() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def letters_of(event: dict[str, Any], mappings: dict[str, Any] | None = None) -> list[DeadLetter]:
    letters = SerializingDeadLetters()
    settings = IngestSettings(
        queue_url="https://queue",
        webhook_secrets_arn="arn:secret",
        mappings={name: SourceMapping.from_json(doc) for name, doc in (mappings or {}).items()},
    )
    service = IngestService(
        settings,
        demo_webhook_secrets,
        RecordingQueue(),
        clock=lambda: SIGNED_AT,
        sources=default_sources(),
        refusals=letters,
    )
    service.handle(event)
    return letters.letters


# ------------------------------------------------------------------ 7. nothing refused is gone: the fields are kept
REFUSED_BY_A_VENDOR = [
    pytest.param(
        jotform(
            {
                "q3_fullName": {"first": "Jo", "last": "Teen"},
                "q4_phoneNumber": {"full": "12"},
                "q5_email": "jo.teen@example.com",
            }
        ),
        "Teen",
        id="jotform: an unreadable phone widget",
    ),
    pytest.param(
        hubspot({"mobilephone": "n/a", "lastname": "Teen", "email": "jo.teen@example.com"}),
        "Teen",
        id="hubspot: a mobilephone that is not a number",
    ),
    pytest.param(
        salesforce({"FirstName": "Jo", "LastName": "Teen", "OtherPhone": "(510) 555-0100"}),
        "Teen",
        id="salesforce: a contact with no MobilePhone or Phone",
    ),
    pytest.param(
        typeform(("last", "Your last name", "text", "Teen"), ("mobile", "Your mobile", "phone_number", "12")),
        "Teen",
        id="typeform: an unreadable phone answer",
    ),
    pytest.param(
        calendly("12"),
        "Vaughan",
        id="calendly: an unreadable SMS number",
    ),
    pytest.param(
        shopify({"phone": "12", "last_name": "Teen"}),
        "Teen",
        id="shopify: an unreadable customer phone",
    ),
]


@pytest.mark.parametrize(("event", "last_name"), REFUSED_BY_A_VENDOR)
def test_a_vendor_contact_refused_for_its_phone_keeps_its_fields_in_the_refusal_letter(
    event: dict[str, Any], last_name: str
) -> None:
    # The issue: "becomes a dead letter of its own kind: the reason, the source, and the fields as received". A
    # submission the source could not map (no usable phone) is written with `fields: {}`: the name and email are
    # gone, and `dlq redrive --set phone=...` sends a nameless contact.
    [letter] = letters_of(event)

    assert letter.fields, letter.to_json()
    assert last_name in json.dumps(letter.fields)


def test_a_generic_contact_refused_under_a_mapping_keeps_its_fields_in_the_refusal_letter() -> None:
    body = {"data": {"mobile": "", "name": "Jo Teen", "mail": "jo.teen@example.com"}}
    mapping = {"generic": {"phone": "data.mobile", "name": "data.name", "email": "data.mail"}}

    [letter] = letters_of(generic(body), mappings=mapping)

    assert "Teen" in json.dumps(letter.fields), letter.to_json()


# ------------------------------------------------------------------ 2. a field about someone else is never the phone
ABOUT_SOMEONE_ELSE = [
    pytest.param(jotform({"q5_guardianphone": {"full": "(510) 555-0100"}}), id="jotform: guardianphone"),
    pytest.param(jotform({"q5_parentguardian": {"full": "(510) 555-0100"}}), id="jotform: parentguardian"),
    pytest.param(jotform({"q5_mothersphone": {"full": "(510) 555-0100"}}), id="jotform: mothersphone"),
    pytest.param(jotform({"q5_emergencyphone": {"full": "(510) 555-0100"}}), id="jotform: emergencyphone"),
    pytest.param(jotform({"q5_notfallnummer": {"full": "(510) 555-0100"}}), id="jotform: notfallnummer (German)"),
    pytest.param(
        typeform(("x", "Telefone da mãe", "phone_number", "+5511961234567")), id="typeform: Portuguese mother's phone"
    ),
    pytest.param(
        typeform(("ice", "ICE phone", "phone_number", "+15105550100")), id="typeform: ICE (in case of emergency)"
    ),
    pytest.param(
        calendly(None, ("Phone of a colleague we can reach", "+1 510-555-0100")), id="calendly: a colleague's phone"
    ),
]


@pytest.mark.parametrize("event", ABOUT_SOMEONE_ELSE)
def test_a_phone_field_about_someone_else_is_never_stored_as_the_respondents(event: dict[str, Any]) -> None:
    assert stored(event).startswith("refused: ")


LABELLED_AS_SOMEONE_ELSES = [
    pytest.param(generic({"phone": "510 555 0157 (Mom)", "first": "Kid"}), id="generic: (Mom)"),
    pytest.param(generic({"phone": "510 555 0157 (emergency contact)"}), id="generic: (emergency contact)"),
    pytest.param(salesforce({"MobilePhone": "(510) 555-0157 (Vater)"}), id="salesforce: (Vater)"),
]


@pytest.mark.parametrize("event", LABELLED_AS_SOMEONE_ELSES)
def test_a_number_labelled_as_someone_elses_in_parentheses_is_refused_as_without_them(event: dict[str, Any]) -> None:
    # "510 555 0157 Mom" is refused naming the word; in parentheses the same word is thrown away as a label and the
    # mother's number is stored under the respondent's name.
    assert stored(event).startswith("refused: ")


# ------------------------------------------------------------------ 1. country evidence in the payload
COUNTRY_NAMED = [
    pytest.param(
        typeform(("mobile", "Mobile number", "text", "55 1234 5679"), ("country", "Country", "text", "Mexico")),
        id="typeform: a Country answer",
    ),
    pytest.param(
        calendly(None, ("Phone number", "55 1234 5679"), ("Country", "Mexico")), id="calendly: a Country answer"
    ),
    pytest.param(
        salesforce({"Phone": "55 1234 5679", "BillingCountryCode": "MX"}, kind="Account"),
        id="salesforce: an Account's billing country",
    ),
    pytest.param(
        shopify({"phone": "55 1234 5679", "addresses": [{"country_code": "MX", "default": True}]}),
        id="shopify: the customer's addresses",
    ),
]


@pytest.mark.parametrize("event", COUNTRY_NAMED)
def test_a_national_number_is_not_read_in_the_default_region_when_the_payload_names_mexico(
    event: dict[str, Any],
) -> None:
    # +1 551-234-5679 is a New Jersey number: a stranger texted under the customer's name.
    assert stored(event) in ("525512345679",) or stored(event).startswith("refused: ")


# ------------------------------------------------------------------ 5. order inside a delivery / 4. shapes
OCCURRED_AT_SHAPES = [
    pytest.param(1795424340000, 1795424280000, id="epoch milliseconds as JSON numbers"),
    pytest.param(["2026-11-23T08:59:00Z"], ["2026-11-23T08:58:00Z"], id="one-item lists (e.namedValues)"),
]


@pytest.mark.parametrize(("newer", "older"), OCCURRED_AT_SHAPES)
def test_generic_contacts_for_one_phone_are_applied_by_their_occurred_at_whatever_its_shape(
    newer: Any, older: Any
) -> None:
    body = [
        {"phone": "5105550157", "first": "New", "occurred_at": newer},
        {"phone": "5105550157", "first": "Old", "occurred_at": older},
    ]

    [contact] = deliver(generic(body)).queued

    assert contact["first"] == "New"


# ------------------------------------------------------------------ 5xx for bad input (README: "never a 500")
OUT_OF_RANGE_TIMES = [
    pytest.param(generic({"phone": "+15105550157", "occurred_at": "9999999999999999"}), id="generic: 16-digit ms"),
    pytest.param(
        generic({"phone": "+15105550157", "occurred_at": "9999-12-31T23:59:59-12:00"}), id="generic: year 9999 -12:00"
    ),
    pytest.param(
        salesforce({"MobilePhone": "+15105550157", "LastModifiedDate": "9999-12-31T23:59:59-12:00"}),
        id="salesforce: LastModifiedDate year 9999 -12:00",
    ),
    pytest.param(
        hubspot({"mobilephone": "+15105550157", "lastmodifieddate": "9999999999999999"}),
        id="hubspot: lastmodifieddate of 16 digits",
    ),
]


@pytest.mark.parametrize("event", OUT_OF_RANGE_TIMES)
def test_an_event_time_out_of_range_is_not_a_server_error(event: dict[str, Any]) -> None:
    # Raises ValueError ("year 318857 is out of range") or OverflowError: the local stack answers 500 and the whole
    # delivery (a Salesforce message's other notifications too) is refused.
    delivered = deliver(event)

    assert delivered.status < 500


# ------------------------------------------------------------------ 5. two notifications for one Salesforce record
def test_an_older_notification_of_a_salesforce_record_does_not_store_its_old_phone() -> None:
    # One Contact (same sf:Id) changed its MobilePhone: the newer notification holds the new number, the older one
    # (sent out of order in the same message) the number Ana left. Both are queued: Ana's name is written on her old
    # number, which may be someone else's by now.
    event = salesforce(
        {"MobilePhone": "+15105550158", "FirstName": "Ana", "LastModifiedDate": "2026-11-23T08:59:00.000Z"},
        {"MobilePhone": "+15105550157", "FirstName": "Ana", "LastModifiedDate": "2026-11-23T08:58:00.000Z"},
    )
    body = event_body(event).decode().replace("003000000000001AAA", "003000000000000AAA")

    delivered = deliver(with_body(event, body))

    assert [contact["phone"] for contact in delivered.queued] == ["15105550158"]


# ------------------------------------------------------------------ 1. a country the bridge cannot read
@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"phone": "55 1234 5679", "country": "MX", "country_code": "Narnia"}, id="country_code Narnia"),
        pytest.param({"phone": "55 1234 5679", "country": "Narnia", "country_code": "MX"}, id="country Narnia"),
    ],
)
def test_a_country_the_bridge_cannot_read_is_refused_even_beside_one_it_can(body: dict[str, Any]) -> None:
    # README: "When a named country and the number disagree (...; two countries are named; a country the bridge
    # cannot read), the contact is refused with a reason naming both, never guessed". Alone, "Narnia" is refused.
    assert stored(generic(body)).startswith("refused: ")


# ------------------------------------------------------------------ 2. Jotform: the label is in `pretty`, not the name
def jotform_labelled(answers: dict[str, Any], pretty: str) -> dict[str, Any]:
    """A Jotform submission whose widgets keep the unique names Jotform gave them when added (a second Phone widget
    is `phoneNumber5`), relabelled afterwards: the labels are only in the `pretty` field Jotform posts."""
    from urllib.parse import urlencode

    from heymarket_bridge.ingest.http import WebhookRequest
    from heymarket_bridge.ingest.sources.jotform import form_fields
    from tests.support import load_event
    from tests.unit.ingest.sources.harness import with_headers

    event = load_event("jotform/submission")
    fields = form_fields(WebhookRequest.from_http_api_event(event))
    fields["rawRequest"] = json.dumps({"q3_fullName": {"first": "Ana", "last": "Ruiz"}, **answers})
    fields["pretty"] = pretty
    return with_body(with_headers(event, content_type="application/x-www-form-urlencoded"), urlencode(fields))


JOTFORM_LABELLED = [
    pytest.param(
        jotform_labelled(
            {"q4_phoneNumber": {"full": "12"}, "q5_phoneNumber5": {"full": "(510) 555-0100"}},
            "Full Name:Ana Ruiz, Phone Number:12, Emergency Contact Phone:(510) 555-0100",
        ),
        id="the respondent's phone does not parse: never the emergency contact's",
    ),
    pytest.param(
        jotform_labelled(
            {"q5_phoneNumber5": {"full": "(510) 555-0100"}}, "Full Name:Ana Ruiz, Parent/Guardian Phone:(510) 555-0100"
        ),
        id="the only phone widget is a parent's",
    ),
]


@pytest.mark.parametrize("event", JOTFORM_LABELLED)
def test_a_jotform_phone_widget_labelled_as_someone_elses_is_never_the_respondents(event: dict[str, Any]) -> None:
    assert stored(event).startswith("refused: ")


# ------------------------------------------------------------------ more instances, lower severity
def test_hubspot_mobile_read_with_the_country_of_the_contacts_calculated_phone_number() -> None:
    # hs_calculated_phone_number +52 says the contact is in Mexico (HubSpot computes it from the contact's country):
    # the payload names another country, yet the national mobile is stored as the New Jersey +1 551 234 5679.
    event = hubspot({"mobilephone": "55 1234 5679", "hs_calculated_phone_number": "+525512345679"})

    outcome = stored(event)

    assert outcome == "525512345679" or outcome.startswith("refused: ")


def test_a_shopify_default_address_of_another_person_does_not_give_the_customers_phone() -> None:
    # The address belongs to "Other Person" (a gift recipient saved as default): its phone is theirs, not Mary's.
    event = shopify(
        {
            "phone": None,
            "default_address": {"first_name": "Other", "last_name": "Person", "phone": "+15105550100"},
        }
    )

    assert stored(event).startswith("refused: ")


@pytest.mark.parametrize("question", ["Número de teléfono", "Telefonnummer", "Numéro de portable", "Handynummer"])
def test_a_calendly_phone_question_in_another_language_gives_the_invitees_phone(question: str) -> None:
    # README: field names are recognised "in English, German, Spanish, French and a few more"; these are refused
    # ("no text_reminder_number and no phone question"), and their refusal letters keep no fields.
    assert stored(calendly(None, (question, "+49 151 23456789"))) == "4915123456789"


# ------------------------------------------------------------------ 1. a US number with its 1, a Mexican address
US_NUMBER_WITH_ITS_1_IN_MEXICO = [
    pytest.param(generic({"phone": "1-415-555-2671", "country": "MX"}), id="generic: San Francisco -> San Miguel"),
    pytest.param(hubspot({"mobilephone": "1 (718) 555-0175", "country": "Mexico"}), id="hubspot: New York"),
    pytest.param(salesforce({"MobilePhone": "1 646 555 0100", "MailingCountryCode": "MX"}), id="salesforce: Manhattan"),
    pytest.param(
        shopify({"phone": "1-415-555-2671", "default_address": {"country_code": "MX"}}), id="shopify: San Francisco"
    ),
]


@pytest.mark.parametrize("event", US_NUMBER_WITH_ITS_1_IN_MEXICO)
def test_a_us_number_written_with_its_1_by_someone_living_in_mexico_is_never_made_a_mexican_number(
    event: dict[str, Any],
) -> None:
    # "1 415 555 2671" is a valid +1 number as written and not a valid Mexican national number (libphonenumber says
    # +52 1 415 555 2671 is invalid); the bridge reads the 1 as Mexico's old mobile prefix and stores +52 415 555 2671,
    # a stranger in Mexico, under the customer's name. ("1 512 555 0162" is refused naming both, as it should be.)
    outcome = stored(event)

    assert not outcome.startswith("52"), outcome


def test_a_one_item_tags_list_from_named_values_is_read_as_its_text_without_a_mapping_too() -> None:
    # With a mapping the one-item ["Evening classes, Weekend workshops"] is two tags; posted as generic fields
    # (Apps Script sending e.namedValues with the bridge's own field names) it is one tag with a comma in its name,
    # which the sync function then dead-letters as "not a tag of this Heymarket account".
    named_values = {"phone": ["(510) 555-0157"], "tags": ["Evening classes, Weekend workshops"]}

    [contact] = deliver(generic(named_values)).queued

    assert contact["tags"] == ["Evening classes", "Weekend workshops"]
