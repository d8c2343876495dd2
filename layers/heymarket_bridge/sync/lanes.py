"""How one batch's queued operations become what is sent, keeping upserts and deletes in the order received. Pure.

Operations on the same contact form a lane. Two operations are on the same contact when they share a phone or a
contact id (an upsert carrying both ties them together). Within a lane, in received order:

- consecutive upserts merge into one contact, later values winning field by field;
- a delete makes every upsert received before it moot (the delete removes what they wrote), so those upserts
  are not sent and share the delete's fate; all deletes of the lane are sent together, before anything else;
- upserts received after the lane's last delete are sent once that delete succeeded, as one merged contact
  (as a create if the delete removed the contact id they name).

So "upsert then delete" sends only the delete, and "delete then upsert" sends the delete, then the upsert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, DeleteOperation, QueuedOperation
from heymarket_bridge.domain.records import record


@record
class Lane:
    """The operations on one contact, as indexes into the batch's received-order list."""

    deletes: tuple[int, ...] = ()
    superseded: tuple[int, ...] = ()  # upserts received before the last delete: not sent
    upserts: tuple[int, ...] = ()  # upserts sent as one merged contact (after the deletes, if any)


def lane_keys(operation: QueuedOperation) -> list[str]:
    """The identities an operation names: 'phone:<digits>', and 'id:<uuid>' when it has a contact id."""
    if isinstance(operation, DeleteOperation):
        return [operation.target.key]
    keys = [f"phone:{operation.contact.phone}"]
    if operation.contact.contact_id is not None:
        keys.append(f"id:{operation.contact.contact_id}")
    return keys


def plan_lanes(operations: Sequence[QueuedOperation]) -> list[Lane]:
    """Split a batch (in received order) into lanes, in the order of each lane's first operation."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for operation in operations:
        first, *others = lane_keys(operation)
        for other in others:
            parent[root(other)] = root(first)
    members: dict[str, list[int]] = {}
    for index, operation in enumerate(operations):
        members.setdefault(root(lane_keys(operation)[0]), []).append(index)
    return [_lane(indexes, operations) for indexes in members.values()]


def _lane(indexes: list[int], operations: Sequence[QueuedOperation]) -> Lane:
    deletes = tuple(i for i in indexes if isinstance(operations[i], DeleteOperation))
    upserts = [i for i in indexes if isinstance(operations[i], ContactOperation)]
    if not deletes:
        return Lane(upserts=tuple(upserts))
    last_delete = deletes[-1]
    return Lane(
        deletes=deletes,
        superseded=tuple(i for i in upserts if i < last_delete),
        upserts=tuple(i for i in upserts if i > last_delete),
    )


def merge_contacts(contacts: Sequence[Contact], deleted_ids: frozenset[str] = frozenset()) -> Contact:
    """One contact from several, later values winning; a contact id that was just deleted is dropped (a create)."""
    merged = contacts[0]
    for later in contacts[1:]:
        merged = merged.merged_with(later)
    if merged.contact_id is not None and merged.contact_id in deleted_ids:
        merged = replace(merged, contact_id=None)
    return merged
