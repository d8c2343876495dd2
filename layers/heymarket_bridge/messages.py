"""The queue message format shared by ingest (writer) and sync (reader), and the DLQ record."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from heymarket_bridge.contact import Contact

MESSAGE_VERSION = 1


class Operation(StrEnum):
    """What the sync side does with a contact. Deletes will join as a second kind."""

    UPSERT = "upsert"


class MalformedMessage(ValueError):
    """A queue message this version of the bridge cannot read."""


@dataclass(frozen=True)
class ContactOperation:
    """One contact operation, as buffered in SQS: one message each."""

    op: Operation
    contact: Contact
    source: str
    received_at: str
    correlation_id: str
    operation_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_json(self) -> str:
        return json.dumps(
            {
                "v": MESSAGE_VERSION,
                "op": self.op.value,
                "contact": self.contact.to_dict(),
                "source": self.source,
                "received_at": self.received_at,
                "correlation_id": self.correlation_id,
                "operation_id": self.operation_id,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, body: str) -> ContactOperation:
        """Read a queue message; a dead letter moved back by SQS's DLQ redrive yields the operation it wraps."""
        try:
            data = json.loads(body)
            if isinstance(data, dict) and "v" not in data and "error" in data and isinstance(data.get("message"), str):
                # `aws sqs start-message-move-task` (the console's "Start DLQ redrive") moves our dead letters
                # back unchanged: carry on with the original message inside.
                data = json.loads(data["message"])
            if not isinstance(data, dict) or data.get("v") != MESSAGE_VERSION:
                raise MalformedMessage(f"unsupported message version {data.get('v')!r}")
            return cls(
                op=Operation(data["op"]),
                contact=Contact.from_dict(data["contact"]),
                source=str(data["source"]),
                received_at=str(data["received_at"]),
                correlation_id=str(data.get("correlation_id", "")),
                operation_id=str(data.get("operation_id", "")),
            )
        except MalformedMessage:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MalformedMessage(f"unreadable contact message: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class DeadLetter:
    """Why a contact was not delivered, with everything needed to inspect and redrive it."""

    error: str
    attempts: int
    source: str
    received_at: str
    contact: Mapping[str, Any] | None
    correlation_id: str = ""
    operation_id: str = ""
    message: str | None = None  # the original queue message body, re-enqueued as is by a redrive
    failed_at: str = ""
    heymarket_request_id: str | None = None

    def to_json(self) -> str:
        body = {
            "error": self.error or "unknown error",
            "contact": self.contact,
            "source": self.source,
            "received_at": self.received_at,
            "attempts": self.attempts,
            "correlation_id": self.correlation_id,
            "operation_id": self.operation_id,
            "failed_at": self.failed_at,
            "heymarket_request_id": self.heymarket_request_id,
            "message": self.message,
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
