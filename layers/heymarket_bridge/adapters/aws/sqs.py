"""Writing messages to SQS in batches of ten, retrying the entries SQS did not take."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.domain.operations import DeadLetter, OutgoingMessage
from heymarket_bridge.observability import logger

SQS_BATCH = 10
SQS_MAX_BATCH_BYTES = 262_144


class _SqsUnreachable(Exception):
    """A SendMessageBatch call failed without an answer from SQS (timeout, connection error)."""


class SqsBatchSender:
    """Sends messages with SendMessageBatch; `send` returns the indexes of messages that are NOT in the queue.

    Entries SQS refuses are sent again (`attempts` in all). A call that gets no answer at all (a timeout or a
    connection error, after the client's own retries) ends the send at once: the other calls would wait as long
    in vain, and the caller must answer within its function's timeout (heymarket_bridge.app.aws_clients.AwsClients
    sizes each call).
    """

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        attempts: int = 3,
        backoff_s: float = 0.05,
        sleep: Callable[[float], None] = time.sleep,
        delay_s: int = 0,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._delay_s = delay_s  # SQS DelaySeconds of every message sent (0-900)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    def send(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        pending = list(range(len(messages)))
        for attempt in range(self._attempts):
            if not pending:
                break
            if attempt:
                self._sleep(self._backoff_s * (2 ** (attempt - 1)))
            failed: list[int] = []
            chunks = _chunks(pending, messages)
            for position, chunk in enumerate(chunks):
                try:
                    failed.extend(self._send_chunk(chunk, messages))
                except _SqsUnreachable:
                    return sorted(failed + [index for unsent in chunks[position:] for index in unsent])
            pending = failed
        return sorted(pending)

    def _send_chunk(self, chunk: list[int], messages: Sequence[OutgoingMessage]) -> list[int]:
        entries = [
            {
                "Id": str(index),
                "MessageBody": messages[index].body,
                "MessageAttributes": {
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in messages[index].attributes.items()
                    if value
                },
                **_delay(messages[index].delay_s, self._delay_s),
            }
            for index in chunk
        ]
        try:
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
        except ClientError as exc:
            logger.warning("SendMessageBatch failed", extra={"error": type(exc).__name__, "entries": len(chunk)})
            return chunk
        except BotoCoreError as exc:
            logger.warning("SendMessageBatch got no answer", extra={"error": type(exc).__name__, "entries": len(chunk)})
            raise _SqsUnreachable from exc
        failed = [int(entry["Id"]) for entry in answer.get("Failed", [])]
        if failed:
            codes = sorted({entry.get("Code", "") for entry in answer.get("Failed", [])})
            logger.warning("SQS refused some entries", extra={"refused": len(failed), "codes": codes})
        return failed


def _delay(own: int | None, default: int) -> dict[str, int]:
    """The entry's DelaySeconds: the message's own, else the sender's (none when 0: the queue's own applies)."""
    delay = default if own is None else own
    return {"DelaySeconds": delay} if delay else {}


def _chunks(indexes: list[int], messages: Sequence[OutgoingMessage]) -> list[list[int]]:
    """Groups of at most ten entries that also stay under the 256 KiB request limit."""
    chunks: list[list[int]] = []
    current: list[int] = []
    size = 0
    for index in indexes:
        message_size = len(messages[index].body.encode()) + sum(
            len(k) + len(v) for k, v in messages[index].attributes.items()
        )
        if current and (len(current) == SQS_BATCH or size + message_size > SQS_MAX_BATCH_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(index)
        size += message_size
    if current:
        chunks.append(current)
    return chunks


class SqsDeadLetters:
    """The DLQ, written by the bridge itself (the sync function, and the ingest function for the contacts it refuses)
    so that every dead letter says why it is there."""

    def __init__(self, sender: SqsBatchSender) -> None:
        self._sender = sender

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        return self._sender.send(
            [
                OutgoingMessage(letter.to_json(), {"source": letter.source, "correlation_id": letter.correlation_id})
                for letter in letters
            ]
        )


class SqsRequeue:
    """The contact queue, for messages the sync function puts back (`heymarket_bridge.sync.ports.Requeue`): sent
    delayed, as new messages, so that their receive count starts again."""

    def __init__(self, sender: SqsBatchSender) -> None:
        self._sender = sender

    def put_back(self, bodies: Sequence[str], delays_s: Sequence[int | None] = ()) -> list[int]:
        delays = list(delays_s) or [None] * len(bodies)
        return self._sender.send(
            [OutgoingMessage(body, delay_s=delay) for body, delay in zip(bodies, delays, strict=True)]
        )
