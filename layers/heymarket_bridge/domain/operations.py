"""The queue message format shared by ingest (writer) and sync (reader), and the DLQ record.

Besides the operation, a message carries when the bridge received it (`received_at`) and, optionally, when the
source says the change happened (`occurred_at`, set by the sources that give an event time) and `force` (set by
`heymarket-bridge dlq redrive --force`: apply it even if a newer operation was applied since, or it changes
nothing). Messages written before either field existed are read as without them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from typing import Any

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.records import record

MESSAGE_VERSION = 1
# Messages that need a reader which knows tags by name and lists (issue 17) carry version 2, so that a sync function
# of an older version (during a deploy) refuses them as unreadable, into the DLQ for a redrive, instead of sending a
# tag name as an id or dropping the lists it does not know. Every other message stays version 1.
SEGMENTS_VERSION = 2
READABLE_VERSIONS = frozenset({MESSAGE_VERSION, SEGMENTS_VERSION})
# SQS takes messages of up to 256 KiB, attributes included: a dead letter keeps 1 KiB for its attributes.
LETTER_MAX_BYTES = 262_144 - 1024
# The largest queue message the bridge writes: small enough that its dead letter, with the message kept as a JSON
# object and room for the letter's own fields (an error of up to 1,000 characters), still fits in one SQS message.
MAX_OPERATION_BYTES = LETTER_MAX_BYTES - 6 * 1024
MAX_LETTER_NESTING = 5
# The kind of a dead letter the ingest function writes for a contact it refused for its content (a sync letter has
# none). It holds no queue message: it goes back only through validation again (`heymarket-bridge dlq redrive`).
REFUSED_AT_INGEST = "refused_at_ingest"
# The kinds of failure a sync letter names (`DeadLetter.error_kind`): Heymarket refused the contact; the bridge's
# configuration kept it waiting until the queue's retention; Heymarket was unavailable until then; it kept failing
# while others succeeded (its receives used up); its queue message could not be read.
ERROR_KINDS = ("refused", "configuration", "heymarket_unavailable", "failed", "unreadable")
# What a refusal letter keeps of the fields as received: never a whole payload (a sender may send megabytes).
REFUSED_FIELDS_MAX_BYTES = 16 * 1024
REFUSED_TEXT_MAX_CHARS = 1000
REFUSED_LIST_MAX_ITEMS = 20
REFUSED_MAX_NESTING = 3


class Operation(StrEnum):
    """What the sync side does with a queued message."""

    UPSERT = "upsert"
    DELETE = "delete"
    # Put a stored contact on its lists (or take it off them) and nothing else: the follow-up of a list write that
    # failed after the contact itself was stored, so that retrying it never writes the contact again.
    LISTS = "lists"


@record
class ContactOperation:
    """One contact upsert, as buffered in SQS: one message each. With `op` LISTS, only the contact's list
    membership is written (its `phone` and `lists`; heymarket_bridge.sync.lists.rules)."""

    op: Operation
    contact: Contact
    source: str
    received_at: str
    correlation_id: str
    operation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str | None = None  # the source's own time of the change (ISO 8601, UTC), when it gives one
    force: bool = False  # an operator's redrive: applied even when superseded or unchanged
    # What the source said about SMS consent, as it said it (heymarket_bridge.domain.consent), when the contact's
    # `is_opted_out` came from the payload: for the consent record and the re-consent rule.
    consent: ConsentClaim | None = None

    def to_json(self) -> str:
        return _envelope_json(self.op, self.contact.to_dict(), self)

    @classmethod
    def from_json(cls, body: str) -> ContactOperation:
        """Read an upsert message; a dead letter moved back by SQS's DLQ redrive yields the operation it wraps."""
        operation = parse_operation(body)
        if not isinstance(operation, ContactOperation):
            raise MalformedMessage(f"a {operation.op.value} message, not a contact upsert")
        return operation


@record
class DeleteTarget:
    """The contact a delete names: its Heymarket id, or its phone (E.164 digits, resolved at sync time)."""

    contact_id: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        if (self.contact_id is None) == (self.phone is None):
            raise ValueError("a delete names exactly one of contact_id and phone")

    @property
    def key(self) -> str:
        """What ties this delete to upserts of the same contact in a batch: 'id:<uuid>' or 'phone:<digits>'."""
        return f"id:{self.contact_id}" if self.contact_id is not None else f"phone:{self.phone}"

    def to_dict(self) -> dict[str, str]:
        return {"contact_id": self.contact_id} if self.contact_id is not None else {"phone": self.phone or ""}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeleteTarget:
        contact_id, phone = data.get("contact_id"), data.get("phone")
        if not isinstance(contact_id, str | None) or not isinstance(phone, str | None):
            raise ValueError("contact_id and phone must be strings")
        return cls(contact_id=contact_id or None, phone=phone or None)


@record
class DeleteOperation:
    """One contact delete, buffered in the same queue as the upserts so that both keep their order."""

    target: DeleteTarget
    source: str
    received_at: str
    correlation_id: str
    operation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str | None = None
    force: bool = False

    @property
    def op(self) -> Operation:
        return Operation.DELETE

    def to_json(self) -> str:
        # The target travels under "contact", like an upsert's contact: a dead letter names it the same way.
        return _envelope_json(Operation.DELETE, self.target.to_dict(), self)


QueuedOperation = ContactOperation | DeleteOperation


def parse_operation(body: str) -> QueuedOperation:
    """Read a queue message of either kind; a dead letter moved back by SQS's DLQ redrive yields the one it wraps."""
    try:
        data = _unwrapped(json.loads(body))
        if isinstance(data, dict) and data.get("kind") == REFUSED_AT_INGEST:
            raise MalformedMessage(
                "a contact refused at ingest, moved back without validation: send it again with "
                "`heymarket-bridge dlq redrive`, which validates it (--set field=value corrects it)"
            )
        if not isinstance(data, dict) or data.get("v") not in READABLE_VERSIONS:
            version = data.get("v") if isinstance(data, dict) else None
            raise MalformedMessage(f"unsupported message version {version!r}")
        common = {
            "source": str(data["source"]),
            "received_at": str(data["received_at"]),
            "correlation_id": str(data.get("correlation_id", "")),
            "operation_id": str(data.get("operation_id", "")),
        }
        occurred_at = str(data["occurred_at"]) if data.get("occurred_at") else None
        force = data.get("force") is True
        op = Operation(data["op"])
        if op is Operation.DELETE:
            target = DeleteTarget.from_dict(data["contact"])
            return DeleteOperation(target=target, **common, occurred_at=occurred_at, force=force)
        contact = Contact.from_dict(data["contact"])
        consent = ConsentClaim.from_dict(data["consent"]) if isinstance(data.get("consent"), dict) else None
        return ContactOperation(op=op, contact=contact, **common, occurred_at=occurred_at, force=force, consent=consent)
    except MalformedMessage:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedMessage(f"unreadable contact message: {type(exc).__name__}") from exc


def _unwrapped(data: Any) -> Any:
    """The queue message inside a dead letter moved back by SQS (as many letters deep as MAX_LETTER_NESTING), or
    `data` itself when it is no such letter."""
    for _ in range(MAX_LETTER_NESTING):
        if not (isinstance(data, dict) and "v" not in data and "error" in data):
            break
        if not isinstance(data.get("message"), str | dict):
            break
        # `aws sqs start-message-move-task` (the console's "Start DLQ redrive") moves our dead letters back
        # unchanged: carry on with the original message inside (a string, or an object in a large letter).
        # A letter an older version wrote for a message that was itself a moved letter nests once more.
        data = json.loads(data["message"]) if isinstance(data["message"], str) else data["message"]
    return data


def message_version(op: Operation, contact: Mapping[str, Any]) -> int:
    """The version a message must carry: SEGMENTS_VERSION for a list write, or a contact with lists or tag names."""
    tags = contact.get("tags")
    names = isinstance(tags, list | tuple) and any(isinstance(tag, str) for tag in tags)
    return SEGMENTS_VERSION if op is Operation.LISTS or "lists" in contact or names else MESSAGE_VERSION


def _envelope_json(op: Operation, contact: Mapping[str, Any], operation: QueuedOperation) -> str:
    envelope: dict[str, Any] = {
        "v": message_version(op, contact),
        "op": op.value,
        "contact": contact,
        "source": operation.source,
        "received_at": operation.received_at,
        "correlation_id": operation.correlation_id,
        "operation_id": operation.operation_id,
    }
    if operation.occurred_at is not None:
        envelope["occurred_at"] = operation.occurred_at
    if operation.force:
        envelope["force"] = True
    if isinstance(operation, ContactOperation) and operation.consent is not None:
        envelope["consent"] = operation.consent.to_dict()
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def forced(body: str) -> str:
    """A queue message body (or a dead letter moved unchanged by SQS) marked `force`: the sync function applies it
    even if a newer operation was applied to its contact since, or it would change nothing. Raises MalformedMessage
    for a body that is not an operation."""
    operation = parse_operation(body)
    return dataclasses.replace(operation, force=True).to_json()


@record
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
    # A contact the ingest function refused for its content (`kind` REFUSED_AT_INGEST; "" for a sync letter): the
    # submission's fields as the source sent them (bounded: `bounded_fields`), and the region national numbers were
    # read in. It carries no `message`: a redrive validates the fields again, as a delivery's (tools' ops.py).
    kind: str = ""
    fields: Mapping[str, Any] | None = None
    region: str = ""
    # What kind of failure made it (ERROR_KINDS), set by the bridge: what `dlq redrive --kind` selects on, never the
    # error's text, which quotes sender-chosen values.
    error_kind: str = ""

    @property
    def refused_at_ingest(self) -> bool:
        return self.kind == REFUSED_AT_INGEST

    def to_json(self) -> str:
        """The letter as a DLQ message body, never over `LETTER_MAX_BYTES`.

        The original message travels as an escaped JSON string, which can nearly double its size; a letter that
        would not fit in an SQS message leaves out its `contact` (the same contact is in `message`) and carries
        `message` as a JSON object instead of a string, and its error is cut to 1,000 characters.
        """
        body = self._body()
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode()) <= LETTER_MAX_BYTES:
            return text
        body["contact"] = None
        body["error"] = str(body["error"])[:1000]
        with contextlib.suppress(ValueError):  # a message that is not JSON is kept as the string it is
            body["message"] = json.loads(self.message or "null")
        text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        if len(text.encode()) > LETTER_MAX_BYTES:
            body["message"] = None  # only if the queue accepted a message larger than a letter may be
            body["error"] = f"{body['error']} (the original message was too large to keep in the dead letter)"
            text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        return text

    def _body(self) -> dict[str, Any]:
        return {
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
            **({"error_kind": self.error_kind} if self.error_kind else {}),
            **({"kind": self.kind, "fields": self.fields, "region": self.region} if self.kind else {}),
        }

    @classmethod
    def from_json(cls, body: str) -> DeadLetter:
        """Read a letter `to_json` wrote: the one reader of the DLQ for the sync side, the operator commands and demo.

        Raises MalformedMessage for a body that is not a dead letter: not a JSON object, no `error` text, or a queue
        message (it carries the version `v`; SQS's own redrive moves those to the DLQ unchanged). Fields a letter
        from an older version lacks take their defaults.
        """
        try:
            data = json.loads(body)
        except (TypeError, ValueError) as exc:
            raise MalformedMessage(f"not a dead letter: not JSON ({type(exc).__name__})") from exc
        if not isinstance(data, dict) or "v" in data or not isinstance(data.get("error"), str):
            raise MalformedMessage("not a dead letter: a dead letter is a JSON object with an 'error' text")
        contact, message = _letter_contact_and_message(data)
        attempts = data.get("attempts", 0)
        if isinstance(attempts, bool) or not isinstance(attempts, int):
            raise MalformedMessage("not a dead letter: 'attempts' must be an integer")
        request_id = data.get("heymarket_request_id")
        fields = data.get("fields")
        if fields is not None and not isinstance(fields, dict):
            raise MalformedMessage("not a dead letter: 'fields' must be an object or null")
        text = {name: str(data.get(name) or "") for name in _LETTER_TEXTS}
        return cls(
            error=data["error"],
            attempts=attempts,
            contact=contact,
            message=message,
            heymarket_request_id=None if request_id is None else str(request_id),
            fields=fields,
            **text,
        )


# A dead letter's text fields: "" when a letter from an older version lacks one.
_LETTER_TEXTS = ("source", "received_at", "correlation_id", "operation_id", "failed_at", "kind", "region", "error_kind")


def _letter_contact_and_message(data: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A dead letter's contact and original message (as text); raises MalformedMessage for either of another type."""
    contact, message = data.get("contact"), data.get("message")
    if contact is not None and not isinstance(contact, dict):
        raise MalformedMessage("not a dead letter: 'contact' must be an object or null")
    if isinstance(message, dict):  # a large letter keeps the original message as an object (see to_json)
        if contact is None and isinstance(message.get("contact"), dict):
            contact = message["contact"]
        message = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if message is not None and not isinstance(message, str):
        raise MalformedMessage("not a dead letter: 'message' must be a string, an object or null")
    return contact, message


def bounded_fields(values: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """A refused submission's fields as a refusal letter keeps them, and whether anything was cut: texts cut to
    REFUSED_TEXT_MAX_CHARS characters, lists to REFUSED_LIST_MAX_ITEMS items, objects REFUSED_MAX_NESTING deep (deeper
    ones as their JSON text, cut), at most REFUSED_FIELDS_MAX_BYTES of JSON in all (the fields past that left out).
    Values JSON cannot hold are kept as their text."""
    cut = False

    def bound(value: Any, depth: int) -> Any:
        nonlocal cut
        if isinstance(value, str):
            cut = cut or len(value) > REFUSED_TEXT_MAX_CHARS
            return value[:REFUSED_TEXT_MAX_CHARS]
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, Mapping | list | tuple) and depth >= REFUSED_MAX_NESTING:
            return bound(json.dumps(value, default=str, ensure_ascii=False), depth)
        if isinstance(value, Mapping):
            return {str(key)[:REFUSED_TEXT_MAX_CHARS]: bound(item, depth + 1) for key, item in value.items()}
        if isinstance(value, list | tuple):
            cut = cut or len(value) > REFUSED_LIST_MAX_ITEMS
            return [bound(item, depth + 1) for item in list(value)[:REFUSED_LIST_MAX_ITEMS]]
        return bound(str(value), depth)

    kept: dict[str, Any] = {}
    size = 2
    for key, value in values.items():
        name, item = str(key)[:REFUSED_TEXT_MAX_CHARS], bound(value, 1)
        added = len(json.dumps({name: item}, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        if size + added > REFUSED_FIELDS_MAX_BYTES:
            cut = True
            continue
        kept[name] = item
        size += added
    return kept, cut


def consent_of(operations: Sequence[ContactOperation]) -> tuple[str | None, ConsentClaim | None]:
    """The source and consent claim behind the `is_opted_out` of these operations merged (in received order; see
    `Contact.merged_with`): the last opt-out's, else the last operation's that carries the field."""
    winner: ContactOperation | None = None
    for operation in operations:
        said = operation.contact.is_opted_out
        if said is not None and not (winner is not None and winner.contact.is_opted_out is True and said is False):
            winner = operation
    return (winner.source, winner.consent) if winner is not None else (None, None)


@record
class OutgoingMessage:
    """One SQS message: its body and its string message attributes (an empty value is not sent)."""

    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    delay_s: int | None = None  # SQS DelaySeconds (0-900); None: the sender's own
