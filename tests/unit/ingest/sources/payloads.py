"""Deliveries of one contact from each source, built from the sample events with the fields a test gives, signed
afresh: for the table-driven phone tests (issue 22) that run one case through every sender."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from heymarket_bridge.domain.contact import read_contact
from heymarket_bridge.domain.failures import InvalidContact
from heymarket_bridge.domain.mapping import Unmappable
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.sources.jotform import form_fields
from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, payload_of, read_delivery, with_body, with_headers, with_json

Fields = Mapping[str, Any]


def hubspot(properties: Fields) -> dict[str, Any]:
    """A workflow webhook of a contact with these properties (HubSpot's {"name": {"value": ...}} shape)."""
    event = load_event("hubspot/workflow_contact")
    payload = payload_of(event)
    payload["properties"] = {"firstname": {"value": "Ana"}, **{k: {"value": v} for k, v in properties.items()}}
    return with_json(event, payload)


def salesforce(*notifications: Fields, kind: str = "Contact") -> dict[str, Any]:
    """An Outbound Message with one notification per field set (sObject field API name -> text)."""
    event = load_event("salesforce/outbound_message")
    items = "".join(
        f'<Notification><Id>04l00000000000{index}AAA</Id><sObject xsi:type="sf:{kind}" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>00300000000000{index}AAA</sf:Id>'
        + "".join(f"<sf:{name}>{escape(str(value))}</sf:{name}>" for name, value in fields.items())
        + "</sObject></Notification>"
        for index, fields in enumerate(notifications)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        "<OrganizationId>00D000000000001EAA</OrganizationId>"
        + items
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    )
    return with_body(event, body)


def jotform(answers: Fields) -> dict[str, Any]:
    """A submission whose rawRequest holds these answers ("q4_phoneNumber": {"full": ...}), urlencoded."""
    event = load_event("jotform/submission")
    fields = form_fields(WebhookRequest.from_http_api_event(event))
    fields["rawRequest"] = json.dumps({"q3_fullName": {"first": "Ana", "last": "Ruiz"}, **answers})
    return with_body(with_headers(event, content_type="application/x-www-form-urlencoded"), urlencode(fields))


def shopify(customer: Fields) -> dict[str, Any]:
    """A customers/create webhook with these customer fields over the sample's (phone, default_address...)."""
    event = load_event("shopify/customers_create")
    return with_json(event, {**payload_of(event), "phone": None, **customer})


def typeform(*answers: tuple[str, str, str, Any]) -> dict[str, Any]:
    """A form response with these answers: (ref, question title, answer type, value) each."""
    event = load_event("typeform/form_response")
    payload = payload_of(event)
    response = payload["form_response"]
    response["definition"]["fields"] = [
        {"id": f"id{index}", "ref": ref, "type": "short_text", "title": title}
        for index, (ref, title, _, _) in enumerate(answers)
    ]
    response["answers"] = [
        {"type": kind, kind: value, "field": {"id": f"id{index}", "type": "short_text", "ref": ref}}
        for index, (ref, _, kind, value) in enumerate(answers)
    ]
    return with_json(event, payload)


def calendly(text_reminder_number: Any, *questions: tuple[str, Any]) -> dict[str, Any]:
    """An invitee.created event with this SMS number and these (question, answer) pairs."""
    event = load_event("calendly/invitee_created")
    payload = payload_of(event)
    payload["payload"]["text_reminder_number"] = text_reminder_number
    payload["payload"]["questions_and_answers"] = [
        {"question": question, "answer": answer, "position": index}
        for index, (question, answer) in enumerate(questions)
    ]
    return with_json(event, payload)


def generic(body: Any) -> dict[str, Any]:
    """A generic (Zapier, Make, Apps Script) JSON post of this body."""
    return with_json(load_event("generic/single_contact"), body)


def stored(event: Mapping[str, Any], **settings: Any) -> str:
    """A delivery of one contact as a table row states it: the stored phone's digits, or "refused: <reasons>".

    Salesforce answers with a SOAP Ack whose X-Bridge-Reply header cuts reasons at 160 characters: its reasons are
    read from the source and the contact rules directly (without mappings), as the ingest service reads them."""
    delivered = deliver(event, **settings)
    if delivered.queued:
        return str(delivered.queued[0]["phone"])
    assert delivered.status in (200, 202, 422), delivered.reply.body
    if delivered.status == 200:
        return "refused: " + "; ".join(_read_reasons(event))
    return "refused: " + "; ".join(error for entry in delivered.rejected for error in entry["errors"])


def _read_reasons(event: Mapping[str, Any]) -> list[str]:
    [submission] = read_delivery(event).submissions
    if isinstance(submission, Unmappable):
        return list(submission.errors)
    try:
        read_contact(submission, "US")
    except InvalidContact as exc:
        return exc.errors
    raise AssertionError("the contact was not refused")


Builder = Callable[..., dict[str, Any]]
