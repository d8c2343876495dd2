"""The sync recipe's first step, pure: read a batch's messages, and decide what to send for them.

`read_batch` parses each SQS record into a `Member` (an unreadable one is set apart, for the DLQ) and orders them by
their operations' times. `plan_batch` groups the operations on the same contact into lanes
(heymarket_bridge.sync.lanes) and merges each lane's upserts into the one contact to send, once, after custom-field
titles and tag names are resolved; a lane whose titles or tags cannot be resolved is decided without a request.
"""

from __future__ import annotations

from collections.abc import Sequence

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomFieldIndex, titles_in
from heymarket_bridge.domain.failures import (
    GatewayFailure,
    MalformedMessage,
    PermanentFailure,
    TransientFailure,
    reworded,
)
from heymarket_bridge.domain.operations import (
    DeleteOperation,
    DeleteTarget,
    QueuedOperation,
    consent_of,
    parse_operation,
)
from heymarket_bridge.observability import logger, mask_phone
from heymarket_bridge.sync.lanes import Lane, merge_contacts, plan_lanes
from heymarket_bridge.sync.lists.rules import TagLookup, resolve_tags, without_superseded_tags
from heymarket_bridge.sync.model import Decided, DeleteStep, Member, Plan, QueueRecord, UpsertStep, as_upsert
from heymarket_bridge.sync.state.rules import operation_ms


def read_batch(records: Sequence[QueueRecord]) -> tuple[list[Member], list[tuple[QueueRecord, str]]]:
    """The batch's members, in the order of their operations' times; and the records that could not be read, each
    with why."""
    members: list[Member] = []
    unreadable: list[tuple[QueueRecord, str]] = []
    for record in records:
        try:
            members.append(Member(record, parse_operation(record.body)))
        except MalformedMessage as exc:
            logger.error("Unreadable queue message", extra={"message_id": record.message_id, "error": str(exc)})
            unreadable.append((record, str(exc)))
    # In the order of the operations' times (the source's event time, else when the bridge received them), then
    # when the bridge received them, then when SQS got them.
    members.sort(key=lambda m: (operation_ms(m.operation), m.operation.received_at, m.record.sent_timestamp_ms))
    return members, unreadable


def plan_batch(
    members: Sequence[Member],
    fields: CustomFieldIndex | GatewayFailure | None,
    tags: TagLookup | GatewayFailure | None = None,
) -> Plan:
    """What to send for a batch (members in received order). `fields` resolves custom-field titles: the team's
    field index, the failure that kept it from being read, or None when no contact uses a title; `tags` resolves
    tag names the same way (heymarket_bridge.sync.lists.rules.resolve_tags)."""
    deletes: list[DeleteStep] = []
    upserts: list[UpsertStep] = []
    decided: list[Decided] = []
    for lane in plan_lanes([member.operation for member in members]):
        after: int | None = None
        if lane.deletes:
            after = len(deletes)
            deletes.append(_delete_step(members, lane))
        if not lane.upserts:
            continue
        delete = deletes[after] if after is not None else None
        step = _upsert_step(tuple(members[i] for i in lane.upserts), fields, tags, delete, after)
        if isinstance(step, Decided):
            decided.append(step)
        else:
            upserts.append(step)
    merged = len(members) - len(deletes) - len(upserts) - sum(len(d.members) for d in decided)
    return Plan(tuple(deletes), tuple(upserts), tuple(decided), merged)


def _delete_step(members: Sequence[Member], lane: Lane) -> DeleteStep:
    """A lane's deletes, with the upserts they make moot."""
    targets = dict.fromkeys(_target(members[i].operation) for i in lane.deletes)
    moot = tuple(members[i] for i in sorted(lane.deletes + lane.superseded))
    return DeleteStep(tuple(targets), moot)


def _upsert_step(
    lane_members: tuple[Member, ...],
    fields: CustomFieldIndex | GatewayFailure | None,
    tags: TagLookup | GatewayFailure | None,
    delete: DeleteStep | None,
    after: int | None,
) -> UpsertStep | Decided:
    """A lane's upserts merged into the one contact to send (after the delete step `after`, if any); or decided
    without a request when a title or tag name cannot be resolved."""
    contacts = _resolved(without_superseded_tags([as_upsert(m.operation).contact for m in lane_members]), fields, tags)
    if isinstance(contacts, GatewayFailure):
        return Decided(lane_members, contacts)
    deleted_ids = frozenset(t.contact_id for t in delete.targets if t.contact_id) if delete else frozenset()
    source, claim = consent_of([as_upsert(member.operation) for member in lane_members])
    return UpsertStep(merge_contacts(contacts, deleted_ids), lane_members, after, None, source, claim)


def _resolved(
    contacts: list[Contact],
    fields: CustomFieldIndex | GatewayFailure | None,
    tags: TagLookup | GatewayFailure | None,
) -> list[Contact] | GatewayFailure:
    """The contacts with custom-field titles and tag names resolved to ids, or the failure that keeps them from it."""
    if any(titles_in(contact.custom) for contact in contacts):
        resolved = _resolve_titles(contacts, fields)
        if isinstance(resolved, GatewayFailure):
            return resolved
        contacts = resolved
    if any(contact.tag_names() for contact in contacts):
        return resolve_tags(contacts, tags)
    return contacts


def _resolve_titles(
    contacts: list[Contact], fields: CustomFieldIndex | GatewayFailure | None
) -> list[Contact] | GatewayFailure:
    if fields is None or isinstance(fields, GatewayFailure):
        failure = fields or TransientFailure("the custom fields were not read")
        return reworded(failure, f"reading Heymarket's custom fields failed: {failure.reason}")
    unknown = list(dict.fromkeys(title for contact in contacts for title in fields.unknown(contact.custom)))
    if unknown:
        names = ", ".join(repr(title) for title in unknown)
        logger.error(
            "Custom field title unknown to Heymarket; contact dead-lettered",
            extra={"titles": unknown, "phone": mask_phone(contacts[0].phone)},
        )
        return PermanentFailure(
            f"custom field {names} is not a custom field title of this Heymarket account "
            "(create it in Heymarket, or key the value by the field's id)"
        )
    return [
        Contact.from_dict({**contact.to_dict(), "custom": fields.resolve(contact.custom)})
        if contact.custom
        else contact
        for contact in contacts
    ]


def _target(operation: QueuedOperation) -> DeleteTarget:
    assert isinstance(operation, DeleteOperation)  # lanes list deletes by index
    return operation.target
