from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import (
    SIGNED_AT,
    deliver,
    payload_of,
    read_delivery,
    resigned,
    seconds,
    tampered,
    with_headers,
    with_json,
)

SAMPLE = "hubspot/workflow_contact"


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def at_url(event: dict[str, Any], path: str, query: str) -> dict[str, Any]:
    moved = copy.deepcopy(event)
    moved["rawPath"], moved["rawQueryString"] = path, query
    return moved


def test_the_sample_contact_becomes_one_contact_with_its_mobile_number(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 202
    assert delivered.queued == [
        {"phone": "15125550111", "first": "Katherine", "last": "Johnson", "email": "katherine.johnson@example.com"}
    ]


def test_a_changed_body_is_401_and_nothing_is_queued(event: dict[str, Any]) -> None:
    delivered = deliver(tampered(event, "Katherine", "Kathryn"))

    assert delivered.status == 401
    assert delivered.queued == []


def test_a_signature_made_with_another_secret_is_401(event: dict[str, Any]) -> None:
    assert deliver(resigned(event, secret="another-client-secret")).status == 401


def test_a_missing_timestamp_is_401(event: dict[str, Any]) -> None:
    assert deliver(with_headers(event, x_hubspot_request_timestamp=None)).status == 401


@pytest.mark.parametrize("offset_s", [-301, 301])
def test_a_timestamp_more_than_five_minutes_away_is_401(event: dict[str, Any], offset_s: int) -> None:
    assert deliver(event, now=SIGNED_AT + seconds(offset_s)).status == 401


def test_a_timestamp_within_five_minutes_is_accepted(event: dict[str, Any]) -> None:
    assert deliver(event, now=SIGNED_AT + seconds(299)).status == 202


def test_the_signature_covers_the_path_and_query_as_hubspot_signs_them(event: dict[str, Any]) -> None:
    staged = resigned(at_url(event, "/prod/webhooks/hubspot", "portal=62515&next=a%3Ab%2Fc"))

    assert deliver(staged).status == 202
    assert deliver(at_url(staged, "/prod/webhooks/hubspot", "portal=62516&next=a%3Ab%2Fc")).status == 401
    assert deliver(at_url(staged, "/webhooks/hubspot", "portal=62515&next=a%3Ab%2Fc")).status == 401


def test_a_payload_without_properties_is_400_naming_them(event: dict[str, Any]) -> None:
    delivered = deliver(with_json(event, {"vid": 75101, "portal-id": 62515}))

    assert delivered.status == 400
    assert '"properties"' in delivered.json["error"]["message"]


def test_a_contact_without_phone_properties_is_rejected_with_the_reason(event: dict[str, Any]) -> None:
    payload = payload_of(event)
    del payload["properties"]["phone"], payload["properties"]["mobilephone"]

    delivered = deliver(with_json(event, payload))

    assert delivered.status == 202
    assert delivered.rejected == [
        {"index": 0, "errors": ['the HubSpot contact has no phone number: no "mobilephone" or "phone" property']}
    ]


def test_in_a_list_a_contact_without_phone_is_rejected_while_the_others_go_through(event: dict[str, Any]) -> None:
    with_phone = payload_of(event)
    without_phone = {"vid": 75102, "properties": {"firstname": {"value": "Ida"}, "email": {"value": "ida@example.com"}}}

    delivered = deliver(with_json(event, [without_phone, with_phone]))

    assert delivered.json["accepted"] == 1
    assert [r["index"] for r in delivered.rejected] == [0]
    assert [c["phone"] for c in delivered.queued] == ["15125550111"]


def test_a_customised_body_of_plain_properties_is_read(event: dict[str, Any]) -> None:
    body = {"firstname": "Ida", "lastname": "Rhodes", "phone": "+1 512 555 0162", "email": "ida@example.com"}

    assert deliver(with_json(event, body)).queued == [
        {"phone": "15125550162", "first": "Ida", "last": "Rhodes", "email": "ida@example.com"}
    ]


def test_a_mapping_reads_properties_by_internal_name(event: dict[str, Any]) -> None:
    mapping = {"phone": "phone", "custom": {"101": "lifecyclestage", "102": "portal-id"}}

    [contact] = deliver(event, mappings={"hubspot": mapping}).queued

    assert contact["phone"] == "15125550162"
    assert contact["custom"] == {"101": "lead", "102": "62515"}


def test_a_workflow_delivery_has_no_sender_id(event: dict[str, Any]) -> None:
    # The object id and a modification time do not tell two workflows' bodies apart (issue 13).
    assert read_delivery(event).identity.sender_id == ""


# ---------------------------------------------------------------- signature versions (issue 13)
# HubSpot's "Validating requests from HubSpot" gives a worked example for v1 and v2; both are checked as published.
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_V1_BODY = (
    '[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":'
    '"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)


def hubspot_request(body: str, headers: dict[str, str], url: str = "https://www.example.com/webhook_uri") -> Any:
    from urllib.parse import urlsplit

    from heymarket_bridge.ingest.http import WebhookRequest

    parts = urlsplit(url)
    return WebhookRequest(
        "hubspot", "POST", parts.path, headers, {}, body.encode(), "req", raw_query=parts.query, domain=parts.netloc
    )


def authenticate(request: Any, secret: str = DOC_SECRET, public_base_url: str = "") -> None:
    from heymarket_bridge.ingest.sources.common import ReadContext, SourceCredentials
    from heymarket_bridge.ingest.sources.hubspot import HubSpotSource

    context = ReadContext(now=SIGNED_AT, credentials=SourceCredentials(secret), public_base_url=public_base_url)
    HubSpotSource().authenticate(request, context)


def test_the_documented_v1_example_is_accepted() -> None:
    signature = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"

    authenticate(hubspot_request(DOC_V1_BODY, {"x-hubspot-signature": signature, "x-hubspot-signature-version": "v1"}))


def test_the_documented_v2_example_is_accepted() -> None:
    signature = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    headers = {"x-hubspot-signature": signature, "x-hubspot-signature-version": "v2"}

    authenticate(hubspot_request('{"example_field":"example_value"}', headers))


def test_a_v2_signature_made_with_another_secret_is_refused() -> None:
    from heymarket_bridge.ingest.failures import Unauthorized

    signature = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
    headers = {"x-hubspot-signature": signature, "x-hubspot-signature-version": "v2"}

    with pytest.raises(Unauthorized):
        authenticate(hubspot_request('{"example_field":"example_value"}', headers), secret="another")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_workflow_delivery_signed_with_an_older_version_only_is_accepted(event: dict[str, Any], version: str) -> None:
    from heymarket_bridge_tools.signing import event_body, event_url, sign

    headers = sign(
        "hubspot", event_body(event), "demo-hubspot-client-secret", url=event_url(event), now=SIGNED_AT, version=version
    )
    older = with_headers(event, x_hubspot_signature_v3=None, x_hubspot_request_timestamp=None)
    older["headers"].update({k.lower(): v for k, v in headers.items()})

    assert deliver(older).status == 202


def test_a_stale_v3_signature_is_refused_even_with_a_valid_v2_one(event: dict[str, Any]) -> None:
    from heymarket_bridge_tools.signing import event_body, event_url, sign

    v2 = sign(
        "hubspot", event_body(event), "demo-hubspot-client-secret", url=event_url(event), now=SIGNED_AT, version="v2"
    )
    both = with_headers(event, **{k.replace("-", "_").lower(): v for k, v in v2.items()})

    assert deliver(both, now=SIGNED_AT + seconds(3600)).status == 401


@pytest.mark.parametrize("timestamp", ["9" * 400, "١٧٩٥٤٢٤٤٠٠٠٠٠", "-1", "1e12", ""])
def test_a_timestamp_that_is_not_milliseconds_is_401_not_500(event: dict[str, Any], timestamp: str) -> None:
    delivered = deliver(with_headers(event, x_hubspot_request_timestamp=timestamp))

    assert delivered.status == 401
    assert "X-HubSpot-Request-Timestamp" in delivered.json["error"]["message"]


def test_behind_a_custom_domain_the_public_base_url_is_the_signed_url(event: dict[str, Any]) -> None:
    from heymarket_bridge_tools.signing import event_body, sign

    mapped = copy.deepcopy(event)
    mapped["requestContext"]["domainName"] = "hooks.example.com"
    url = "https://hooks.example.com/bridge/webhooks/hubspot"  # API mapping "bridge": rawPath lacks it
    signed = sign("hubspot", event_body(event), "demo-hubspot-client-secret", url=url, now=SIGNED_AT)
    mapped["headers"].update({k.lower(): v for k, v in signed.items()})

    assert deliver(mapped).status == 401
    assert deliver(mapped, public_base_url="https://hooks.example.com/bridge").status == 202


def test_a_customised_body_with_the_object_id_and_opt_out_at_the_top_is_read(event: dict[str, Any]) -> None:
    body = {"hs_object_id": "75101", "phone": "+1 512 555 0162", "sms_opt_out": "true"}

    [contact] = deliver(with_json(event, body), mappings={"hubspot": {"is_opted_out": "sms_opt_out"}}).queued

    assert contact == {"phone": "15125550162", "is_opted_out": True}


def test_a_mobilephone_that_is_not_a_number_gives_way_to_the_phone(event: dict[str, Any]) -> None:
    body = {"mobilephone": "n/a", "phone": "+1 512 555 0162"}

    assert [c["phone"] for c in deliver(with_json(event, body)).queued] == ["15125550162"]


# HubSpotRequireSignatureV3: v1 and v2 sign no time, so stripping a request's v3 headers would bypass v3's window.


def v3_stripped_to(event: dict[str, Any], version: str) -> dict[str, Any]:
    """The event as a replay of a recorded request would be sent: its v3 headers removed, its v1/v2 one kept."""
    from heymarket_bridge_tools.signing import event_body, event_url, sign

    headers = sign(
        "hubspot", event_body(event), "demo-hubspot-client-secret", url=event_url(event), now=SIGNED_AT, version=version
    )
    stripped = with_headers(event, x_hubspot_signature_v3=None, x_hubspot_request_timestamp=None)
    stripped["headers"].update({k.lower(): v for k, v in headers.items()})
    return stripped


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_when_v3_is_required_a_request_stripped_of_its_v3_headers_is_refused_a_year_later(
    event: dict[str, Any], version: str
) -> None:
    delivered = deliver(v3_stripped_to(event, version), now=SIGNED_AT + seconds(365 * 86_400), hubspot_require_v3=True)

    assert delivered.status == 401
    assert "X-HubSpot-Signature-v3" in delivered.json["error"]["message"]
    assert delivered.queued == []


def test_when_v3_is_required_a_current_v3_request_is_accepted(event: dict[str, Any]) -> None:
    assert deliver(event, hubspot_require_v3=True).status == 202


def test_by_default_a_v2_only_request_is_accepted_and_the_version_logged(
    event: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")

    assert deliver(v3_stripped_to(event, "v2")).status == 202

    [checked] = [r for r in caplog.records if r.getMessage() == "HubSpot signature checked"]
    assert (checked.signature_version, checked.signed_time) == ("v2", False)


def test_the_require_v3_setting_is_read_from_the_environment() -> None:
    from heymarket_bridge.settings import IngestSettings

    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "arn", "HUBSPOT_REQUIRE_SIGNATURE_V3": "true"}

    assert IngestSettings.from_env(env).hubspot_require_v3 is True
    assert IngestSettings.from_env({**env, "HUBSPOT_REQUIRE_SIGNATURE_V3": ""}).hubspot_require_v3 is False
