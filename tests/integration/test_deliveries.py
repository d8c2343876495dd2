"""Every source's sample delivery, sent twice as senders do on retry, is buffered once (idempotency in DynamoDB)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from heymarket_bridge.ingest.http import is_delete_route
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from heymarket_bridge_tools.signing import resign_event
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import Bridge, running_bridge
from tests.support import EVENTS, demo_webhook_secrets, load_event

# Bulk delete requests are deliberately not de-duplicated (IngestService._ingest says why; the contact
# operations tests check that a repeated delete is queued again).
SAMPLE_DELIVERIES = sorted(
    f"{path.parent.name}/{path.stem}"
    for path in EVENTS.glob("*/*.json")
    if path.parent.name != "sync" and not is_delete_route(json.loads(path.read_text()))
)


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with HeymarketSandbox() as sandbox, running_bridge(monkeypatch, sandbox) as bridge:
        yield bridge


def fresh(name: str) -> dict[str, Any]:
    """The sample event signed now, so that timestamped signatures (HubSpot, Calendly) are current."""
    event = load_event(name)
    return resign_event(event, demo_webhook_secrets()[Path(name).parent.name], datetime.now(UTC))


@contextmanager
def mappings_set(bridge: Bridge, mappings: str) -> Iterator[None]:
    """The stack's SourceMappings parameter changed in SSM, and the ingest function started again."""
    boto3.client("ssm").put_parameter(Name=os.environ["SOURCE_MAPPINGS_PARAMETER"], Value=mappings, Overwrite=True)
    bridge.restart_ingest()
    yield


def post(bridge: Bridge, event: dict[str, Any]) -> tuple[int, str]:
    response = bridge.ingest(event)
    return response["statusCode"], response["body"]


def test_every_source_has_a_sample_delivery() -> None:
    sources = {name.split("/")[0] for name in SAMPLE_DELIVERIES}
    assert sources == SOURCE_NAMES


@pytest.mark.parametrize("name", SAMPLE_DELIVERIES)
def test_a_repeated_delivery_is_answered_like_the_first_and_enqueues_only_its_opt_outs_again(
    bridge: Bridge, name: str
) -> None:
    event = fresh(name)

    first_status, first_body = post(bridge, event)
    depth_after_first = bridge.buffered_depth()  # a fetched source (Meta, Acuity) queues fetch notices
    # An opt-out is queued every time it is sent (it may re-assert a STOP undone by a START texted in Heymarket)
    opt_outs = sum(contact.get("is_opted_out") is True for contact in queued_contacts(bridge))
    second_status, second_body = post(bridge, event)

    assert first_status in (200, 202)
    assert depth_after_first >= 1
    assert second_status == first_status
    assert bridge.buffered_depth() == depth_after_first + opt_outs
    if first_status in (200, 202) and first_body.startswith("{"):
        first, second = json.loads(first_body), json.loads(second_body)
        assert (second["accepted"], second["rejected"]) == (first["accepted"], first["rejected"])
        assert second.get("duplicate", False) is (opt_outs == 0)
    else:
        assert second_body == first_body  # Salesforce's SOAP Ack


def test_a_refused_delivery_is_not_remembered_so_the_retry_can_succeed(bridge: Bridge) -> None:
    event = load_event("generic/single_contact")
    wrong = json.loads(json.dumps(event))
    wrong["headers"]["authorization"] = "Bearer wrong"
    assert post(bridge, wrong)[0] == 401

    assert post(bridge, event)[0] == 202
    assert bridge.queue_depth() == 1


def test_without_the_delivery_table_the_sender_is_told_to_retry(bridge: Bridge) -> None:
    import boto3

    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=table)

    status, body = post(bridge, load_event("generic/single_contact"))

    assert status == 503
    assert json.loads(body)["error"]["code"] == "buffer_unavailable"
    assert bridge.queue_depth() == 0


def generic(body: Any, key: str | None = None) -> dict[str, Any]:
    event = load_event("generic/single_contact")
    event["body"] = json.dumps(body)
    if key is not None:
        event["headers"]["idempotency-key"] = key
    return event


def hubspot(body: Any) -> dict[str, Any]:
    event = load_event("hubspot/workflow_contact")
    event["body"] = json.dumps(body)
    return resign_event(event, demo_webhook_secrets()["hubspot"], datetime.now(UTC))


def queued_contacts(bridge: Bridge) -> list[dict[str, Any]]:
    return [body["contact"] for body in bridge.queued_bodies()]


def test_the_same_idempotency_key_and_body_is_a_repeat(bridge: Bridge) -> None:
    event = generic({"phone": "+1 510 555 0199", "first": "Erin"}, key="order-1234")

    assert post(bridge, event)[0] == 202
    status, body = post(bridge, event)

    assert (status, json.loads(body)["duplicate"]) == (202, True)
    assert bridge.queue_depth() == 1


def test_an_idempotency_key_reused_with_another_body_is_422_and_nothing_is_queued(bridge: Bridge) -> None:
    assert post(bridge, generic({"phone": "+1 510 555 0199", "first": "Erin"}, key="order-1234"))[0] == 202

    status, body = post(bridge, generic({"phone": "+1 510 555 0177", "first": "Someone else"}, key="order-1234"))

    assert (status, json.loads(body)["error"]["code"]) == (422, "idempotency_key_reused")
    assert bridge.queue_depth() == 1


def test_keys_that_share_their_first_200_characters_are_different_keys(bridge: Bridge) -> None:
    prefix = "k" * 200

    first = post(bridge, generic({"phone": "+1 510 555 0199"}, key=prefix + "-1"))
    second = post(bridge, generic({"phone": "+1 510 555 0177"}, key=prefix + "-2"))

    assert (first[0], second[0]) == (202, 202)
    assert "duplicate" not in json.loads(second[1])
    assert bridge.queue_depth() == 2


def test_without_a_key_the_same_body_resent_at_once_is_a_repeat(bridge: Bridge) -> None:
    event = generic({"phone": "+1 510 555 0199", "first": "Erin", "is_opted_out": False})

    post(bridge, event)
    status, body = post(bridge, event)

    assert (status, json.loads(body)["duplicate"]) == (202, True)
    assert bridge.queue_depth() == 1


@pytest.mark.parametrize("key", [None, "stop-1"], ids=["without a key", "with the same key"])
def test_an_opt_out_sent_again_is_queued_again_and_not_answered_as_a_duplicate(bridge: Bridge, key: str | None) -> None:
    # Given an opt-out queued (the person may since have texted START in Heymarket, which the bridge does not see)
    event = generic({"phone": "+1 510 555 0199", "is_opted_out": True}, key=key)
    assert post(bridge, event)[0] == 202

    # When the sender sends it again
    status, body = post(bridge, event)

    # Then it is queued again: an opt-out is idempotent, and its repeat re-asserts the STOP
    assert (status, "duplicate" in json.loads(body)) == (202, False)
    assert [c["is_opted_out"] for c in queued_contacts(bridge)] == [True, True]


def test_without_a_key_opt_out_opt_in_opt_out_ends_opted_out(bridge: Bridge) -> None:
    for opted_out in (True, False, True):
        status, body = post(bridge, generic({"phone": "+1 510 555 0199", "is_opted_out": opted_out}))
        assert (status, "duplicate" in json.loads(body)) == (202, False)

    assert [c["is_opted_out"] for c in queued_contacts(bridge)] == [True, False, True]


def test_a_hubspot_customised_body_opted_out_in_and_out_again_ends_opted_out(bridge: Bridge) -> None:
    mapping = json.dumps({"hubspot": {"is_opted_out": "sms_opt_out"}})
    body = {"hs_object_id": "75101", "firstname": "Al", "phone": "+1 512 555 0111"}
    with mappings_set(bridge, mapping):
        for opted_out in ("true", "false", "true"):
            status, answer = post(bridge, hubspot({**body, "sms_opt_out": opted_out}))
            assert (status, "duplicate" in json.loads(answer)) == (202, False)

    assert [c["is_opted_out"] for c in queued_contacts(bridge)] == [True, False, True]


def test_a_hubspot_name_changed_and_changed_back_ends_with_the_last_name(bridge: Bridge) -> None:
    for first in ("Al", "Alan", "Al"):
        event = hubspot({"hs_object_id": "75101", "firstname": first, "phone": "+1 512 555 0111"})
        assert post(bridge, event)[0] == 202

    assert [c["first"] for c in queued_contacts(bridge)] == ["Al", "Alan", "Al"]


def test_two_hubspot_workflows_posting_one_contact_at_one_modification_time_are_both_queued(bridge: Bridge) -> None:
    stamp = {"lastmodifieddate": {"value": "1795424391000"}}
    first = {"vid": 75101, "properties": {**stamp, "phone": {"value": "+1 512 555 0111"}, "firstname": {"value": "A"}}}
    second = {"vid": 75101, "properties": {**stamp, "phone": {"value": "+1 512 555 0111"}, "lastname": {"value": "B"}}}

    post(bridge, hubspot(first))
    status, body = post(bridge, hubspot(second))

    assert (status, "duplicate" in json.loads(body)) == (202, False)
    assert bridge.queue_depth() == 2


def test_an_upsert_repeated_after_a_delete_of_its_phone_is_queued_again(bridge: Bridge) -> None:
    upsert = generic({"phone": "+1 510 555 0199", "first": "Erin"})
    delete = load_event("generic/delete_contacts")
    delete["body"] = json.dumps({"phones": ["510-555-0199"]})

    post(bridge, upsert)
    assert post(bridge, delete)[0] == 202
    status, body = post(bridge, upsert)

    assert (status, "duplicate" in json.loads(body)) == (202, False)
    assert bridge.queue_depth() == 3


def test_an_upsert_repeated_after_a_delete_by_id_is_queued_again(bridge: Bridge) -> None:
    upsert = generic({"phone": "+1 510 555 0199", "first": "Erin"})
    delete = load_event("generic/delete_contacts")
    delete["body"] = json.dumps({"contact_ids": ["6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60"]})

    post(bridge, upsert)
    post(bridge, delete)
    status, body = post(bridge, upsert)

    assert (status, "duplicate" in json.loads(body)) == (202, False)


def test_a_shopify_delivery_replayed_with_its_original_headers_long_after_is_refused(bridge: Bridge) -> None:
    two_years_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(days=730)
    event = resign_event(load_event("shopify/customers_create"), demo_webhook_secrets()["shopify"], two_years_ago)

    status, body = post(bridge, event)

    assert status == 401
    assert "X-Shopify-Triggered-At" in json.loads(body)["error"]["message"]
    assert bridge.queue_depth() == 0


def test_the_retry_after_a_partial_failure_does_not_queue_the_first_part_twice(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = [{"phone": f"+1 510 555 01{n:02d}"} for n in range(12)]
    event = generic({"contacts": contacts})
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def second_batch_fails(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "SendMessageBatch" and len(api_params["Entries"]) < 10:
            return {
                "Successful": [],
                "Failed": [
                    {"Id": e["Id"], "Code": "InternalError", "SenderFault": False} for e in api_params["Entries"]
                ],
            }
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", second_batch_fails)
    assert post(bridge, event)[0] == 503
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert bridge.queue_depth() == 10

    status, body = post(bridge, event)

    assert (status, json.loads(body)["accepted"]) == (202, 12)
    assert sorted(c["phone"] for c in queued_contacts(bridge)) == sorted(f"151055501{n:02d}" for n in range(12))


def test_one_delivery_opting_an_opted_out_phone_in_then_out_again_leaves_it_opted_out(bridge: Bridge) -> None:
    assert post(bridge, generic({"phone": "+1 510 555 0199", "is_opted_out": True}))[0] == 202

    contacts = [{"phone": "+1 510 555 0199", "is_opted_out": v} for v in (False, True)]
    status, _ = post(bridge, generic({"contacts": contacts}))

    assert status == 202
    assert [c["is_opted_out"] for c in queued_contacts(bridge)][-1] is True


def test_the_delivery_tables_saved_answers_hold_no_email_or_phone_a_sender_sent(bridge: Bridge) -> None:
    # Neither an id nor a name (a tag may be a name): wrapped in lists, so that they are refused and echoed.
    contact = {"phone": "+1 510 555 0199", "tags": [["ada.lovelace@example.com"], ["+1 510 555 0142"]]}

    assert post(bridge, generic(contact, key="order-1"))[0] == 202

    items = json.dumps(boto3.client("dynamodb").scan(TableName=os.environ["IDEMPOTENCY_TABLE"])["Items"])
    assert "ada.lovelace" not in items
    assert "555 0142" not in items
    assert "5550142" not in items
    assert "a***@example.com" in items  # the answer is saved, masked
