"""Lambda's SQS event source mapping, locally: batches from the queue to the function, as configured in the template.

What it copies from Lambda:

- batching: it receives until the batch holds `batch_size` messages or `batching_window_s` has passed
  since the first one arrived (with a window of 0, one ReceiveMessage makes the batch);
- the event: real SQS records (messageId, receiptHandle, body, attributes with ApproximateReceiveCount,
  SentTimestamp, SenderId and ApproximateFirstReceiveTimestamp, messageAttributes in Lambda's
  lower-camel shape, md5OfBody, eventSource, eventSourceARN, awsRegion);
- ReportBatchItemFailures: only the messages the function did not report are deleted. An exception,
  a timeout, or a response Lambda would reject (not JSON, an itemIdentifier that is empty or not in
  the batch) fails the whole batch and nothing is deleted. Without ReportBatchItemFailures any return
  is a success;
- MaximumConcurrency: at most `max_concurrency` invocations run at once, and no message is received
  while they all run;
- redrive: the queue's RedrivePolicy moves a message to the DLQ once it has been received
  maxReceiveCount times. moto applies it on receive, as SQS does; the poller does nothing special.

One local-only acceleration: a message the function did not settle becomes visible again after
the queue's VisibilityTimeout (390 s in the template). With `retry_delay_s` set, the poller shortens
that wait with ChangeMessageVisibility, so that retries and redrives happen within seconds.
Lambda never does this; `retry_delay_s=None` keeps the queue's own timeout.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_local.aws import LOCAL_REGION
from heymarket_local.lambdas import Invoke
from heymarket_local.template import EventSourceSpec, LocalResources

log = logging.getLogger(__name__)

SQS_MAX_RECEIVE: Final = 10  # messages per ReceiveMessage
SQS_MAX_VISIBILITY_S: Final = 43_200
# Long poll while waiting for a batch's first message; also bounds how long stop() waits for the poller.
IDLE_WAIT_S: Final = 1
_SHORT_POLL_S: Final = 0.05
_ERROR_BACKOFF_S: Final = 1.0


@dataclass(frozen=True)
class EventSourceConfig:
    """The event source mapping's settings (template values), plus the local retry delay."""

    queue_url: str
    queue_arn: str
    batch_size: int = 10
    batching_window_s: float = 0.0
    max_concurrency: int = 2
    report_batch_item_failures: bool = True
    retry_delay_s: int | None = None
    region: str = LOCAL_REGION
    # WaitTimeSeconds while no batch is being filled; 0 short-polls every 50 ms (quicker to stop, busier).
    poll_wait_s: int = IDLE_WAIT_S

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.batching_window_s < 0:
            raise ValueError("batching_window_s must not be negative")
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.retry_delay_s is not None and not 0 <= self.retry_delay_s <= SQS_MAX_VISIBILITY_S:
            raise ValueError(f"retry_delay_s must be between 0 and {SQS_MAX_VISIBILITY_S}")
        if not 0 <= self.poll_wait_s <= IDLE_WAIT_S:
            raise ValueError(f"poll_wait_s must be between 0 and {IDLE_WAIT_S}")

    @classmethod
    def from_template(
        cls,
        spec: EventSourceSpec,
        resources: LocalResources,
        *,
        retry_delay_s: int | None,
        region: str = LOCAL_REGION,
    ) -> EventSourceConfig:
        return cls(
            queue_url=resources.queue_url,
            queue_arn=resources.queue_arn,
            batch_size=spec.batch_size,
            batching_window_s=spec.batching_window_s,
            max_concurrency=spec.max_concurrency,
            report_batch_item_failures=spec.report_batch_item_failures,
            retry_delay_s=retry_delay_s,
            region=region,
        )


@dataclass(frozen=True)
class BatchResult:
    """What became of one invocation: the records it got and those left in the queue for redelivery."""

    records: tuple[dict[str, Any], ...]
    failed_message_ids: frozenset[str]
    error: str | None = None  # why the whole batch failed, if it did

    @property
    def settled_records(self) -> list[dict[str, Any]]:
        """The records deleted from the queue (the function is done with them)."""
        return [record for record in self.records if record["messageId"] not in self.failed_message_ids]


@dataclass(frozen=True)
class PollerStats:
    received_messages: int = 0  # redeliveries included
    invocations: int = 0
    deleted_messages: int = 0
    retried_messages: int = 0  # left in the queue for another receive
    failed_invocations: int = 0  # exceptions, timeouts and unusable responses
    in_flight_invocations: int = 0
    collecting_messages: int = 0  # received into the batch being filled

    @property
    def idle(self) -> bool:
        return self.in_flight_invocations == 0 and self.collecting_messages == 0


class InvalidBatchResponse(ValueError):
    """A response Lambda treats as the failure of the whole batch."""


def batch_item_failures(response: Any, message_ids: Sequence[str]) -> frozenset[str]:
    """The message ids a ReportBatchItemFailures response asks to redeliver, by Lambda's rules.

    None, {} and an empty or null batchItemFailures mean complete success; anything Lambda cannot
    read raises InvalidBatchResponse.
    """
    try:
        json.dumps(response)
    except (TypeError, ValueError) as error:
        raise InvalidBatchResponse(f"the response is not JSON: {error}") from error
    if response is None:
        return frozenset()
    if not isinstance(response, dict):
        raise InvalidBatchResponse(f"the response is a {type(response).__name__}, not an object")
    failures = response.get("batchItemFailures")
    if failures is None:
        return frozenset()
    if not isinstance(failures, list):
        raise InvalidBatchResponse("batchItemFailures is not a list")
    known = set(message_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or not identifier:
            raise InvalidBatchResponse("a batchItemFailures entry has an empty or missing itemIdentifier")
        if identifier not in known:
            raise InvalidBatchResponse(f"itemIdentifier {identifier!r} is not a message of the batch")
        failed.add(identifier)
    return frozenset(failed)


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message as the SQS record Lambda hands to the function."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _lambda_message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update({"eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": region})
    return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    attribute["stringListValues"] = list(value.get("StringListValues") or [])
    attribute["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues") or []
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


class SqsEventSource:
    """Polls one queue and invokes one function with its batches, in background threads."""

    def __init__(
        self,
        sqs: Any,
        config: EventSourceConfig,
        invoke: Invoke,
        *,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self.config = config
        self._invoke = invoke
        self._on_batch = on_batch
        self._slots = threading.BoundedSemaphore(config.max_concurrency)
        self._stopping = threading.Event()
        self._state = threading.Condition()
        self._stats = PollerStats()
        self._collector: threading.Thread | None = None
        self._invocations: set[threading.Thread] = set()
        self._sequence = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SqsEventSource:
        if self._collector is not None:
            return self
        self._stopping.clear()
        self._collector = threading.Thread(target=self._run, name="sqs-event-source", daemon=True)
        self._collector.start()
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop receiving, hand back a batch being filled, and wait up to `grace_s` for running invocations."""
        collector = self._collector
        if collector is None:
            return
        self._stopping.set()
        collector.join()
        self._collector = None
        deadline = time.monotonic() + grace_s
        with self._state:
            running = list(self._invocations)
        for thread in running:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._state:
            if self._invocations:
                log.warning("stopped with %d invocation(s) still running", len(self._invocations))

    def __enter__(self) -> SqsEventSource:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stats(self) -> PollerStats:
        with self._state:
            return self._stats

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no batch is being filled or processed; False if that did not happen in time."""
        with self._state:
            return self._state.wait_for(lambda: self._stats.idle, timeout=timeout_s)

    def _update(self, **changes: int) -> None:
        with self._state:
            current = self._stats
            # Every field is a counter.
            self._stats = PollerStats(
                **{field.name: getattr(current, field.name) + changes.get(field.name, 0) for field in fields(current)}
            )
            self._state.notify_all()

    # ------------------------------------------------------------------ receiving

    def _run(self) -> None:
        while not self._stopping.is_set():
            # A free slot first: messages received while every invocation runs would wait, invisible, for nothing.
            if not self._slots.acquire(timeout=0.2):
                continue
            try:
                messages = self._collect()
            except Exception:  # the poller must outlive any one failure, as Lambda's does
                log.exception("the event source failed to receive")
                messages = []
            if not messages:
                self._slots.release()
                continue
            if self._stopping.is_set():
                self._release(messages)
                self._update(collecting_messages=-len(messages))
                self._slots.release()
                break
            self._dispatch(messages)

    def _collect(self) -> list[dict[str, Any]]:
        """Receive until the batch is full or the batching window, started by the first message, has passed."""
        config = self.config
        batch: list[dict[str, Any]] = []
        window_ends: float | None = None
        while not self._stopping.is_set():
            if window_ends is None:
                wait_s = config.poll_wait_s
                pause_s = _SHORT_POLL_S
            else:
                remaining = window_ends - time.monotonic()
                if remaining <= 0:
                    break
                # A long poll returns as soon as a message arrives, and never outlasts the window.
                wait_s = 1 if remaining >= 1 else 0
                pause_s = min(_SHORT_POLL_S, remaining)
            messages = self._receive(min(SQS_MAX_RECEIVE, config.batch_size - len(batch)), wait_s)
            if messages:
                if window_ends is None:
                    window_ends = time.monotonic() + config.batching_window_s
                batch.extend(messages)
                self._update(received_messages=len(messages), collecting_messages=len(messages))
                if len(batch) >= config.batch_size or config.batching_window_s <= 0:
                    break
            elif wait_s == 0:
                self._stopping.wait(pause_s)
        return batch

    def _receive(self, count: int, wait_s: int) -> list[dict[str, Any]]:
        try:
            answer = self._sqs.receive_message(
                QueueUrl=self.config.queue_url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=wait_s,
                AttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except (BotoCoreError, ClientError) as error:
            if not self._stopping.is_set():
                log.warning("ReceiveMessage failed (%s); retrying in %.0f s", error, _ERROR_BACKOFF_S)
                self._stopping.wait(_ERROR_BACKOFF_S)
            return []
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    # ------------------------------------------------------------------ invoking

    def _dispatch(self, messages: list[dict[str, Any]]) -> None:
        with self._state:
            self._sequence += 1
            thread = threading.Thread(
                target=self._invoke_and_settle, args=(messages,), name=f"sqs-invoke-{self._sequence}", daemon=True
            )
            self._invocations.add(thread)
        self._update(collecting_messages=-len(messages), in_flight_invocations=1, invocations=1)
        thread.start()

    def _invoke_and_settle(self, messages: list[dict[str, Any]]) -> None:
        config = self.config
        records = tuple(lambda_record(message, config.queue_arn, config.region) for message in messages)
        ids = [record["messageId"] for record in records]
        error: str | None = None
        try:
            try:
                response = self._invoke({"Records": [dict(record) for record in records]})
            except Exception as failure:  # noqa: BLE001 - a function error fails the batch, as in Lambda
                error = f"{type(failure).__name__}: {failure}"
                failed = frozenset(ids)
            else:
                failed = frozenset()
                if config.report_batch_item_failures:
                    try:
                        failed = batch_item_failures(response, ids)
                    except InvalidBatchResponse as invalid:
                        error = f"unusable response: {invalid}"
                        failed = frozenset(ids)
            if error is not None:
                log.warning("the batch of %d message(s) failed and will be redelivered: %s", len(ids), error)
            settled = [message for message in messages if message["MessageId"] not in failed]
            retried = [message for message in messages if message["MessageId"] in failed]
            self._delete(settled)
            self._retry_later(retried)
            self._update(
                deleted_messages=len(settled),
                retried_messages=len(retried),
                failed_invocations=int(error is not None),
            )
            if self._on_batch is not None:
                try:
                    self._on_batch(BatchResult(records, failed, error))
                except Exception:  # an observer's bug must not stop the event source
                    log.exception("on_batch callback failed")
        finally:
            with self._state:
                self._invocations.discard(threading.current_thread())
            self._update(in_flight_invocations=-1)
            self._slots.release()

    def _delete(self, messages: Sequence[Mapping[str, Any]]) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            entries = [{"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]} for index, m in enumerate(chunk)]
            try:
                answer = self._sqs.delete_message_batch(QueueUrl=self.config.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                log.error("DeleteMessageBatch failed, %d message(s) will be redelivered: %s", len(chunk), error)
                continue
            if answer.get("Failed"):
                log.error("SQS did not delete %d message(s): they will be redelivered", len(answer["Failed"]))

    def _retry_later(self, messages: Sequence[Mapping[str, Any]]) -> None:
        if self.config.retry_delay_s is not None:
            self._change_visibility(messages, self.config.retry_delay_s)

    def _release(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Hand messages that will not be processed back to the queue at once."""
        self._change_visibility(messages, 0)

    def _change_visibility(self, messages: Sequence[Mapping[str, Any]], timeout_s: int) -> None:
        for start in range(0, len(messages), SQS_MAX_RECEIVE):
            chunk = messages[start : start + SQS_MAX_RECEIVE]
            entries = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": timeout_s}
                for index, m in enumerate(chunk)
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=self.config.queue_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                log.warning("ChangeMessageVisibilityBatch failed; the queue's timeout applies: %s", error)
