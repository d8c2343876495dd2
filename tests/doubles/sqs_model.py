"""A time-compressed model of an SQS standard queue, for reads of a DLQ too large or too slow to run against moto.

Time is simulated: every call takes `call_s` of it (a receive with nothing visible takes its WaitTimeSeconds), so a
read that would take minutes runs in milliseconds while visibility timeouts expire as they would. What it models of
SQS (AWS ReceiveMessage and ChangeMessageVisibility references):
- a received message is hidden for the VisibilityTimeout given, then visible again with a new receipt handle;
- short polling (WaitTimeSeconds=0) queries a subset of the servers: messages are spread over `servers`, and a short
  poll looks at one of them, so it may answer nothing while the queue holds messages; a long poll looks at all;
- a receipt handle is valid until its message is received again; a change or delete with an older one fails;
- at most `in_flight_limit` messages in flight (SQS: 120,000), beyond which a receive fails with OverLimit.
`max_calls` ends a read that would never end with an AssertionError instead of a hang.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class ModelError(Exception):
    """A ClientError-shaped failure: `response["Error"]["Code"]`."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code, "Message": code}}


@dataclass
class _Message:
    id: str
    body: str
    server: int
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class SqsModel:
    call_s: float = 0.05
    servers: int = 3
    max_calls: int = 200_000
    in_flight_limit: int = 120_000
    seed: int = 7
    now: float = 0.0
    calls: int = 0
    queues: dict[str, dict[str, _Message]] = field(default_factory=dict)
    _by_receipt: dict[str, _Message] = field(default_factory=dict)
    # Called after each send: a test's stand-in for what consumes the queue (a sync function failing again).
    on_send: Callable[[SqsModel, str, str], None] | None = None
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def clock(self) -> float:
        return self.now

    def fill(self, queue_url: str, bodies: list[str]) -> None:
        queue = self.queues.setdefault(queue_url, {})
        for body in bodies:
            message_id = f"m{next(self._ids)}"
            queue[message_id] = _Message(message_id, body, self._random.randrange(self.servers))

    def bodies(self, queue_url: str) -> list[str]:
        return [message.body for message in self.queues.get(queue_url, {}).values()]

    def _call(self, seconds: float | None = None) -> None:
        self.calls += 1
        if self.calls > self.max_calls:
            raise AssertionError(f"the read made {self.max_calls} calls and never ended")
        self.now += self.call_s if seconds is None else seconds

    # ------------------------------------------------------------------ the SQS API the operator commands use

    def receive_message(
        self, QueueUrl: str, MaxNumberOfMessages: int = 1, VisibilityTimeout: int = 30, WaitTimeSeconds: int = 0
    ) -> dict[str, Any]:
        queue = self.queues.setdefault(QueueUrl, {})
        in_flight = sum(1 for m in queue.values() if m.visible_at > self.now)
        if in_flight >= self.in_flight_limit:
            self._call()
            raise ModelError("AWS.SimpleQueueService.OverLimit")
        visible = [m for m in queue.values() if m.visible_at <= self.now]
        if WaitTimeSeconds == 0:
            server = self._random.randrange(self.servers)
            visible = [m for m in visible if m.server == server]
        if not visible:
            self._call(max(self.call_s, WaitTimeSeconds))
            return {}
        self._call()
        chosen = self._random.sample(visible, min(MaxNumberOfMessages, len(visible)))
        for message in chosen:
            message.visible_at = self.now + VisibilityTimeout
            self._by_receipt.pop(message.receipt, None)
            message.receipt = f"{message.id}-{next(self._ids)}"
            self._by_receipt[message.receipt] = message
        return {"Messages": [{"MessageId": m.id, "ReceiptHandle": m.receipt, "Body": m.body} for m in chosen]}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self._call()
        failed = []
        for entry in Entries:
            message = self._by_receipt.get(entry["ReceiptHandle"])
            if message is None:
                failed.append({"Id": entry["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True})
            else:
                message.visible_at = self.now + entry["VisibilityTimeout"]
        return {"Successful": [], "Failed": failed}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        self._call()
        message = self._by_receipt.pop(ReceiptHandle, None)
        if message is None:
            raise ModelError("ReceiptHandleIsInvalid")
        del self.queues[QueueUrl][message.id]
        return {}

    def send_message(self, QueueUrl: str, MessageBody: str) -> dict[str, Any]:
        self._call()
        self.fill(QueueUrl, [MessageBody])
        if self.on_send is not None:
            self.on_send(self, QueueUrl, MessageBody)
        return {}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        self._call()
        queue = self.queues.get(QueueUrl, {}).values()
        visible = sum(1 for m in queue if m.visible_at <= self.now)
        return {
            "Attributes": {
                "ApproximateNumberOfMessages": str(visible),
                "ApproximateNumberOfMessagesNotVisible": str(len(queue) - visible),
                "ApproximateNumberOfMessagesDelayed": "0",
            }
        }
