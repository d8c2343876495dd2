"""functions/fetch/app.py against moto and the vendor stand-ins: a Meta notification posted to the ingest handler
becomes a fetch notice, the fetch handler fetches the lead and puts its contact on the contact queue; a refused token
keeps the notice (put back, delayed), counts the alarm's metric, and queues nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge_tools.signing import resign_event
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import Bridge, running_bridge
from tests.support import FakeLambdaContext, demo_webhook_secrets, load_event, load_handler
from vendor_standins import VendorStandins

SECRETS = demo_webhook_secrets()


@pytest.fixture
def standins() -> Iterator[VendorStandins]:
    with VendorStandins(
        page_token=SECRETS["meta_page_token"],
        acuity_user_id=SECRETS["acuity_user_id"],
        acuity_api_key=SECRETS["acuity"],
    ) as running:
        yield running


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch, standins: VendorStandins) -> Iterator[Bridge]:
    overrides: dict[str, str | int] = {"GraphBaseUrl": standins.url, "AcuityBaseUrl": standins.url}
    with HeymarketSandbox() as sandbox, running_bridge(monkeypatch, sandbox, overrides) as bridge:
        fetch_env = StackTemplate.load(parameter_overrides=overrides).function_environment(
            "FetchFunction", bridge.resources
        )
        for name, value in fetch_env.items():
            monkeypatch.setenv(name, value)
        yield bridge


def fetch_batch(bridge: Bridge) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the SQS event of every fetch notice waiting, the fetch handler's answer to it)."""
    url = bridge.resources.queues["LeadFetchQueue"]
    messages = bridge.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"])
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        }
        for m in messages.get("Messages", [])
    ]
    event = {"Records": records}
    answer = load_handler("fetch").lambda_handler(event, FakeLambdaContext(60, "FetchFunction"))
    return event, answer


def delayed(bridge: Bridge) -> int:
    attributes = bridge.sqs.get_queue_attributes(
        QueueUrl=bridge.resources.queues["LeadFetchQueue"], AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesDelayed"])


def notify(bridge: Bridge) -> None:
    event = resign_event(load_event("meta/leadgen"), SECRETS["meta"], datetime.now(UTC))
    assert bridge.ingest(event)["statusCode"] == 200


def test_a_notification_s_lead_is_fetched_and_its_contact_queued(bridge: Bridge, standins: VendorStandins) -> None:
    notify(bridge)

    event, answer = fetch_batch(bridge)

    assert len(event["Records"]) == 1
    assert answer == {"batchItemFailures": []}
    (record,) = bridge.queued()
    assert json.loads(record["body"])["contact"]["phone"] == "14155550148"
    assert standins.requests["graph"] == 1


def test_a_refused_token_keeps_the_lead_waiting_and_counts_the_alarm_metric(
    bridge: Bridge, standins: VendorStandins, capsys: pytest.CaptureFixture[str]
) -> None:
    standins.fail("graph", "token_expired")
    notify(bridge)

    _, answer = fetch_batch(bridge)

    assert answer == {"batchItemFailures": []}  # the original is settled: its copy waits, delayed
    assert delayed(bridge) == 1
    assert bridge.queue_depth() == 0
    assert '"FetchConfigurationErrors"' in capsys.readouterr().out
