"""Answers Heymarket does not document (a proxy's HTML page, an empty or cut body, JSON of another shape, a redirect,
a 404, an answer trickling in) are never taken for success, never crash the sync function, never split a chunk
into single contacts: both handlers against moto and the sandbox, which stores the write and then mangles the
answer, as a proxy would. The sandbox creates a SECOND contact for a phone it holds (the worst case): the retries
must still leave exactly one contact per phone."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator

import pytest
import urllib3

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

PHONES = [f"1510555030{n}" for n in range(6)]
MANGLED_AFTER_THE_WRITE = ("non_json", "empty", "truncated", "other_shape", "non_object_items")
ENDPOINTS = ("POST /v2/contacts", "POST /v2/contacts/search")


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(duplicate_create="duplicate")) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 3}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


def post_contacts(bridge: Bridge, first: str) -> None:
    event = copy.deepcopy(load_event("generic/single_contact"))
    event["body"] = json.dumps({"contacts": [{"phone": phone, "first": first} for phone in PHONES]})
    event["isBase64Encoded"] = False
    assert bridge.post(event)[0] == 202


def seed(bridge: Bridge, phones: list[str], first: str) -> None:
    """Contacts made in Heymarket's app (the team API key): the bridge has never synced them, so it looks them up."""
    for phone in phones:
        answer = urllib3.request(
            "POST",
            f"{bridge.sandbox.url}/v1/contact",
            json={"phone": phone, "first": first},
            headers={"Authorization": f"Bearer {bridge.sandbox.config.api_key}"},
        )
        assert answer.status == 200, answer.data


def held(bridge: Bridge) -> dict[str, list[str]]:
    by_phone: dict[str, list[str]] = {}
    for contact in bridge.sandbox.contacts():
        by_phone.setdefault(str(contact["phone"]), []).append(str(contact["first"]))
    return by_phone


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("fault", MANGLED_AFTER_THE_WRITE)
def test_an_answer_not_of_the_documented_shape_is_retried_never_counted_and_leaves_one_contact_per_phone(
    bridge: Bridge, fault: str, endpoint: str
) -> None:
    # Given three contacts Heymarket holds (made in its app) and three it does not, and answers mangled after
    # taking effect
    seed(bridge, PHONES[:3], "Old")
    post_contacts(bridge, "New")
    bridge.sandbox.configure(answer_fault=fault, answer_fault_endpoints=[endpoint])

    # When the sync function gets only mangled answers
    event = bridge.receive_event()
    failed = bridge.sync(event, timeout_s=3)

    # Then nothing counts as delivered: every message is left for redelivery, none dead-lettered, no crash
    assert sorted(failed) == sorted(r["messageId"] for r in event["Records"])
    assert bridge.dead_letters() == []
    # And once Heymarket answers as documented again, every phone is held by one contact with the latest values
    bridge.sandbox.configure(answer_fault="none")
    bridge.make_visible(event)
    assert bridge.sync(bridge.receive_event()) == []
    assert held(bridge) == {phone: ["New"] for phone in PHONES}


@pytest.mark.parametrize("fault", ["redirect", "not_found"])
def test_a_redirect_or_404_is_a_configuration_error_and_the_contacts_wait_unsplit(bridge: Bridge, fault: str) -> None:
    post_contacts(bridge, "Ann")
    bridge.sandbox.configure(answer_fault=fault)

    failed = bridge.sync(bridge.receive_event(), timeout_s=5)

    assert failed == []  # put back on the queue to wait, their receives not used up
    assert len(bridge.sandbox.requests_log) == 1  # one request: not split into single contacts, not retried
    assert bridge.dead_letters() == []
    assert bridge.sandbox.contacts() == []
    delayed = bridge.sqs.get_queue_attributes(
        QueueUrl=bridge.resources.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
    assert delayed == str(len(PHONES))


def test_an_answer_that_trickles_in_past_the_deadline_ends_the_invocation_in_time(bridge: Bridge) -> None:
    post_contacts(bridge, "Ann")
    bridge.sandbox.configure(answer_fault="trickle", trickle_seconds=60)
    event = bridge.receive_event()
    started = time.monotonic()

    failed = bridge.sync(event, timeout_s=4)

    assert time.monotonic() - started < 4
    assert sorted(failed) == sorted(r["messageId"] for r in event["Records"])
    assert bridge.dead_letters() == []
