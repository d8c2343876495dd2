"""What `dlq redrive --force --dry-run` lists: the letters that `--force` would apply over a newer operation their
contact already had, read from the contact state table (ContactStateTable: `applied`, the rank of the newest
operation applied to each phone; heymarket_bridge.sync.state.rules.operation_rank).

Without `--force` such a letter is skipped by the sync function when it arrives (superseded); with it, it is applied
all the same: an older upsert over a newer STOP, or over a newer delete. The operator sees each one before it moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.operations import ContactOperation, QueuedOperation, parse_operation
from heymarket_bridge.observability import mask_phone
from heymarket_bridge.sync.model import StateRead
from heymarket_bridge.sync.state.rules import RANK_SCALE, operation_rank


class StateReader(Protocol):
    """The contact state table, read only (heymarket_bridge.adapters.aws.contact_state.DynamoDbContactState)."""

    def read(self, phones: Sequence[str]) -> StateRead: ...


@dataclass(frozen=True)
class OverNewer:
    """A letter whose operation is older than the newest one applied to its contact (times in UTC, ISO 8601)."""

    message_id: str
    phone: str  # masked
    operation: str  # upsert, delete, lists
    operation_at: str
    newest_applied_at: str
    deleted: bool  # the newest applied was a delete


def over_newer(moving: Sequence[tuple[str, str]], state: StateReader) -> list[OverNewer]:
    """Of the (DLQ message id, queue message body) that would move, those older than their contact's newest applied
    operation. A delete by contact id alone names no phone and is not listed (the table is keyed by phone)."""
    operations: list[tuple[str, QueuedOperation, str]] = []
    for message_id, body in moving:
        try:
            operation = parse_operation(body)
        except MalformedMessage:
            continue
        phone = operation.contact.phone if isinstance(operation, ContactOperation) else operation.target.phone
        if phone:
            operations.append((message_id, operation, phone))
    if not operations:
        return []
    entries = state.read([phone for _, _, phone in operations]).entries
    found: list[OverNewer] = []
    for message_id, operation, phone in operations:
        held = entries.get(phone)
        rank = operation_rank(operation)
        if held is not None and held.applied_ms > rank:
            found.append(
                OverNewer(
                    message_id,
                    mask_phone(phone),
                    operation.op.value,
                    _moment(rank),
                    _moment(held.applied_ms),
                    held.deleted,
                )
            )
    return found


def _moment(rank: int) -> str:
    """When an operation happened, from its rank (its time in epoch milliseconds comes first)."""
    return datetime.fromtimestamp(rank // RANK_SCALE / 1000, UTC).isoformat(timespec="seconds")
