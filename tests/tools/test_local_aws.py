"""The local AWS keeps moto's SQS linear in queue depth (aws.py) without changing any answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_local.aws import LocalAws


@pytest.fixture
def sqs() -> Iterator[Any]:
    with LocalAws() as aws:
        client = aws.client("sqs")
        yield client
        client.close()


def counted_scans(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record each full scan moto makes of a queue's messages to count them."""
    from moto.sqs.models import Message

    scans: list[str] = []
    original = Message.visible.fget  # type: ignore[attr-defined]

    def visible(message: Any) -> bool:
        scans.append(message.id)
        return bool(original(message))

    monkeypatch.setattr(Message, "visible", property(visible))
    return scans


def test_sending_does_not_scan_the_queue(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqs.create_queue(QueueName="deep")["QueueUrl"]
    for _ in range(5):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])
    scans = counted_scans(monkeypatch)

    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(10)])

    assert scans == []


def test_queue_counts_stay_exact_and_each_is_scanned_once_per_call(sqs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(7)])
    sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=60)
    scans = counted_scans(monkeypatch)

    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]

    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == (
        "5",
        "2",
    )
    assert len(scans) <= 2 * 7  # visible and not visible counted once each, not once per attribute read
