"""The sync side's tags-by-name and lists steps, over the ports of heymarket_bridge.sync.lists.rules. No adapter
imported.

Around the contact writes of a batch (heymarket_bridge.sync.service), the `Segmenter`:

1. `prepare`: sets the list write follow-ups (queue messages of op LISTS) apart from the contact operations, and
   looks up the tag names the contacts give: the team's tags are read once per execution environment and again (at
   most once per invocation) when a name is not among them; with `create_missing_tags`, a name still unknown is
   created (`POST /v1/tag`), one consumer at a time (a claim in the managed-lists table).
2. `finish`: once the contacts are stored, writes their lists (one `PUT /v2/lists/{id}` per list per chunk), the
   managed lists created first if need be (`ListDirectory`), and the lists of the follow-ups. A list write that still
   fails is never a reason to write the contact again: what may work later becomes a follow-up message (the contact
   message itself is done), what Heymarket refuses for good a dead letter whose message is that follow-up (a
   redrive writes the lists only). A follow-up is settled like any message: done, redelivered, waiting, or dead.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import (
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
    failure_kind,
)
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation, QueuedOperation
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import fold_name
from heymarket_bridge.observability import logger, mask_phone, redact
from heymarket_bridge.sync.failures import StoreUnavailable
from heymarket_bridge.sync.lists.batch import Finished, FollowUp, Prepared
from heymarket_bridge.sync.lists.directory import Claims, ListDirectory
from heymarket_bridge.sync.lists.rules import (
    Membership,
    TagIndex,
    TagLookup,
    changes_by_list,
    contacts_sent,
    deciding_failure,
    list_key,
    managed_list_gone,
    managed_tag_key,
    membership,
    resolve_tags,
    tag_names_in,
    without_superseded_tags,
)
from heymarket_bridge.sync.model import ListChange, Listed, ListRef, Member, NotDone, Tag

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import ManagedStore, Requeue, SegmentsPort

# The team's tags are read again when a batch names tags and they were read longer ago than this (seconds): a tag
# renamed in Heymarket's app keeps its id, and the write is not refused. One read (a request per 30 tags) per
# execution environment every 5 minutes at most.
TAGS_MAX_AGE_S = 300.0
# A tag the bridge created this recently is used even if the team's tag list does not show it yet.
RECENT_TAG_S = 600.0
NOT_SET_UP = "this sync function is not set up for tags by name and lists (no managed-lists table)"
_FOLLOW_UP_NAMESPACE = uuid.UUID("6b1f1d0e-58f4-4b8e-a1c7-5f0f3c2d9a17")


@record
class _Work:
    """The members whose tags and lists one step writes, their membership, and whether they are a follow-up."""

    members: tuple[Member, ...]
    membership: Membership
    follow_up: bool


class Segmenter:
    """Tags by name and lists for one execution environment: it keeps the team's tags and the managed lists' ids."""

    def __init__(
        self,
        heymarket: SegmentsPort | None,
        store: ManagedStore | None,
        follow_ups: Requeue | None,
        *,
        stack: str,
        create_missing_tags: bool = False,
        remove_opted_out: bool = True,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        new_token: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._heymarket = heymarket
        self._follow_ups = follow_ups
        self._create_missing = create_missing_tags
        self._remove_opted_out = remove_opted_out
        self._claims = Claims(store, wall_clock, sleep, new_token) if store is not None else None
        self._lists = ListDirectory(heymarket, self._claims, stack) if heymarket and self._claims else None
        self._wall_clock = wall_clock
        self._index: TagIndex | None = None  # the team's tags, read once per cold start (and see `tag_lookup`)
        self._index_read_at = 0.0  # when (wall clock, epoch seconds)
        self._read_this_invocation = False

    @classmethod
    def disabled(cls) -> Segmenter:
        """A segmenter without Heymarket or a table: tag names and lists are refused, naming the cause."""
        return cls(None, None, None, stack="")

    # ------------------------------------------------------------------ prepare

    def prepare(self, members: Sequence[Member], deadline: Deadline) -> Prepared:
        """Starts an invocation: sets the follow-ups apart, looks the tag names up."""
        self._read_this_invocation = False
        follow_ups = [m for m in members if _is_follow_up(m.operation)]
        rest = [m for m in members if not _is_follow_up(m.operation)]
        return Prepared(rest, follow_ups, self.tag_lookup(contacts_sent([m.operation for m in rest]), deadline))

    def tag_lookup(
        self, contacts: Sequence[Contact], deadline: Deadline, *, reread: bool = False
    ) -> TagLookup | GatewayFailure | None:
        """The tags the contacts' names need (None when no contact names a tag), or the failure to read them.

        The team's tags are read again when a name is not among them, when they were read more than TAGS_MAX_AGE_S
        ago (a tag renamed, or deleted and made again, in Heymarket's app), or when `reread`; at most once per
        invocation, except the first read of an execution environment."""
        names = tag_names_in(contacts)
        if not names:
            return None
        if self._heymarket is None:
            return PermanentFailure(NOT_SET_UP)
        stale = self._wall_clock() - self._index_read_at >= TAGS_MAX_AGE_S
        if self._index is None or (
            not self._read_this_invocation and (reread or stale or bool(self._index.unknown(names)))
        ):
            try:
                self._index = TagIndex(self._heymarket.tags(deadline))
            except GatewayFailure as failure:
                return failure
            self._index_read_at, self._read_this_invocation = self._wall_clock(), True
            logger.info("Read Heymarket's tags", extra={"count": len(self._index)})
        failed: dict[str, GatewayFailure] = {}
        for name in self._index.unknown(names) if self._create_missing else []:
            created = self._create_tag(name, deadline)
            if isinstance(created, GatewayFailure):
                failed[fold_name(name)] = created
                continue
            self._index = self._index.with_tag(Tag(created, name))
        return TagLookup(self._index, failed)

    def retag(
        self, refused: Sequence[tuple[Contact, Sequence[Contact]]], deadline: Deadline
    ) -> list[Contact | GatewayFailure | None]:
        """For contact writes Heymarket refused (`(contact sent, the messages merged into it in received order)`):
        the contact to send again with tag ids read afresh, when its tags were given by name and the team's tags,
        read again (at most once per invocation), now give other ids (a tag deleted and made again under its name,
        or another tag renamed to it); the failure that now explains the refusal (the name matches no tag any more);
        or None, the refusal stands (no tag given by name, the ids unchanged, the tags already read afresh in this
        invocation, or unreadable)."""
        sent = [without_superseded_tags(messages) for _, messages in refused]
        named = [contacts for contacts in sent if tag_names_in(contacts)]
        if not named or self._read_this_invocation:
            return [None] * len(refused)
        lookup = self.tag_lookup([contact for contacts in named for contact in contacts], deadline, reread=True)
        if not isinstance(lookup, TagLookup):
            return [None] * len(refused)
        retagged = [_retagged(contact, contacts, lookup) for (contact, _), contacts in zip(refused, sent, strict=True)]
        fresh = sum(isinstance(item, Contact) for item in retagged)
        if fresh:
            logger.warning(
                "Heymarket refused contacts whose tag ids changed since they were read; sent again with fresh ids",
                extra={"count": fresh},
            )
        return retagged

    def _create_tag(self, name: str, deadline: Deadline) -> int | GatewayFailure:
        """Create a tag the team's list does not show, one consumer at a time; a consumer that finds another creating
        it waits for it. A create whose answer was lost is not repeated in the invocation: the next invocation reads
        the tags again, and finds it or creates it."""
        heymarket, claims = self._heymarket, self._claims
        if heymarket is None or claims is None:
            return PermanentFailure(NOT_SET_UP)
        try:
            claimed = claims.claim(
                managed_tag_key(name), name, deadline, ready=lambda r: claims.age(r.created_at) < RECENT_TAG_S
            )
        except StoreUnavailable as exc:
            return TransientFailure(f"the managed-lists table could not be read or written: {exc}")
        if isinstance(claimed, int | GatewayFailure):
            return claimed
        try:
            tag_id = heymarket.create_tag(name, deadline)
        except GatewayFailure as failure:
            claims.release(claimed)
            return failure
        claims.release(replace(claimed, resource_id=tag_id, created_at=claims.now()))
        logger.info("Created a tag in Heymarket (CreateMissingTags)", extra={"tag": name, "tag_id": tag_id})
        return tag_id

    # ------------------------------------------------------------------ finish

    def finish(
        self,
        prepared: Prepared,
        stored: Sequence[tuple[tuple[Member, ...], Contact, bool | None]],
        deadline: Deadline,
    ) -> Finished:
        """Write the lists of the stored contacts (`(members, contact sent, opted out as answered)`) and of the
        follow-ups; say what became of each."""
        finished: Finished = Finished()
        work: list[_Work] = []
        for members, contact, opted_out in stored:
            contacts = [m.operation.contact for m in members if isinstance(m.operation, ContactOperation)]
            wanted = membership(contact.phone, contacts, opted_out, remove_opted_out=self._remove_opted_out)
            if wanted is not None:
                work.append(_Work(members, wanted, follow_up=False))
        work += self._follow_up_work(prepared.follow_ups, deadline, finished)
        if not work:
            return finished
        # In received order: for a list and a phone named twice, the latest decides (segments.changes_by_list).
        work.sort(key=lambda item: _received_at(item.members[-1]))
        results = self.write([item.membership for item in work], deadline)
        for item, failed in zip(work, results, strict=True):
            if item.follow_up:
                outcome: Listed | NotDone = (
                    NotDone(deciding_failure(failed)) if failed else Listed(len(item.membership.refs))
                )
                finished.outcomes.append((item.members, outcome))
                continue
            if not failed:
                finished.listed += 1
                continue
            self._defer(item, failed, finished)
        return finished

    def _follow_up_work(self, follow_ups: Sequence[Member], deadline: Deadline, finished: Finished) -> list[_Work]:
        """The follow-ups' memberships: a follow-up's phone is looked up first, so that a contact deleted since is not
        put back on a list (an unknown phone added to a list becomes a new contact), and one opted out since is
        taken off instead."""
        if not follow_ups:
            return []
        if self._heymarket is None or self._lists is None:
            finished.outcomes += [((m,), NotDone(PermanentFailure(NOT_SET_UP))) for m in follow_ups]
            return []
        contacts = [m.operation.contact for m in follow_ups if isinstance(m.operation, ContactOperation)]
        try:
            held = self._heymarket.opted_out([c.phone for c in contacts], deadline)
        except GatewayFailure as failure:
            finished.outcomes += [((m,), NotDone(failure)) for m in follow_ups]
            return []
        work: list[_Work] = []
        for member, contact in zip(follow_ups, contacts, strict=True):
            state = held.get(contact.phone)
            if isinstance(state, GatewayFailure):
                finished.outcomes.append(((member,), NotDone(state)))
                continue
            wanted = (
                None
                if state is None
                else membership(contact.phone, [contact], state, remove_opted_out=self._remove_opted_out)
            )
            if wanted is None:
                logger.info(
                    "No contact holds the phone any more, or it names no list: its list write is moot",
                    extra={"phone": mask_phone(contact.phone)},
                )
                finished.outcomes.append(((member,), Listed(0)))
                continue
            work.append(_Work((member,), wanted, follow_up=True))
        return work

    def write(self, memberships: Sequence[Membership], deadline: Deadline) -> list[dict[str, GatewayFailure]]:
        """Write the memberships (in received order); for each, the lists (by `list_key`) NOT written, and why."""
        if self._heymarket is None:
            return [{list_key(ref): PermanentFailure(NOT_SET_UP) for ref in member.refs} for member in memberships]
        ids, unresolved, managed = self._list_ids(memberships, deadline)
        failed_phones: dict[int, dict[str, GatewayFailure]] = {}
        for change in changes_by_list(memberships, ids):
            failed = self._update(change, deadline)
            if change.list_id in managed:
                failed = {phone: managed_list_gone(managed[change.list_id], f) for phone, f in failed.items()}
            failed_phones[change.list_id] = failed
        return [_failures_of(member, ids, unresolved, failed_phones) for member in memberships]

    def _list_ids(
        self, memberships: Sequence[Membership], deadline: Deadline
    ) -> tuple[dict[str, int], dict[str, GatewayFailure], dict[int, str]]:
        """The id of each list the memberships name (by `list_key`); the failure of those without one; and the names
        of the lists the bridge manages (by id)."""
        refs: dict[str, ListRef] = {}
        for member in memberships:
            for ref in member.refs:
                refs.setdefault(list_key(ref), ref)
        ids: dict[str, int] = {}
        unresolved: dict[str, GatewayFailure] = {}
        managed: dict[int, str] = {}  # list id -> name, for the lists the bridge manages
        for key, ref in refs.items():
            found = self._list_id(ref, deadline)
            if isinstance(found, GatewayFailure):
                unresolved[key] = found
                continue
            ids[key] = found
            if isinstance(ref, str):
                managed[found] = ref
        return ids, unresolved, managed

    def _list_id(self, ref: ListRef, deadline: Deadline) -> int | GatewayFailure:
        if isinstance(ref, int):
            return ref
        if self._lists is None:
            return PermanentFailure(NOT_SET_UP)
        return self._lists.list_id(ref, deadline)

    def _update(self, change: ListChange, deadline: Deadline) -> dict[str, GatewayFailure]:
        assert self._heymarket is not None  # a list id was found, so the segmenter is enabled
        try:
            return self._heymarket.update_list(change, deadline)
        except GatewayFailure as failure:
            return dict.fromkeys((*change.add_phones, *change.remove_phones), failure)

    def _defer(self, item: _Work, failed: Mapping[str, GatewayFailure], finished: Finished) -> None:
        """A stored contact's lists not written: a follow-up for those that may work later, a dead letter for those
        Heymarket refused for good."""
        later = {key: f for key, f in failed.items() if not isinstance(f, PermanentFailure)}
        refused = {key: f for key, f in failed.items() if isinstance(f, PermanentFailure)}
        last = item.members[-1]
        for group, is_later in ((later, True), (refused, False)):
            if not group:
                continue
            wanted = item.membership.only(ref for ref in item.membership.refs if list_key(ref) in group)
            failure = deciding_failure(group)
            operation = _follow_up_operation(last, wanted)
            letter = _list_letter(last, operation, failure)
            logger.warning(
                "Contact stored; writing its lists failed, so they are written later"
                if is_later
                else "Contact stored; Heymarket refused a list write, dead-lettered",
                extra={
                    "phone": mask_phone(wanted.phone),
                    "lists": len(wanted.refs),
                    "error": redact(failure.reason),
                    "heymarket_request_id": failure.request_id,
                },
            )
            if is_later:
                finished.follow_ups.append(FollowUp(item.members, operation.to_json(), letter))
            else:
                finished.letters.append((item.members, letter))

    def queue(self, follow_ups: Sequence[FollowUp]) -> list[tuple[tuple[Member, ...], DeadLetter]]:
        """Put the follow-ups on the queue; the letters of those that could not be (to write to the DLQ instead)."""
        if not follow_ups:
            return []
        if self._follow_ups is None:
            return [(f.members, f.letter) for f in follow_ups]
        unsent = set(self._follow_ups.put_back([f.body for f in follow_ups]))
        if unsent:
            logger.error("Could not queue list write follow-ups; dead-lettering them", extra={"count": len(unsent)})
        return [(f.members, f.letter) for n, f in enumerate(follow_ups) if n in unsent]


def _is_follow_up(operation: QueuedOperation) -> bool:
    return isinstance(operation, ContactOperation) and operation.op is Operation.LISTS


def _received_at(member: Member) -> str:
    return member.operation.received_at


def _follow_up_operation(member: Member, wanted: Membership) -> ContactOperation:
    operation = member.operation
    assert isinstance(operation, ContactOperation)  # stored contacts come from upserts
    return ContactOperation(
        Operation.LISTS,
        Contact(phone=wanted.phone, lists=wanted.refs),
        operation.source,
        operation.received_at,
        operation.correlation_id,
        str(uuid.uuid5(_FOLLOW_UP_NAMESPACE, f"{operation.operation_id}:lists:{','.join(map(str, wanted.refs))}")),
    )


def _list_letter(member: Member, operation: ContactOperation, failure: GatewayFailure) -> DeadLetter:
    return DeadLetter(
        error=failure.reason or "the lists were not written",
        attempts=member.record.receive_count,
        source=operation.source,
        received_at=operation.received_at,
        contact=operation.contact.to_dict(),
        correlation_id=operation.correlation_id,
        operation_id=operation.operation_id,
        message=operation.to_json(),
        failed_at=datetime.now(UTC).isoformat(timespec="milliseconds"),
        heymarket_request_id=failure.request_id,
        error_kind=failure_kind(failure),
    )


def _retagged(contact: Contact, contacts: Sequence[Contact], lookup: TagLookup) -> Contact | GatewayFailure | None:
    """A refused contact with its tag ids read afresh (`contacts`: the messages merged into it, the older tags left
    out), the failure that now explains the refusal, or None when the refusal stands (no tag by name, ids unchanged)."""
    resolved = resolve_tags(list(contacts), lookup) if tag_names_in(contacts) else None
    if resolved is None or isinstance(resolved, GatewayFailure):
        return resolved
    tags = next((c.tags for c in reversed(resolved) if c.tags is not None), None)
    return None if tags == contact.tags else replace(contact, tags=tags)


def _failures_of(
    member: Membership,
    ids: Mapping[str, int],
    unresolved: Mapping[str, GatewayFailure],
    failed_phones: Mapping[int, Mapping[str, GatewayFailure]],
) -> dict[str, GatewayFailure]:
    """The lists (by `list_key`) of a membership NOT written, and why."""
    failures: dict[str, GatewayFailure] = {}
    for ref in member.refs:
        key = list_key(ref)
        if key in unresolved:
            failures[key] = unresolved[key]
        elif member.phone in failed_phones.get(ids[key], {}):
            failures[key] = failed_phones[ids[key]][member.phone]
    return failures
