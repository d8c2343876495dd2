"""The DLQ redrive the README recommends: an SQS message move task with the contact queue as explicit destination.

SQS moves a message back "to its original source queue" only when SQS itself dead-lettered it; the sync function
writes most dead letters itself, so the README names ContactQueue as the move task's --destination-arn. moto does
not implement move tasks: the test does what one does, moving each DLQ message's body and attributes unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import NO_TIME_TO_WAIT, Bridge, running_bridge
from tests.support import load_event


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(seed=7)) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


@pytest.fixture
def bridge_at_retention(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(seed=7)) as sandbox,
        running_bridge(
            monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5", **NO_TIME_TO_WAIT}
        ) as bridge,
    ):
        yield bridge


def move_dead_letters_to_the_contact_queue(bridge: Bridge) -> list[dict[str, Any]]:
    """What `aws sqs start-message-move-task --destination-arn <ContactQueueArn>` does, message by message."""
    moved: list[dict[str, Any]] = []
    while messages := bridge.sqs.receive_message(
        QueueUrl=bridge.resources.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            bridge.sqs.send_message(
                QueueUrl=bridge.resources.queue_url,
                MessageBody=message["Body"],
                MessageAttributes=message.get("MessageAttributes", {}),
            )
            bridge.sqs.delete_message(QueueUrl=bridge.resources.dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved.append(json.loads(message["Body"]))
    return moved


def test_a_dead_letter_moved_verbatim_to_the_contact_queue_is_carried_out_as_the_original_upsert(
    bridge: Bridge,
) -> None:
    # Given a contact Heymarket refused, dead-lettered by the sync function, and the cause since fixed
    bridge.sandbox.configure(contact_error_rate=1.0)
    assert bridge.post(load_event("generic/single_contact"))[0] == 202
    assert bridge.sync(bridge.receive_event()) == []
    bridge.sandbox.configure(contact_error_rate=0.0)

    # When a move task brings the DLQ's messages to the contact queue, and the sync function receives them
    [letter] = move_dead_letters_to_the_contact_queue(bridge)
    failed = bridge.sync(bridge.receive_event())

    # Then the original upsert is carried out, with the values the webhook sent
    assert failed == []
    assert [contact["phone"] for contact in bridge.sandbox.contacts()] == [letter["contact"]["phone"]]
    assert bridge.dead_letters() == []
    assert bridge.queue_depth() == 0


def test_a_dead_letter_of_a_delete_moved_verbatim_to_the_contact_queue_is_carried_out_as_the_delete(
    bridge_at_retention: Bridge,
) -> None:
    bridge = bridge_at_retention
    # Given a contact in Heymarket, and a delete of it by phone that failed until it was dead-lettered
    upsert = load_event("generic/single_contact")
    upsert["body"], upsert["isBase64Encoded"] = json.dumps({"phone": "+1 415 555 0132", "first": "Gone"}), False
    assert bridge.post(upsert)[0] == 202
    assert bridge.sync(bridge.receive_event()) == []
    assert [contact["phone"] for contact in bridge.sandbox.contacts()] == ["14155550132"]
    delete = load_event("generic/delete_contacts")
    delete["body"] = json.dumps({"phones": ["+1 415 555 0132"]})
    assert bridge.post(delete)[0] == 202
    bridge.sandbox.configure(fail_rate=1.0)
    first = bridge.receive_event()
    bridge.sync(first, timeout_s=2.5)
    bridge.make_visible(first)
    assert bridge.sync(bridge.receive_event(), timeout_s=2.5) == []  # the last receive: dead-lettered
    bridge.sandbox.configure(fail_rate=0.0)

    # When a move task brings it to the contact queue, and the sync function receives it
    [letter] = move_dead_letters_to_the_contact_queue(bridge)
    failed = bridge.sync(bridge.receive_event())

    # Then the delete is carried out
    assert letter["contact"] == {"phone": "14155550132"}
    assert failed == []
    assert bridge.sandbox.contacts() == []
    assert bridge.queue_depth() == 0


def test_a_letter_moved_back_and_refused_again_still_holds_the_original_and_is_carried_out_once_fixed(
    bridge: Bridge,
) -> None:
    # Given a contact refused, moved back by a move task before the cause was fixed, and refused again
    bridge.sandbox.configure(contact_error_rate=1.0)
    assert bridge.post(load_event("generic/single_contact"))[0] == 202
    assert bridge.sync(bridge.receive_event()) == []
    move_dead_letters_to_the_contact_queue(bridge)
    assert bridge.sync(bridge.receive_event()) == []
    bridge.sandbox.configure(contact_error_rate=0.0)

    # When it is moved back once more, the cause now fixed
    [letter] = move_dead_letters_to_the_contact_queue(bridge)
    failed = bridge.sync(bridge.receive_event())

    # Then the second letter wrapped the original message, not the first letter, and the upsert is carried out
    assert json.loads(letter["message"])["v"] == 1
    assert failed == []
    assert [contact["phone"] for contact in bridge.sandbox.contacts()] == [letter["contact"]["phone"]]
    assert bridge.dead_letters() == []
