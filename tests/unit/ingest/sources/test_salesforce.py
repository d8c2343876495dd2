from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from heymarket_bridge.domain.mapping import Unmappable
from heymarket_bridge.ingest.failures import BadRequest
from heymarket_bridge.ingest.sources import salesforce as salesforce_module
from heymarket_bridge_tools.signing import event_body
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import Delivered, deliver, read_delivery, with_body

SAMPLE = "salesforce/outbound_message"
SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUTBOUND = "{http://soap.sforce.com/2005/09/outbound}"
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D000000000001EAA</OrganizationId>
<ActionId>&lol2;</ActionId></notifications></soapenv:Body></soapenv:Envelope>"""


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def xml_of(event: dict[str, Any]) -> str:
    return event_body(event).decode()


def acked(delivered: Delivered) -> bool:
    root = ET.fromstring(delivered.reply.body)
    return root.findtext(f"{SOAP}Body/{OUTBOUND}notificationsResponse/{OUTBOUND}Ack") == "true"


def fault(delivered: Delivered) -> str:
    return ET.fromstring(delivered.reply.body).findtext(f"{SOAP}Body/{SOAP}Fault/faultstring") or ""


def with_secret(org_id: str) -> dict[str, str]:
    return {**demo_webhook_secrets(), "salesforce_org_id": org_id}


def test_the_sample_message_queues_its_contacts_and_is_acknowledged(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 200
    assert delivered.reply.headers["Content-Type"].startswith("text/xml")
    assert acked(delivered)
    assert delivered.queued == [
        {"phone": "14155552671", "first": "Evelyn", "last": "Boyd", "email": "evelyn.boyd@example.com"},
        {"phone": "442079460958", "first": "Christine", "last": "Darden", "email": "christine.darden@example.com"},
    ]


def test_a_notification_without_a_phone_is_rejected_while_the_others_go_through(event: dict[str, Any]) -> None:
    submissions = read_delivery(event).submissions

    assert [isinstance(s, Unmappable) for s in submissions] == [False, False, True]
    assert submissions[2] == Unmappable(
        ("the Salesforce Contact has no phone number: no MobilePhone or Phone field",),
        {"first": "Miriam", "last": "Mann", "email": "miriam.mann@example.com"},
    )


def test_a_message_whose_every_notification_is_rejected_is_still_acknowledged(event: dict[str, Any]) -> None:
    body = xml_of(event).replace("+1 415 555 2671", "").replace("(510) 555-0142", "").replace("+44 20 7946 0958", "")

    delivered = deliver(with_body(event, body))

    assert (delivered.status, acked(delivered), delivered.queued) == (200, True, [])


def test_another_org_is_401_with_a_soap_fault_and_nothing_is_queued(event: dict[str, Any]) -> None:
    delivered = deliver(event, secrets=with_secret("00D000000000002EAA"))

    assert delivered.status == 401
    assert delivered.reply.headers["Content-Type"].startswith("text/xml")
    assert "salesforce" in fault(delivered)
    assert delivered.queued == []


def test_the_15_character_org_id_is_accepted(event: dict[str, Any]) -> None:
    assert deliver(event, secrets=with_secret("00D000000000001")).status == 200


def test_org_ids_differing_only_in_letter_case_are_different_orgs(event: dict[str, Any]) -> None:
    assert deliver(event, secrets=with_secret("00d000000000001")).status == 401


def test_a_message_without_an_org_id_is_401(event: dict[str, Any]) -> None:
    body = xml_of(event).replace("<OrganizationId>00D000000000001EAA</OrganizationId>", "")

    assert deliver(with_body(event, body)).status == 401


def test_a_doctype_is_refused_before_parsing(event: dict[str, Any]) -> None:
    delivered = deliver(with_body(event, BILLION_LAUGHS))

    assert delivered.status == 400
    assert "DOCTYPE" in fault(delivered)
    assert delivered.queued == []


def test_a_body_that_is_not_xml_is_400(event: dict[str, Any]) -> None:
    assert deliver(with_body(event, '{"phone": "+15105550123"}')).status == 400


def test_a_soap_message_without_notifications_is_400_naming_them(event: dict[str, Any]) -> None:
    body = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><somethingElse/></soapenv:Body></soapenv:Envelope>"
    )

    delivered = deliver(with_body(event, body))

    assert delivered.status == 400
    assert "<notifications>" in fault(delivered)


def test_a_message_without_a_notification_is_400_naming_it(event: dict[str, Any]) -> None:
    xml = xml_of(event)
    body = xml[: xml.index("<Notification>")] + xml[xml.index("</notifications>") :]

    delivered = deliver(with_body(event, body))

    assert delivered.status == 400
    assert "<Notification>" in fault(delivered)


def test_a_mapping_reads_sobject_fields_by_api_name(event: dict[str, Any]) -> None:
    mapping = {"phone": "Phone", "custom": {"101": "Id"}}

    delivered = deliver(event, mappings={"salesforce": mapping})

    assert [(c["phone"], c["custom"]) for c in delivered.queued] == [
        ("15105550142", {"101": "003000000000001AAA"}),
        ("442079460958", {"101": "003000000000002AAA"}),
    ]


def test_the_delivery_id_lists_the_notification_ids(event: dict[str, Any]) -> None:
    assert read_delivery(event).identity.sender_id == "04l000000000001AAA,04l000000000002AAA,04l000000000003AAA"


# ---------------------------------------------------------------- a second factor, and XML parsed safely (issue 13)


def without_token(event: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["rawQueryString"] = f"token={token}" if token else ""
    changed["queryStringParameters"] = {"token": token} if token else {}
    return changed


def test_the_org_id_alone_is_not_enough_without_the_url_token(event: dict[str, Any]) -> None:
    delivered = deliver(without_token(event))

    assert delivered.status == 401
    assert "token" in fault(delivered)
    assert delivered.queued == []


def test_a_wrong_url_token_is_401_with_a_soap_fault(event: dict[str, Any]) -> None:
    delivered = deliver(without_token(event, "guessed"))

    assert (delivered.status, delivered.reply.headers["Content-Type"]) == (401, "text/xml; charset=utf-8")


def test_an_org_id_in_the_salesforce_entry_is_refused_saying_how_to_set_up_the_token(event: dict[str, Any]) -> None:
    secrets = {**demo_webhook_secrets(), "salesforce": "00D000000000001EAA"}
    del secrets["salesforce_org_id"]

    delivered = deliver(event, secrets=secrets)

    assert delivered.status == 401
    assert "salesforce_org_id" in fault(delivered)


def test_without_the_org_id_entry_the_message_is_refused_naming_it(event: dict[str, Any]) -> None:
    secrets = {k: v for k, v in demo_webhook_secrets().items() if k != "salesforce_org_id"}

    delivered = deliver(event, secrets=secrets)

    assert delivered.status == 401
    assert "salesforce_org_id" in fault(delivered)


def test_a_utf16_body_cannot_slip_a_doctype_past_the_parser(event: dict[str, Any]) -> None:
    body = BILLION_LAUGHS.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')

    delivered = deliver(with_body_bytes(event, body.encode("utf-16")))

    assert delivered.status == 400
    assert "DOCTYPE" in fault(delivered)


def test_a_megabyte_entity_document_with_a_wrong_org_id_is_refused_at_once(event: dict[str, Any]) -> None:
    import time

    entity = "x" * (1024 * 1024 - 600)
    body = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY big "{entity}"><!ENTITY b2 "&big;&big;&big;&big;">]>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>00D000000000002EAA'
        "</OrganizationId><ActionId>&b2;</ActionId></notifications></soapenv:Body></soapenv:Envelope>"
    )
    started = time.perf_counter()

    delivered = deliver(with_body(event, body))

    assert delivered.status in (400, 401)
    assert time.perf_counter() - started < 2


def test_a_body_declaring_an_unknown_encoding_is_400_not_500(event: dict[str, Any]) -> None:
    body = xml_of(event).replace('encoding="UTF-8"', 'encoding="x-no-such-encoding"')

    delivered = deliver(with_body(event, body))

    assert delivered.status == 400
    assert delivered.reply.headers["Content-Type"].startswith("text/xml")


def test_a_body_that_is_not_base64_gets_a_soap_fault(event: dict[str, Any]) -> None:
    broken = {**event, "body": "%%% not base64", "isBase64Encoded": True}

    delivered = deliver(broken)

    assert (delivered.status, delivered.reply.headers["Content-Type"]) == (400, "text/xml; charset=utf-8")
    assert "base64" in fault(delivered)


def test_with_salesforce_allowed_unauthenticated_the_org_id_is_still_checked(event: dict[str, Any]) -> None:
    secrets = {k: v for k, v in demo_webhook_secrets().items() if k != "salesforce"}
    allowed = frozenset({"salesforce"})

    assert deliver(without_token(event), secrets=secrets, allow_unauthenticated=allowed).status == 200
    other_org = {**secrets, "salesforce_org_id": "00D000000000002EAA"}
    assert deliver(without_token(event), secrets=other_org, allow_unauthenticated=allowed).status == 401


def with_body_bytes(event: dict[str, Any], body: bytes) -> dict[str, Any]:
    import base64

    changed = copy.deepcopy(event)
    changed["body"], changed["isBase64Encoded"] = base64.b64encode(body).decode(), True
    return changed


def with_notifications(event: dict[str, Any], count: int) -> dict[str, Any]:
    """The sample message carrying `count` notifications, each for a contact of its own."""
    xml = xml_of(event)
    start, end = xml.index("   <Notification>"), xml.index("  </notifications>")
    template = xml[start : xml.index("   <Notification>", start + 1)]
    notifications = "".join(
        template.replace("04l000000000001AAA", f"04l{n:012d}AAA")
        .replace("003000000000001AAA", f"003{n:012d}AAA")
        .replace("+1 415 555 2671", f"+1 415 555 {n:04d}")
        for n in range(count)
    )
    return with_body(event, xml[:start] + notifications + xml[end:])


def test_a_full_salesforce_message_is_acknowledged_whatever_the_contacts_per_request_limit(
    event: dict[str, Any],
) -> None:
    delivered = deliver(with_notifications(event, 100), max_contacts_per_request=10)

    assert (delivered.status, acked(delivered), len(delivered.queued)) == (200, True, 100)


def test_a_message_of_more_notifications_than_salesforce_sends_is_413_with_a_soap_fault(event: dict[str, Any]) -> None:
    delivered = deliver(with_notifications(event, 101), max_contacts_per_request=10)

    assert delivered.status == 413
    assert "101 notifications" in fault(delivered)
    assert delivered.queued == []


def test_a_limit_above_salesforces_batch_is_the_limit(event: dict[str, Any]) -> None:
    assert deliver(with_notifications(event, 101), max_contacts_per_request=500).status == 200


def test_the_ack_carries_the_bridges_answer_in_a_header_salesforce_ignores(event: dict[str, Any]) -> None:
    import json

    delivered = deliver(event)

    answer = json.loads(delivered.reply.headers["X-Bridge-Reply"])
    assert (answer["accepted"], [entry["index"] for entry in answer["rejected"]]) == (2, [2])
    assert acked(delivered)


@pytest.mark.parametrize("encoding", ["unicode_escape", "rot13", "utf-7", "cp037", "zlib"])
def test_an_xml_declaration_naming_an_encoding_salesforce_never_sends_is_a_400_naming_it(encoding: str) -> None:
    # Given a body whose XML declaration names a codec Python knows but Salesforce never uses
    body = f'<?xml version="1.0" encoding="{encoding}"?><a/>'.encode()

    # When it is read, Then it is refused before any decoding, and the answer names the encoding
    with pytest.raises(BadRequest, match=encoding):
        salesforce_module._parse(body)


@pytest.mark.parametrize("encoding", ["UTF-8", "utf-8", "ISO-8859-1"])
def test_an_xml_declaration_naming_utf8_or_latin1_is_read(encoding: str) -> None:
    root = salesforce_module._parse(f'<?xml version="1.0" encoding="{encoding}"?><a>x</a>'.encode())
    assert root.text == "x"
