"""A delivery's contacts as validated: what to queue (one operation per phone), and what to tell the sender and the
operator about the others. Pure, but for the log lines it writes.

Each submission is read into a contact (heymarket_bridge.domain.contact.read_contact). One that does not read is
refused, and a refusal letter keeps it for an operator (heymarket_bridge.ingest.letters); one read without some
optional fields is queued and reported. A phone's contacts are merged into one (heymarket_bridge.ingest.per_phone).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from heymarket_bridge.domain.consent import MAX_CLAIM_TEXT, ConsentClaim
from heymarket_bridge.domain.contact import Contact, DroppedField, read_contact
from heymarket_bridge.domain.failures import InvalidContact
from heymarket_bridge.domain.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.domain.operations import (
    MAX_OPERATION_BYTES,
    ContactOperation,
    DeadLetter,
    Operation,
    OutgoingMessage,
    QueuedOperation,
)
from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.failures import PayloadTooLarge
from heymarket_bridge.ingest.letters import refusal_letter
from heymarket_bridge.ingest.per_phone import one_per_phone
from heymarket_bridge.ingest.replies import Rejection, queued_with
from heymarket_bridge.ingest.sources.common import Delivery
from heymarket_bridge.observability import logger

NO_MAPPING = SourceMapping()
# What one contact's queue message may hold: SQS takes 262,144 bytes, but a contact the sync side dead-letters must
# still fit in a dead letter with its original message (heymarket_bridge.domain.operations.MAX_OPERATION_BYTES).
MAX_QUEUE_MESSAGE_BYTES = MAX_OPERATION_BYTES
_T = TypeVar("_T")


@record
class DeliveryPlan:
    """A delivery's contacts as validated: what to queue (one operation per phone), how many submissions were
    accepted into it, and what to tell the sender about the others."""

    operations: list[ContactOperation]
    rejected: list[Rejection]
    accepted: int
    letters: list[DeadLetter] = dataclasses.field(default_factory=list)  # the refused contacts, for the DLQ


@record
class PlanInputs:
    """What planning a delivery needs besides the delivery: who sent it, the request's id, the time it was received
    (`now`), the deployment's DefaultCountry and the mappings (read only for a consent claim's field name)."""

    source: str
    request_id: str
    now: datetime
    default_country: str
    mappings: Mapping[str, SourceMapping] = field(default_factory=dict)
    # What the token that sent the delivery may send (heymarket_bridge.ingest.scopes.TokenScopes.restrict): the
    # contact as allowed, and the fields left out. Unscoped: the contact as it is.
    restrict: Callable[[Contact], tuple[Contact, list[DroppedField]]] = field(default=lambda contact: (contact, []))


@dataclass
class _Tally:
    """What reading a delivery's submissions found, in the delivery's order."""

    rejected: list[Rejection] = field(default_factory=list)
    accepted: list[tuple[int, ContactOperation]] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    dropped_log: list[dict[str, Any]] = field(default_factory=list)
    doubt_log: list[int] = field(default_factory=list)
    unlettered: int = 0  # refused with nothing to fix (a vendor record without a phone): no letter


def plan_delivery(delivery: Delivery, inputs: PlanInputs) -> DeliveryPlan:
    """Validate every submission: the contacts to queue (a phone's merged into one, the last winning), and the
    rejections and dropped fields to report. A submission's event time (`delivery.occurred_at`, from its source) is
    queued with it, never later than `inputs.now`. Raises PayloadTooLarge for a contact too large for a queue
    message."""
    received_at = inputs.now.isoformat(timespec="milliseconds")
    tally = _Tally()
    for index, raw in enumerate(delivery.submissions):
        _read_submission(index, raw, delivery, inputs, received_at, tally)
    operations = one_per_phone(tally.accepted)
    for index, operation in operations:
        size = message_bytes(operation)
        if size > MAX_QUEUE_MESSAGE_BYTES:
            raise PayloadTooLarge(
                f"contact {index} is {size} bytes as a queue message; at most "
                f"{MAX_QUEUE_MESSAGE_BYTES} fit in one (shorten its custom fields)",
                {"index": index},
            )
    _report(len(delivery.submissions), tally, inputs.source)
    return DeliveryPlan([operation for _, operation in operations], tally.rejected, len(tally.accepted), tally.letters)


def _read_submission(
    index: int, raw: Submission, delivery: Delivery, inputs: PlanInputs, received_at: str, tally: _Tally
) -> None:
    """Read submission `index` into the tally: a refusal and its letter, or an operation (and what it lost)."""
    if isinstance(raw, Unmappable):
        tally.rejected.append(Rejection(index, list(raw.errors)))
        if raw.letter:
            tally.letters.append(_letter(inputs, received_at, index, list(raw.errors), raw.fields))
        else:
            tally.unlettered += 1
        return
    try:
        contact, dropped, warnings = read_contact(raw, inputs.default_country)
    except InvalidContact as exc:
        tally.rejected.append(Rejection(index, exc.errors))
        tally.letters.append(_letter(inputs, received_at, index, exc.errors, raw))
        return
    contact, withheld = inputs.restrict(contact)
    dropped = [*dropped, *withheld]
    if dropped or warnings:
        tally.rejected.append(queued_with(index, dropped, warnings))
    if dropped:
        tally.dropped_log.append({"index": index, "fields": [item.field for item in dropped]})
    if warnings:
        tally.doubt_log.append(index)
    event = _nth(delivery.occurred_at, index)
    occurred_at = min(event, inputs.now).astimezone(UTC).isoformat(timespec="milliseconds") if event else None
    claim = _claim(index, raw, delivery, inputs) if contact.is_opted_out is not None else None
    operation = ContactOperation(
        Operation.UPSERT,
        contact,
        inputs.source,
        received_at,
        inputs.request_id,
        occurred_at=occurred_at,
        consent=claim,
    )
    tally.accepted.append((index, operation))


def _claim(index: int, raw: Submission, delivery: Delivery, inputs: PlanInputs) -> ConsentClaim | None:
    """The consent claim of a submission that gives `is_opted_out`: its source's, else the field it came from; with
    the source's event id when the source names its events."""
    mapping = inputs.mappings.get(inputs.source, NO_MAPPING)
    claim = _nth(delivery.consent, index) or _claimed(raw, mapping)
    event_id = _nth(delivery.event_ids, index)
    if claim is not None and event_id and claim.event_id is None:
        claim = dataclasses.replace(claim, event_id=event_id[:MAX_CLAIM_TEXT])
    return claim


def _nth(values: Sequence[_T | None], index: int) -> _T | None:
    return values[index] if index < len(values) else None


def _claimed(raw: Submission, mapping: SourceMapping) -> ConsentClaim | None:
    """The consent claim of a submission whose `is_opted_out` its source gives as a field of its own (the generic
    post's, or the one the operator's mapping names): that field, the value as sent, no time (none is given)."""
    if isinstance(raw, Unmappable) or raw.get("is_opted_out") is None:
        return None
    value = raw["is_opted_out"]
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return ConsentClaim(" or ".join(mapping.fields.get("is_opted_out", ("is_opted_out",))), text)


def _letter(inputs: PlanInputs, received_at: str, index: int, errors: Sequence[str], fields: Any) -> DeadLetter:
    return refusal_letter(
        inputs.source, inputs.request_id, received_at, index, errors, fields, region=inputs.default_country
    )


def _report(submissions: int, tally: _Tally, source: str) -> None:
    if tally.unlettered:
        logger.info(
            "Records without a phone acknowledged without a refusal letter",
            extra={"source": source, "count": tally.unlettered},
        )
    if tally.dropped_log:
        logger.warning("Invalid optional fields dropped", extra={"source": source, "contacts": tally.dropped_log[:20]})
    if tally.doubt_log:
        logger.warning(
            "Phones without a + read as international numbers that could be mistyped national ones",
            extra={"source": source, "indexes": tally.doubt_log[:20], "count": len(tally.doubt_log)},
        )


def queue_message(operation: QueuedOperation) -> OutgoingMessage:
    """An operation as its queue message: its JSON, with its source and correlation id as attributes."""
    return OutgoingMessage(
        operation.to_json(), {"source": operation.source, "correlation_id": operation.correlation_id}
    )


def message_bytes(operation: ContactOperation) -> int:
    """The size SQS counts for the operation's message: the body, and each attribute's name, type and value."""
    message = queue_message(operation)
    attributes = sum(len(k.encode()) + len(b"String") + len(v.encode()) for k, v in message.attributes.items() if v)
    return len(message.body.encode("utf-8", "surrogatepass")) + attributes
