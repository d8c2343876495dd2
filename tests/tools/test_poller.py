"""The local SQS event source against moto server queues built from template.yaml, with a fake sync function.

It must behave like Lambda's event source mapping: partial batch failures, redrive, batching window,
MaximumConcurrency and whole-batch failures.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from heymarket_local.aws import LocalAws
from heymarket_local.poller import (
    EventSourceConfig,
    InvalidBatchResponse,
    SqsEventSource,
    batch_item_failures,
)
from heymarket_local.template import LocalResources, StackTemplate

MAX_RECEIVE_COUNT = 2

Respond = Callable[[dict[str, Any], int], Any]


class FakeSyncFunction:
    """Records every event; `respond(event, call_number)` gives the response (or raises)."""

    def __init__(self, respond: Respond = lambda event, call: None, duration_s: float = 0.0) -> None:
        self._respond = respond
        self._duration_s = duration_s
        self._lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self.invoked_at: list[float] = []
        self.active = 0
        self.max_active = 0

    def __call__(self, event: dict[str, Any]) -> Any:
        with self._lock:
            self.events.append(event)
            self.invoked_at.append(time.monotonic())
            call = len(self.events)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(self._duration_s)
            return self._respond(event, call)
        finally:
            with self._lock:
                self.active -= 1

    def deliveries(self) -> Counter[str]:
        """How many times each body was handed to the function."""
        with self._lock:
            return Counter(record["body"] for event in self.events for record in event["Records"])


def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def failures_for(bodies: set[str], event: dict[str, Any]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] in bodies]}


@pytest.fixture(scope="module")
def aws() -> Iterator[LocalAws]:
    with LocalAws() as server:
        yield server


@pytest.fixture(scope="module")
def sqs(aws: LocalAws) -> Iterator[Any]:
    client = aws.client("sqs")
    yield client
    client.close()


@pytest.fixture(scope="module")
def template() -> StackTemplate:
    return StackTemplate.load(parameter_overrides={"MaxReceiveCount": MAX_RECEIVE_COUNT})


@pytest.fixture
def queues(aws: LocalAws, sqs: Any, template: StackTemplate) -> LocalResources:
    """A fresh ContactQueue and DLQ as the template defines them, with a low maxReceiveCount."""
    return template.provision(
        sqs, aws.client("secretsmanager"), webhook_secrets={"generic": "token"}, heymarket_credentials={"api_key": "k"}
    )


@contextmanager
def event_source(
    sqs: Any, queues: LocalResources, function: FakeSyncFunction, **settings: Any
) -> Iterator[SqsEventSource]:
    config = EventSourceConfig(
        queue_url=queues.queue_url,
        queue_arn=queues.queue_arn,
        # Short polls when idle (poll_wait_s=0) let each test stop at once instead of after a long poll.
        **{
            "batch_size": 10,
            "batching_window_s": 0,
            "max_concurrency": 2,
            "retry_delay_s": 0,
            "poll_wait_s": 0,
            **settings,
        },
    )
    poller = SqsEventSource(sqs, config, function).start()
    try:
        yield poller
    finally:
        poller.stop(grace_s=5)


def send(sqs: Any, queue_url: str, *bodies: str) -> None:
    sqs.send_message_batch(QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])


def depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def dlq_bodies(sqs: Any, dlq_url: str) -> list[str]:
    messages = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    return sorted(message["Body"] for message in messages)


# ---------------------------------------------------------------------- the event


def test_records_have_the_shape_lambda_gives_sqs_records(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction()
    sqs.send_message(
        QueueUrl=queues.queue_url,
        MessageBody='{"hello": "world"}',
        MessageAttributes={
            "source": {"DataType": "String", "StringValue": "generic"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )

    with event_source(sqs, queues, function):
        eventually(lambda: len(function.events) == 1)

    (record,) = function.events[0]["Records"]
    assert record["body"] == '{"hello": "world"}'
    assert record["md5OfBody"] == hashlib.md5(b'{"hello": "world"}').hexdigest()  # SQS's checksum
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queues.queue_arn
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"]
    assert record["receiptHandle"]
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        record["attributes"]
    )
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["source"] == {
        "stringValue": "generic",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\x01").decode()


# ---------------------------------------------------------------------- ReportBatchItemFailures and redrive


def test_only_the_reported_failures_are_redelivered(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction(lambda event, call: failures_for({"b"}, event) if call == 1 else None)
    send(sqs, queues.queue_url, "a", "b", "c")

    with event_source(sqs, queues, function):
        eventually(lambda: function.deliveries()["b"] == 2)
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    assert function.deliveries() == Counter({"a": 1, "b": 2, "c": 1})
    redelivery = function.events[-1]["Records"]
    assert [(r["body"], r["attributes"]["ApproximateReceiveCount"]) for r in redelivery] == [("b", "2")]
    assert dlq_bodies(sqs, queues.dlq_url) == []


def test_a_message_failing_every_receive_is_moved_to_the_dlq_after_max_receive_count(
    sqs: Any, queues: LocalResources
) -> None:
    function = FakeSyncFunction(lambda event, call: failures_for({"poison"}, event))
    send(sqs, queues.queue_url, "poison", "fine")

    with event_source(sqs, queues, function):
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    assert function.deliveries() == Counter({"poison": MAX_RECEIVE_COUNT, "fine": 1})
    assert dlq_bodies(sqs, queues.dlq_url) == ["poison"]


def test_an_exception_redelivers_the_whole_batch(sqs: Any, queues: LocalResources) -> None:
    def respond(event: dict[str, Any], call: int) -> None:
        if call == 1:
            raise RuntimeError("the function crashed")

    function = FakeSyncFunction(respond)
    send(sqs, queues.queue_url, "a", "b", "c")

    with event_source(sqs, queues, function) as poller:
        eventually(lambda: len(function.events) == 2)
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    first, second = function.events
    assert sorted(r["body"] for r in first["Records"]) == ["a", "b", "c"]
    assert sorted(r["body"] for r in second["Records"]) == ["a", "b", "c"]
    assert {r["attributes"]["ApproximateReceiveCount"] for r in second["Records"]} == {"2"}
    assert poller.stats().failed_invocations == 1


@pytest.mark.parametrize(
    "response",
    [
        "not an object",
        {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-the-batch"}]},
        {"batchItemFailures": [{"itemIdentifier": ""}]},
        {"batchItemFailures": [{"id": "wrong key"}]},
    ],
    ids=["not-an-object", "unknown-id", "empty-id", "wrong-key"],
)
def test_a_response_lambda_cannot_read_redelivers_the_whole_batch(
    sqs: Any, queues: LocalResources, response: Any
) -> None:
    function = FakeSyncFunction(lambda event, call: response if call == 1 else None)
    send(sqs, queues.queue_url, "a", "b")

    with event_source(sqs, queues, function):
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    assert function.deliveries() == Counter({"a": 2, "b": 2})


def test_without_report_batch_item_failures_the_response_is_ignored(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction(lambda event, call: failures_for({"a", "b"}, event))
    send(sqs, queues.queue_url, "a", "b")

    with event_source(sqs, queues, function, report_batch_item_failures=False):
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    assert function.deliveries() == Counter({"a": 1, "b": 1})


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}, {"batchItemFailures": None}])
def test_lambda_reads_these_responses_as_complete_success(response: Any) -> None:
    assert batch_item_failures(response, ["m1", "m2"]) == frozenset()


def test_a_response_that_is_not_json_fails_the_batch() -> None:
    with pytest.raises(InvalidBatchResponse):
        batch_item_failures({"batchItemFailures": [{"itemIdentifier": object()}]}, ["m1"])


# ---------------------------------------------------------------------- batching and concurrency


def test_a_partial_batch_waits_for_the_batching_window(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction()
    window_s = 2.0

    with event_source(sqs, queues, function, batching_window_s=window_s, poll_wait_s=1):
        sent_at = time.monotonic()
        send(sqs, queues.queue_url, "first")
        time.sleep(0.5)
        send(sqs, queues.queue_url, "second")
        eventually(lambda: len(function.events) == 1)
        time.sleep(0.3)  # room for a wrong second invocation

    assert len(function.events) == 1
    assert sorted(r["body"] for r in function.events[0]["Records"]) == ["first", "second"]
    waited_s = function.invoked_at[0] - sent_at
    assert window_s <= waited_s < window_s + 1.5


def test_a_full_batch_is_invoked_before_the_window_ends(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction()

    with event_source(sqs, queues, function, batch_size=3, batching_window_s=20):
        sent_at = time.monotonic()
        send(sqs, queues.queue_url, "a", "b", "c")
        eventually(lambda: len(function.events) == 1, timeout_s=5)

    assert len(function.events[0]["Records"]) == 3
    assert function.invoked_at[0] - sent_at < 2


def test_invocations_never_exceed_maximum_concurrency(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction(duration_s=0.3)
    send(sqs, queues.queue_url, *[f"m{i}" for i in range(6)])

    with event_source(sqs, queues, function, batch_size=1, max_concurrency=2):
        eventually(lambda: depth(sqs, queues.queue_url) == 0)

    assert len(function.events) == 6
    assert function.max_active == 2


def test_stop_hands_a_batch_being_filled_back_to_the_queue(sqs: Any, queues: LocalResources) -> None:
    function = FakeSyncFunction()

    with event_source(sqs, queues, function, batching_window_s=20) as poller:
        send(sqs, queues.queue_url, "waiting")
        eventually(lambda: poller.stats().collecting_messages == 1)

    assert function.events == []
    visible = sqs.get_queue_attributes(QueueUrl=queues.queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "1"
