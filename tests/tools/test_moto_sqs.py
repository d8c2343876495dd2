"""The local AWS's SQS takes concurrent calls as SQS does: none undoes another's delete or loses a send.

The local stack serves moto from a threaded server, and its event-source emulation deletes from two invocations at
once while the ingest function sends: moto's message list, changed without a lock, put deleted messages back and
lost sends (heymarket_local.moto_sqs). Here three threads call moto's SQS backend directly, as the server's
request threads do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sqs.models import sqs_backends

from heymarket_local.aws import _linear_moto_sqs as linear_moto_sqs
from heymarket_local.moto_sqs import serialised_sqs

REGION = "us-east-1"
QUEUE = "contacts"
RECEIVED = 800  # in flight, deleted by two invocations at once
SENT = 300  # sent by a third meanwhile


@pytest.fixture
def backend() -> Iterator[Any]:
    linear_moto_sqs()  # as the local stack applies both (without this, each send scans the queue)
    serialised_sqs()
    with mock_aws():
        boto3.client("sqs", region_name=REGION).create_queue(QueueName=QUEUE)
        yield sqs_backends[DEFAULT_ACCOUNT_ID][REGION]


def all_at_once(*work: Callable[[], None]) -> None:
    start = threading.Barrier(len(work))

    def run(job: Callable[[], None]) -> None:
        start.wait()
        job()

    threads = [threading.Thread(target=run, args=(job,)) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_two_invocations_deleting_while_a_third_sends_leave_exactly_the_new_messages(backend: Any) -> None:
    # Given a queue whose messages are all in flight (received by two invocations)
    for n in range(RECEIVED):
        backend.send_message(QUEUE, f"old-{n}")
    received = backend.receive_message(QUEUE, RECEIVED, 0, 300)
    assert len(received) == RECEIVED  # moto answers more than SQS's 10 at once: fine for this test
    handles = [message.receipt_handle for message in received]

    # When the two invocations delete their halves while a third sends new messages
    def delete(mine: list[str]) -> Callable[[], None]:
        return lambda: [backend.delete_message(QUEUE, handle) for handle in mine] and None

    def send() -> None:
        for n in range(SENT):
            backend.send_message(QUEUE, f"new-{n}")

    all_at_once(delete(handles[0::2]), delete(handles[1::2]), send)

    # Then the queue holds the new messages, every one, and none of the deleted ones
    bodies = sorted(message.body for message in backend.get_queue(QUEUE)._messages)
    assert bodies == sorted(f"new-{n}" for n in range(SENT))


def test_a_long_poll_lets_a_send_in_and_receives_it(backend: Any) -> None:
    # Given an empty queue long-polled for up to 5 s
    got: list[Any] = []
    poll = threading.Thread(target=lambda: got.extend(backend.receive_message(QUEUE, 10, 5, 30)))
    poll.start()

    # When a message is sent meanwhile
    backend.send_message(QUEUE, "hello")
    poll.join(timeout=10)

    # Then the poll receives it (the send was not held up behind the poll)
    assert [message.body for message in got] == ["hello"]
