from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support import load_event
from tests.unit.sources.harness import (
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
