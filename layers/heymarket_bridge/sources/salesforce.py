"""Salesforce: a workflow/flow Outbound Message (SOAP) on Contact or Lead, up to 100 notifications per message.

Authenticity: Outbound Messages are not signed; the message names its org, and the source's secret is that org's
15- or 18-character id (Setup > Company Information). The first 15 characters are compared, case-sensitively:
they are the id, the last 3 only encode its letter case. Keep the endpoint URL private as well.
Reply: Salesforce resends a message until it gets `<Ack>true</Ack>`, for up to 24 hours. Every accepted message,
including one whose notifications were all rejected (a resend cannot fix them), is answered 200 with the SOAP
Ack; a refusal keeps its status with a SOAP Fault saying why, so Salesforce shows the reason and retries.
XML: a DOCTYPE is refused before parsing, which rules out entity expansion (billion laughs) and external entities.
Defaults: phone = MobilePhone, else Phone (texts go to mobiles); first = FirstName; last = LastName;
email = Email. Opt-outs are not mapped by default (orgs differ: DoNotCall, HasOptedOutOfEmail, custom fields).
Mapping references (SOURCE_MAPPINGS): the sObject's field API names (only the fields the Outbound Message sends).

    {"salesforce": {"phone": ["Mobile_SMS__c", "MobilePhone"], "is_opted_out": "SMS_Opt_Out__c",
                    "custom": {"101": "LeadSource"}}}

Delivery id: the Notification ids, comma-separated (the same on Salesforce's resends).
"""

from __future__ import annotations

import hmac
import xml.etree.ElementTree as ET
from datetime import datetime
from functools import lru_cache
from xml.sax.saxutils import escape

from heymarket_bridge.mapping import SourceMapping, Submission
from heymarket_bridge.sources.common import SourceDefaults, body_sha256, no_phone
from heymarket_bridge.webhook import BadRequest, Reply, WebhookRequest

XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XML_HEADERS = {"Content-Type": "text/xml; charset=utf-8"}
ENVELOPE = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>{}'
    "</soapenv:Body></soapenv:Envelope>"
)
ACK = ENVELOPE.format(
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack></notificationsResponse>'
)
ORG_ID_PREFIX = 15


class SalesforceSource(SourceDefaults):
    name = "salesforce"

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        org_id = _text(_child(_notifications(request.body), "OrganizationId"))
        expected = secret.strip()
        if org_id is None or len(org_id) not in (15, 18) or len(expected) not in (15, 18):
            return False
        return hmac.compare_digest(org_id[:ORG_ID_PREFIX].encode(), expected[:ORG_ID_PREFIX].encode())

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        notifications = [n for n in _notifications(request.body) if _local(n.tag) == "Notification"]
        if not notifications:
            raise BadRequest("the outbound message has no <Notification> element")
        submissions: list[Submission] = []
        for index, notification in enumerate(notifications):
            sobject = _child(notification, "sObject")
            if sobject is None:
                raise BadRequest(f"Notification {index} has no <sObject> element")
            fields = {_local(field.tag): _text(field) for field in sobject}
            contact = mapping.apply(
                {
                    "phone": fields.get("MobilePhone") or fields.get("Phone"),
                    "first": fields.get("FirstName"),
                    "last": fields.get("LastName"),
                    "email": fields.get("Email"),
                },
                fields.get,
            )
            if contact.get("phone") is None:
                kind = str(sobject.get(XSI_TYPE, "sf:record")).rpartition(":")[2]
                submissions.append(no_phone(f"the Salesforce {kind}", mapping, "no MobilePhone or Phone field"))
            else:
                submissions.append(contact)
        return submissions

    def delivery_id(self, request: WebhookRequest) -> str:
        try:
            notifications = _notifications(request.body)
        except BadRequest:
            return body_sha256(request.body)
        ids = [_text(_child(n, "Id")) for n in notifications if _local(n.tag) == "Notification"]
        return ",".join(i for i in ids if i) or body_sha256(request.body)

    def reply(self, request: WebhookRequest, reply: Reply) -> Reply:
        if 200 <= reply.status < 300:
            return Reply(200, ACK, XML_HEADERS)
        error = reply.body.get("error", {}) if isinstance(reply.body, dict) else {}
        message = str(error.get("message") or "the message was refused")
        fault_code = "soapenv:Server" if reply.status >= 500 else "soapenv:Client"
        fault = (
            f"<soapenv:Fault><faultcode>{fault_code}</faultcode>"
            f"<faultstring>{escape(message)}</faultstring></soapenv:Fault>"
        )
        return Reply(reply.status, ENVELOPE.format(fault), XML_HEADERS)


@lru_cache(maxsize=2)
def _parse(body: bytes) -> ET.Element:
    """The document's root; authenticate, extract and delivery_id all read the same body, so it is parsed once."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the request body is not UTF-8") from exc
    if not text.strip():
        raise BadRequest("the request body is empty")
    upper = text.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise BadRequest("XML with a DOCTYPE or entity declaration is not accepted")
    try:
        # Safe here: with DOCTYPE refused above there are no entities to expand or fetch.
        return ET.fromstring(body)  # noqa: S314
    except ET.ParseError as exc:
        raise BadRequest(f"the request body is not well-formed XML ({exc})") from exc


def _notifications(body: bytes) -> ET.Element:
    root = _parse(body)
    found = next((el for el in root.iter() if _local(el.tag) == "notifications"), None)
    if found is None:
        raise BadRequest("the SOAP body has no <notifications> element (is this a Salesforce Outbound Message?)")
    return found


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.get(XSI_NIL) == "true":
        return None
    return (element.text or "").strip() or None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
