"""Every source's sample delivery, sent twice as senders do on retry, is buffered once (idempotency in DynamoDB)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge.webhook import is_delete_route
from heymarket_bridge_tools.sandbox import HeymarketSandbox
from heymarket_bridge_tools.signing import resign_event
from tests.integration.bridge import INGEST, Bridge, running_bridge
from tests.support import EVENTS, FakeLambdaContext, demo_webhook_secrets, load_event

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


def post(event: dict[str, Any]) -> tuple[int, str]:
    response = INGEST.lambda_handler(event, FakeLambdaContext(10, "IngestFunction"))
    return response["statusCode"], response["body"]


def test_every_source_has_a_sample_delivery() -> None:
    sources = {name.split("/")[0] for name in SAMPLE_DELIVERIES}
    assert sources == {"generic", "typeform", "hubspot", "calendly", "shopify", "jotform", "salesforce"}


@pytest.mark.parametrize("name", SAMPLE_DELIVERIES)
def test_a_repeated_delivery_is_answered_like_the_first_and_enqueues_nothing(bridge: Bridge, name: str) -> None:
    event = fresh(name)

    first_status, first_body = post(event)
    depth_after_first = bridge.queue_depth()
    second_status, second_body = post(event)

    assert first_status in (200, 202)
    assert depth_after_first >= 1
    assert second_status == first_status
    assert bridge.queue_depth() == depth_after_first
    if first_status == 202:
        first, second = json.loads(first_body), json.loads(second_body)
        assert (second["accepted"], second["rejected"]) == (first["accepted"], first["rejected"])
        assert second["duplicate"] is True
    else:
        assert second_body == first_body  # Salesforce's SOAP Ack


def test_a_refused_delivery_is_not_remembered_so_the_retry_can_succeed(bridge: Bridge) -> None:
    event = load_event("generic/single_contact")
    wrong = json.loads(json.dumps(event))
    wrong["headers"]["authorization"] = "Bearer wrong"
    assert post(wrong)[0] == 401

    assert post(event)[0] == 202
    assert bridge.queue_depth() == 1


def test_without_the_delivery_table_the_sender_is_told_to_retry(bridge: Bridge) -> None:
    import boto3

    dynamodb = boto3.client("dynamodb")
    for table in dynamodb.list_tables()["TableNames"]:
        dynamodb.delete_table(TableName=table)

    status, body = post(load_event("generic/single_contact"))

    assert status == 503
    assert json.loads(body)["error"]["code"] == "buffer_unavailable"
    assert bridge.queue_depth() == 0


def test_a_generic_sender_can_name_its_deliveries_with_an_idempotency_key(bridge: Bridge) -> None:
    first = load_event("generic/single_contact")
    first["headers"]["idempotency-key"] = "order-1234"
    retry = json.loads(json.dumps(first))
    retry["body"] = json.dumps({"phone": "+1 510 555 0199", "first": "Re-sent with a new timestamp"})

    assert post(first)[0] == 202
    status, body = post(retry)

    assert status == 202
    assert json.loads(body)["duplicate"] is True
    assert bridge.queue_depth() == 1


def test_an_identical_generic_body_is_a_retry_only_for_a_short_while(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opted out, opted in, opted out again: the third body equals the first but is a real change.
    from heymarket_bridge.sources import generic

    monkeypatch.setattr(generic, "BODY_HASH_RETENTION_S", 1)
    event = load_event("generic/single_contact")
    assert post(event)[0] == 202
    assert json.loads(post(event)[1]).get("duplicate") is True  # an immediate retry

    time.sleep(2.1)
    status, body = post(event)

    assert status == 202
    assert "duplicate" not in json.loads(body)
    assert bridge.queue_depth() == 2
