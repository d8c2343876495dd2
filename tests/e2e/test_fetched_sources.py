"""Meta and Acuity through the whole local stack over HTTP: the signed notification answered 200, the record fetched
from the vendor stand-in by FetchFunction on LeadFetchQueue, the contact in the Heymarket sandbox; and a lead whose
fetch is refused for credentials waits, then arrives once they are fixed."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import urllib3

from heymarket_bridge_tools.signing import event_body, sign
from heymarket_local.stack import LocalStack
from tests.e2e.stacks import StartStack
from tests.support import demo_webhook_secrets, load_event

pytestmark = pytest.mark.e2e

PHONES = {"meta": "14155550148", "acuity": "12125550176"}


def notify(stack: LocalStack, name: str) -> int:
    event = load_event(name)
    source = name.split("/")[0]
    body = event_body(event)
    headers = sign(source, body, demo_webhook_secrets()[source], now=datetime.now(UTC))
    headers["Content-Type"] = event["headers"]["content-type"]
    return int(urllib3.request("POST", stack.webhook_url(source), body=body, headers=headers).status)


def stored(stack: LocalStack, phone: str, timeout_s: float = 20) -> bool:
    assert stack.sandbox is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if phone in {str(contact["phone"]) for contact in stack.sandbox.contacts()}:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("name", ["meta/leadgen", "acuity/appointment_scheduled"])
def test_a_notification_becomes_a_contact_in_heymarket_with_one_request_to_the_vendor(
    start_stack: StartStack, name: str
) -> None:
    stack = start_stack()

    assert notify(stack, name) == 200

    assert stored(stack, PHONES[name.split("/")[0]])
    assert stack.fetching is not None
    assert sum(stack.fetching.standins.requests.values()) == 1


def test_the_handshake_is_answered_with_the_challenge(start_stack: StartStack) -> None:
    stack = start_stack()
    token = demo_webhook_secrets()["meta_verify_token"]

    answer = urllib3.request(
        "GET",
        stack.webhook_url("meta"),
        fields={"hub.mode": "subscribe", "hub.challenge": "77", "hub.verify_token": token},
    )

    assert (answer.status, answer.data) == (200, b"77")


def test_a_lead_refused_for_credentials_waits_and_arrives_once_they_are_fixed(start_stack: StartStack) -> None:
    stack = start_stack()
    assert stack.fetching is not None
    stack.fetching.standins.fail("graph", "token_expired")

    assert notify(stack, "meta/leadgen") == 200
    assert not stored(stack, PHONES["meta"], timeout_s=3)

    stack.fetching.standins.heal()
    assert stored(stack, PHONES["meta"])
