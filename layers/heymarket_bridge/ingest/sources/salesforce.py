"""Salesforce: a workflow/flow Outbound Message (SOAP) on Contact or Lead, up to 100 notifications per message.

Authenticity: Outbound Messages are not signed, and the Organization ID they carry is no secret (every Web-to-Lead
form prints it as `oid`). Two factors are required:

- a token in the endpoint URL, `?token=<token>` (an Outbound Message's endpoint is any http(s) URL, query string
  included), compared in constant time before the body is parsed: the source's entry in the webhook-secrets secret;
- the org id in the message (`salesforce_org_id` in the same secret, 15 or 18 characters, Setup > Company
  Information): the first 15 characters are compared, case-sensitively; the last 3 only encode their letter case.

With `salesforce` in AllowUnauthenticatedSources the URL token is not asked for; the org id still is, if set.
Reply: Salesforce resends a message until it gets `<Ack>true</Ack>`, for up to 24 hours. Every accepted message,
including one whose notifications were all rejected (a resend cannot fix them), is answered 200 with the SOAP
Ack; a refusal keeps its status with a SOAP Fault saying why, so Salesforce shows the reason and retries. Either
way the `X-Bridge-Reply` response header carries the bridge's JSON answer (accepted, rejected with reasons), which
Salesforce ignores and `curl -i` or the demo read.
XML: parsed with defusedxml, which refuses a DOCTYPE (entity expansion, external entities) whatever the body's
encoding, before anything is expanded (its import adds about 2 ms to the function's init on an idle core, up to
22 ms on a loaded machine: smallest and largest of 5 runs).
Defaults: phone = MobilePhone, else a Person Account's PersonMobilePhone, else Phone (texts go to mobiles; the
first of the record's own numbers that parses as a phone); first = FirstName; last = LastName; email = Email. The
phone's country is the country of the address that goes with it (MailingCountryCode / MailingCountry, a Lead's
CountryCode / Country; else a Person Account's PersonMailingCountryCode / PersonMailingCountry; else the other
address's OtherCountryCode / OtherCountry or PersonOtherCountryCode / PersonOtherCountry; else an Account's billing,
then shipping country: heymarket_bridge.domain.phone.read_phone).
Opt-outs are not mapped by default (orgs differ: DoNotCall, HasOptedOutOfEmail, custom fields).
Mapping references (SOURCE_MAPPINGS): the sObject's field API names (only the fields the Outbound Message sends).

    {"salesforce": {"phone": ["Mobile_SMS__c", "MobilePhone"], "is_opted_out": "SMS_Opt_Out__c",
                    "custom": {"101": "LeadSource"}}}

Delivery identity: the Notification ids ("a message may be delivered more than once: check the notification IDs",
Salesforce's "Understanding Notifications"), with the body's digest.
"""

from __future__ import annotations

import hmac
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as SafeET

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import Submission
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.failures import BadRequest, PayloadTooLarge, Unauthorized
from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneField,
    ReadContext,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.sources.generic import token_matches
from heymarket_bridge.ingest.times import event_time

ORG_ID_ENTRY = "salesforce_org_id"
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
# The country of the address that goes with MobilePhone and Phone: a Contact's mailing address, a Lead's address
# (ISO code first: State and Country Picklists fill it; the text field otherwise). OtherCountry goes with OtherPhone,
# AssistantPhone with no address: neither is the contact's own number.
ADDRESS_COUNTRY = ("MailingCountryCode", "MailingCountry", "CountryCode", "Country")
# A Contact's other address: the person's country too, read only when the message gives none of the above.
OTHER_ADDRESS_COUNTRY = ("OtherCountryCode", "OtherCountry", "PersonOtherCountryCode", "PersonOtherCountry")
# The record's own numbers, in order: a Contact's or Lead's mobile, a Person Account's mobile (Salesforce's
# Person-prefixed Contact fields on Account), then the record's Phone (a Person Account's phone is Account.Phone).
PHONE_FIELDS = ("MobilePhone", "PersonMobilePhone", "Phone")
# A Person Account's or an Account's addresses (Account has no Mailing address): read only when none of the above is
# sent: a Person Account's Person*-prefixed mailing fields (then its other address, above), billing (the customer's
# own), then shipping.
ACCOUNT_ADDRESS_COUNTRY = (
    ("PersonMailingCountryCode", "PersonMailingCountry"),
    ("BillingCountryCode", "BillingCountry"),
    ("ShippingCountryCode", "ShippingCountry"),
)
# The response header carrying the bridge's JSON answer beside the SOAP Ack or Fault, and how many rejections it shows.
REPLY_HEADER = "X-Bridge-Reply"
REPLY_REJECTIONS = 20
# Notifications per Outbound Message: "A single SOAP message can include up to 100 notifications" (Salesforce's
# "Understanding Outbound Messaging").
SALESFORCE_BATCH = 100
ORG_ID = re.compile(r"00D[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?", re.ASCII)


class SalesforceSource(SourceDefaults):
    name = "salesforce"
    credentials = (
        CredentialEntry("salesforce", "bridge", "a token put in the outbound message endpoint URL (?token=)"),
        CredentialEntry(
            "salesforce_org_id",
            "vendor",
            "the org id (Setup > Company Information > Salesforce.com Organization ID)",
            form=ORG_ID.pattern,
            form_text="an org id: 15 or 18 letters and digits starting 00D",
        ),
    )
    # A message that a smaller MaxContactsPerRequest refused would be refused again on each of Salesforce's resends.
    sender_batch_size = SALESFORCE_BATCH
    # An Outbound Message's endpoint is a URL only: the token rides in it (the org id in the message, `read`).
    token_in = "query"

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        """The URL token, before the body is read; the org id is checked once the message is parsed (`read`)."""
        secret = context.credentials.secret
        org_id = context.credentials.entry(ORG_ID_ENTRY)
        if secret is not None and org_id is None and ORG_ID.fullmatch(secret):
            raise Unauthorized(
                "the webhook-secrets entry 'salesforce' holds an Organization ID, which is not secret: move it to "
                f"'{ORG_ID_ENTRY}', set 'salesforce' to a long random token, and add ?token=<that token> to the "
                "Outbound Message's endpoint URL"
            )
        if secret is not None and not token_matches(request, secret):
            raise Unauthorized("missing or wrong ?token= in the endpoint URL for source 'salesforce'")
        if org_id is None and secret is not None:
            raise Unauthorized(
                f"the webhook-secrets secret has no '{ORG_ID_ENTRY}' entry: add your 15- or 18-character "
                "Organization ID (Setup > Company Information)"
            )

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        root = _notifications(_parse(request.body))
        expected_org = context.credentials.entry(ORG_ID_ENTRY)
        if expected_org is not None:
            _check_org(_text(_child(root, "OrganizationId")), expected_org)
        notifications = [n for n in root if _local(n.tag) == "Notification"]
        if not notifications:
            raise BadRequest("the outbound message has no <Notification> element")
        if len(notifications) > context.max_contacts:
            raise PayloadTooLarge(
                f"the outbound message has {len(notifications)} notifications; at most {context.max_contacts} are "
                f"accepted (Salesforce sends up to {SALESFORCE_BATCH})"
            )
        latest = _latest_of_each_record(_records(notifications))
        submissions = [_submission(sobject, fields, context) for sobject, fields, _ in latest]
        occurred = [moment for _, _, moment in latest]
        ids = [_text(_child(n, "Id")) for n in notifications]
        sender_id = ",".join(i for i in ids if i) or None
        return Delivery(submissions, identity(sender_id, request.body), tuple(occurred))

    def render(self, reply: Reply) -> HttpResponse:
        headers = {**XML_HEADERS, REPLY_HEADER: reply_summary(reply)}
        if 200 <= reply.status < 300:
            return HttpResponse(200, ACK, headers)
        error = reply.body.get("error", {})
        message = str(error.get("message") or "the message was refused") if isinstance(error, dict) else ""
        fault_code = "soapenv:Server" if reply.status >= 500 else "soapenv:Client"
        fault = (
            f"<soapenv:Fault><faultcode>{fault_code}</faultcode>"
            f"<faultstring>{escape(message or 'the message was refused')}</faultstring></soapenv:Fault>"
        )
        return HttpResponse(reply.status, ENVELOPE.format(fault), headers)


def _records(notifications: list[Any]) -> list[tuple[Any, dict[str, str | None], datetime | None]]:
    """Each notification's record: its sObject, its fields by name, and when it last changed."""
    records: list[tuple[Any, dict[str, str | None], datetime | None]] = []
    for index, notification in enumerate(notifications):
        sobject = _child(notification, "sObject")
        if sobject is None:
            raise BadRequest(f"Notification {index} has no <sObject> element")
        fields = {_local(field.tag): _text(field) for field in sobject}
        records.append((sobject, fields, event_time(fields.get("LastModifiedDate") or fields.get("SystemModstamp"))))
    return records


def _submission(sobject: Any, fields: dict[str, str | None], context: ReadContext) -> Submission:
    """One record's contact, or why it has no phone."""
    choice = choose_phone(
        [PhoneField(name, fields.get(name), same_record=True) for name in PHONE_FIELDS],
        context,
        _address_country(fields),
    )
    contact = context.mapping.apply(
        {
            **choice.defaults(),
            "first": fields.get("FirstName"),
            "last": fields.get("LastName"),
            "email": fields.get("Email"),
        },
        fields.get,
        context.is_phone,
    )
    if contact.get("phone") is not None:
        return contact
    kind = shown(str(sobject.get(XSI_TYPE, "sf:record")).rpartition(":")[2], quote="")
    candidates = tuple(fields.get(name) for name in PHONE_FIELDS)
    reason = phone_reason(candidates, "no MobilePhone or Phone field", "the MobilePhone or Phone field", choice)
    return no_phone(f"the Salesforce {kind}", context.mapping, reason, contact)


def _latest_of_each_record(
    records: list[tuple[Any, dict[str, str | None], datetime | None]],
) -> list[tuple[Any, dict[str, str | None], datetime | None]]:
    """The notifications of a message, each record (its `Id`) once: the one it last changed in. Salesforce documents
    that messages may arrive out of order and repeat; each notification holds the record's whole state as selected,
    so an older one for the same record only holds values it has since left (a number now someone else's). Between
    two of the same time, or without one, the later in the message wins; records without an Id are all kept."""
    latest: dict[str, int] = {}
    for index, (_, fields, moment) in enumerate(records):
        record_id = fields.get("Id")
        if not record_id:
            continue
        kept = latest.get(record_id)
        if kept is None or _not_older(moment, records[kept][2]):
            latest[record_id] = index
    return [
        record
        for index, record in enumerate(records)
        if not record[1].get("Id") or latest.get(record[1].get("Id") or "") == index
    ]


def _not_older(moment: datetime | None, than: datetime | None) -> bool:
    return moment is None or than is None or moment >= than


def _address_country(fields: dict[str, str | None]) -> tuple[CountryEvidence, ...]:
    """The country evidence of the record's address: the mailing (or a Lead's) address fields sent, else the other
    address's, else an Account's (a Person Account's mailing, its other address, billing, shipping)."""
    person_mailing, *account = ACCOUNT_ADDRESS_COUNTRY
    for names in (ADDRESS_COUNTRY, person_mailing, OTHER_ADDRESS_COUNTRY, *account):
        found = tuple(CountryEvidence(name, fields[name]) for name in names if fields.get(name))
        if found:
            return found
    return ()


def reply_summary(reply: Reply) -> str:
    """The bridge's JSON answer as one ASCII header value (at most REPLY_REJECTIONS rejections, their texts cut short),
    for people and tools that read more than the Ack (`curl -i`, the demo): Salesforce reads only the SOAP body."""
    body = dict(reply.body)
    rejected = body.get("rejected")
    if isinstance(rejected, list):
        body["rejected"] = [_short(entry) for entry in rejected[:REPLY_REJECTIONS]]
        if len(rejected) > REPLY_REJECTIONS:
            body["rejected_not_shown"] = len(rejected) - REPLY_REJECTIONS
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True)


def _short(entry: Any) -> Any:
    if not isinstance(entry, dict):
        return entry
    return {k: [str(t)[:160] for t in v] if isinstance(v, list) else v for k, v in entry.items()}


def _check_org(presented: str | None, expected: str) -> None:
    if presented is None or len(presented) not in (15, 18) or len(expected) not in (15, 18):
        raise Unauthorized("the message has no 15- or 18-character OrganizationId")
    if not hmac.compare_digest(presented[:ORG_ID_PREFIX].encode(), expected[:ORG_ID_PREFIX].encode()):
        raise Unauthorized(
            "the message comes from another Salesforce organization than the one configured for source 'salesforce'"
        )


# The encodings an XML declaration may name: Salesforce sends UTF-8 (Outbound Messaging's SOAP 1.1 envelope); expat
# would otherwise decode with any codec Python knows by that name, text-to-text ones such as unicode_escape included.
XML_ENCODINGS = frozenset({"utf-8", "utf8", "utf-16", "utf16", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1"})
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]{0,200}?\bencoding\s*=\s*["']([^"']{0,40})["']""")


def _parse(body: bytes) -> ET.Element:
    """The document's root, parsed by defusedxml with DTDs forbidden; every failure a 400 naming it."""
    if not body.strip():
        raise BadRequest("the request body is empty")
    declared = _DECLARED_ENCODING.match(body[:300])
    if declared is not None and declared.group(1).decode("ascii", "replace").strip().lower() not in XML_ENCODINGS:
        encoding = shown(declared.group(1).decode("ascii", "replace"), 40)
        raise BadRequest(f"the XML declares the encoding {encoding}; Salesforce sends UTF-8")
    try:
        root: ET.Element = SafeET.fromstring(body, forbid_dtd=True)
    except defusedxml.DTDForbidden as exc:
        raise BadRequest("XML with a DOCTYPE or entity declaration is not accepted") from exc
    except defusedxml.DefusedXmlException as exc:
        raise BadRequest(f"XML the bridge does not accept ({type(exc).__name__})") from exc
    except ET.ParseError as exc:
        raise BadRequest(f"the request body is not well-formed XML ({shown(str(exc), 120, quote='')})") from exc
    except (LookupError, ValueError, RecursionError) as exc:  # an encoding Python does not know, and the like
        raise BadRequest(f"the request body cannot be read as XML ({shown(str(exc), 120, quote='')})") from exc
    return root


def _notifications(root: ET.Element) -> ET.Element:
    found = next((el for el in root.iter() if _local(el.tag) == "notifications"), None)
    if found is None:
        raise BadRequest("the SOAP body has no <notifications> element (is this a Salesforce Outbound Message?)")
    return found


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _text(element: ET.Element | None) -> str | None:
    if element is None or element.get(XSI_NIL) == "true":
        return None
    return (element.text or "").strip() or None


def _local(tag: object) -> str:
    return str(tag).rpartition("}")[2]


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = SalesforceSource
