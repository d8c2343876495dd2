"""moto's SQS one call at a time, as SQS itself behaves, for the local stack, the tests and benchmarks.

moto's SQS changes a queue's message list without a lock: DeleteMessage builds a new list without the message and
puts it in place of the one it read, ReceiveMessage moves messages to the dead-letter queue, SendMessage appends.
The local stack serves moto from a threaded server, and its event-source emulation deletes from two invocations at
once: one delete put back the messages another had just deleted (SQS later moved them to the DLQ raw, after too
many receives: the soak's unexplained letters), and a message sent during a delete could vanish. Here each of those
calls holds one lock; a long poll waits for messages outside it. Applied once per process; SQS needs nothing of the
sort.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Any, Final

_SQS: Final = threading.RLock()
# Every SQSBackend method that reads or changes a queue's messages.
_SERIALISED: Final = (
    "send_message",
    "send_message_batch",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
    "get_queue_attributes",
    "delete_queue",
)


def serialised_sqs() -> None:
    """Make moto's SQS calls that read or change messages run one at a time (once per process)."""
    from moto.sqs.models import SQSBackend

    if getattr(SQSBackend, "_heymarket_bridge_serialised", False):
        return
    for name in _SERIALISED:
        setattr(SQSBackend, name, _locked(getattr(SQSBackend, name)))
    SQSBackend.receive_message = _polled(SQSBackend.receive_message)  # type: ignore[method-assign]
    SQSBackend._heymarket_bridge_serialised = True  # type: ignore[attr-defined]


def _locked(method: Any) -> Any:
    @functools.wraps(method)
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _SQS:
            return method(self, *args, **kwargs)

    return locked


def _polled(receive: Any) -> Any:
    """ReceiveMessage under the lock without waiting, and a long poll's waits outside it (a send must get in)."""

    @functools.wraps(receive)
    def receive_message(
        self: Any,
        queue_name: str,
        count: int,
        wait_seconds_timeout: int,
        visibility_timeout: int,
        message_attribute_names: list[str] | None = None,
    ) -> Any:
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with _SQS:
                result = receive(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            remaining = deadline - time.monotonic()
            if result or remaining <= 0:
                return result
            self.get_queue(queue_name).wait_for_messages(min(1.0, remaining))

    return receive_message
