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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

from heymarket_bridge.domain.contact import Contact, fold_name
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation, QueuedOperation
from heymarket_bridge.observability import logger, mask_phone, redact
from heymarket_bridge.sync.lists.rules import (
    ListChange,
    Listed,
    ListGone,
    ListRef,
    ManagedRecord,
    ManagedStore,
    Membership,
    SegmentsPort,
    StoreUnavailable,
    Tag,
    TagIndex,
    TagLookup,
    changes_by_list,
    contacts_sent,
    list_key,
    list_local_id,
    managed_list_key,
    managed_tag_key,
    membership,
    resolve_tags,
    tag_names_in,
    without_superseded_tags,
)
from heymarket_bridge.sync.model import NotDone

# A consumer creating a tag or list holds a claim for at most one invocation (the sync function's Timeout, 60 s):
# a claim older than this belongs to a consumer that died mid-way, and another may take it over.
CLAIM_TTL_S = 300.0
# How long a consumer waits for another's claim, re-reading the record after each pause (seconds).
CLAIM_WAITS_S = (0.25, 0.5, 1.0, 2.0)
# The team's tags are read again when a batch names tags and they were read longer ago than this (seconds): a tag
# renamed in Heymarket's app keeps its id, and the write is not refused. One read (a request per 30 tags) per
# execution environment every 5 minutes at most.
TAGS_MAX_AGE_S = 300.0
# A tag the bridge created this recently is used even if the team's tag list does not show it yet.
RECENT_TAG_S = 600.0
NOT_SET_UP = "this sync function is not set up for tags by name and lists (no managed-lists table)"
_FOLLOW_UP_NAMESPACE = uuid.UUID("6b1f1d0e-58f4-4b8e-a1c7-5f0f3c2d9a17")


class _Record(Protocol):
    @property
    def receive_count(self) -> int: ...


class Carrier(Protocol):
    """A queue message and the operation it carries (heymarket_bridge.sync.service.Member)."""

    @property
    def record(self) -> _Record: ...

    @property
    def operation(self) -> QueuedOperation: ...


M = TypeVar("M", bound=Carrier)


class FollowUpQueue(Protocol):
    def put_back(self, bodies: Sequence[str]) -> list[int]:
        """Queue these message bodies (to be received later as new messages); the indexes of those NOT queued."""
        ...


@dataclass(frozen=True)
class Prepared(Generic[M]):
    """A batch ready to plan: its contact operations, its list-write follow-ups, and what its tag names resolve to."""

    members: list[M]
    follow_ups: list[M]
    tags: TagLookup | GatewayFailure | None


@dataclass(frozen=True)
class FollowUp(Generic[M]):
    """List writes to try again later, for the stored contact of `members`: `body` goes on the queue, or `letter`
    to the DLQ if it cannot."""

    members: tuple[M, ...]
    body: str
    letter: DeadLetter


@dataclass
class Finished(Generic[M]):
    """What the list writes of a batch came to."""

    outcomes: list[tuple[tuple[M, ...], Listed | NotDone]] = field(default_factory=list)  # of the follow-ups
    follow_ups: list[FollowUp[M]] = field(default_factory=list)
    letters: list[tuple[tuple[M, ...], DeadLetter]] = field(default_factory=list)  # refused list writes
    listed: int = 0  # stored contacts whose lists were all written


@dataclass(frozen=True)
class _Work(Generic[M]):
    members: tuple[M, ...]
    membership: Membership
    follow_up: bool


class Segmenter:
    """Tags by name and lists for one execution environment: it keeps the team's tags and the managed lists' ids."""

    def __init__(
        self,
        heymarket: SegmentsPort | None,
        store: ManagedStore | None,
        follow_ups: FollowUpQueue | None,
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
        self._claims = _Claims(store, wall_clock, sleep, new_token) if store is not None else None
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

    def prepare(self, members: Sequence[M], deadline: Deadline) -> Prepared[M]:
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
        retagged: list[Contact | GatewayFailure | None] = []
        for (contact, _), contacts in zip(refused, sent, strict=True):
            resolved = resolve_tags(contacts, lookup) if tag_names_in(contacts) else None
            if resolved is None or isinstance(resolved, GatewayFailure):
                retagged.append(resolved)
                continue
            tags = next((c.tags for c in reversed(resolved) if c.tags is not None), None)
            retagged.append(None if tags == contact.tags else replace(contact, tags=tags))
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
        prepared: Prepared[M],
        stored: Sequence[tuple[tuple[M, ...], Contact, bool | None]],
        deadline: Deadline,
    ) -> Finished[M]:
        """Write the lists of the stored contacts (`(members, contact sent, opted out as answered)`) and of the
        follow-ups; say what became of each."""
        finished: Finished[M] = Finished()
        work: list[_Work[M]] = []
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
                outcome: Listed | NotDone = NotDone(_worst(failed)) if failed else Listed(len(item.membership.refs))
                finished.outcomes.append((item.members, outcome))
                continue
            if not failed:
                finished.listed += 1
                continue
            self._defer(item, failed, finished)
        return finished

    def _follow_up_work(self, follow_ups: Sequence[M], deadline: Deadline, finished: Finished[M]) -> list[_Work[M]]:
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
        work: list[_Work[M]] = []
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
        failed_phones: dict[int, dict[str, GatewayFailure]] = {}
        for change in changes_by_list(memberships, ids):
            failed = self._update(change, deadline)
            if change.list_id in managed:
                failed = {phone: _managed_gone(managed[change.list_id], f) for phone, f in failed.items()}
            failed_phones[change.list_id] = failed
        results: list[dict[str, GatewayFailure]] = []
        for member in memberships:
            failures: dict[str, GatewayFailure] = {}
            for ref in member.refs:
                key = list_key(ref)
                if key in unresolved:
                    failures[key] = unresolved[key]
                elif member.phone in failed_phones.get(ids[key], {}):
                    failures[key] = failed_phones[ids[key]][member.phone]
            results.append(failures)
        return results

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

    def _defer(self, item: _Work[M], failed: Mapping[str, GatewayFailure], finished: Finished[M]) -> None:
        """A stored contact's lists not written: a follow-up for those that may work later, a dead letter for those
        Heymarket refused for good."""
        later = {key: f for key, f in failed.items() if not isinstance(f, PermanentFailure)}
        refused = {key: f for key, f in failed.items() if isinstance(f, PermanentFailure)}
        last = item.members[-1]
        for group, is_later in ((later, True), (refused, False)):
            if not group:
                continue
            wanted = item.membership.only(ref for ref in item.membership.refs if list_key(ref) in group)
            failure = _worst(group)
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

    def queue(self, follow_ups: Sequence[FollowUp[M]]) -> list[tuple[tuple[M, ...], DeadLetter]]:
        """Put the follow-ups on the queue; the letters of those that could not be (to write to the DLQ instead)."""
        if not follow_ups:
            return []
        if self._follow_ups is None:
            return [(f.members, f.letter) for f in follow_ups]
        unsent = set(self._follow_ups.put_back([f.body for f in follow_ups]))
        if unsent:
            logger.error("Could not queue list write follow-ups; dead-lettering them", extra={"count": len(unsent)})
        return [(f.members, f.letter) for n, f in enumerate(follow_ups) if n in unsent]


class ListDirectory:
    """The ids of the lists the bridge manages, created once per stack and name whatever happens on the way.

    The managed-lists table holds one record per list (by folded name): its id once created, else who is creating it
    (a claim) and the generation of `local_id` in use. One consumer creates a list; the others wait for its record.
    Heymarket does not document what `POST /v2/lists` does with a `local_id` already used (answer the existing list,
    refuse it, or create a second list), nor is there an endpoint that lists lists, so:

    - a create whose answer is lost (no answer, a reset, a 5xx, an answer that cannot be read, or a consumer that
      died mid-way) is not repeated in the same invocation; the record keeps `maybe_sent`, and the next attempt sends
      it again with the SAME local_id: if Heymarket answers with the existing list, that list is used (one list); if
      it creates the list only now, the first never landed (one list); if it refuses the repeat, the first did land
      but its id cannot be read back: the bridge creates the list under the next local_id and logs the first, empty
      one (title and local_id) for you to delete; if it creates a second list for a repeated local_id, the first
      (empty) is never used either. Every consumer uses the one list the record names, whatever the case.
    - a create refused outright (its local_id used outside the bridge's record, or the title refused) is tried once
      under the next local_id; refused again, it is refused for good (dead-lettered with Heymarket's reason).
    - a list Heymarket answers 404 for, with its own error object (deleted in its app), is never created again on the
      bridge's own: its writes are dead-lettered, saying to give the list a new name (or an id) and redrive them. A
      404 without it (a proxy's page) says nothing of the list: a configuration failure, its writes wait.
    """

    def __init__(self, heymarket: SegmentsPort, claims: _Claims, stack: str) -> None:
        self._heymarket = heymarket
        self._claims = claims
        self._stack = stack
        self._ids: dict[str, int] = {}  # by table key, for this execution environment

    def list_id(self, name: str, deadline: Deadline) -> int | GatewayFailure:
        key = managed_list_key(name)
        if key in self._ids:
            return self._ids[key]
        try:
            found = self._ensure(key, name, deadline)
        except StoreUnavailable as exc:
            return TransientFailure(f"the managed-lists table could not be read or written: {exc}")
        if isinstance(found, int):
            self._ids[key] = found
        return found

    def _ensure(self, key: str, name: str, deadline: Deadline) -> int | GatewayFailure:
        claimed = self._claims.claim(key, name, deadline, ready=lambda record: True)
        if isinstance(claimed, int | GatewayFailure):
            return claimed
        return self._create(claimed, deadline, retry_refused=True)

    def _create(self, claimed: ManagedRecord, deadline: Deadline, *, retry_refused: bool) -> int | GatewayFailure:
        local_id = list_local_id(self._stack, claimed.name, claimed.generation)
        try:
            list_id = self._heymarket.create_list(claimed.name, local_id, deadline)
        except PermanentFailure as refused:
            return self._refused(claimed, refused, deadline, retry_refused=retry_refused)
        except TransientFailure as failure:
            self._claims.release(replace(claimed, maybe_sent=claimed.maybe_sent or failure.outcome_unknown))
            if failure.outcome_unknown:
                return TransientFailure(
                    f"creating the list {claimed.name!r} may have worked but its answer was lost ({failure.reason}); "
                    "it is asked again with the same local_id on the next attempt",
                    request_id=failure.request_id,
                )
            return failure
        except GatewayFailure as failure:
            self._claims.release(claimed)
            return failure
        if claimed.maybe_sent:
            logger.info(
                "A list create whose answer was lost was sent again with the same local_id",
                extra={"list": claimed.name, "local_id": local_id, "list_id": list_id},
            )
        if self._claims.release(replace(claimed, resource_id=list_id, maybe_sent=False, created_at=self._claims.now())):
            logger.info("Created a managed list in Heymarket", extra={"list": claimed.name, "list_id": list_id})
            return list_id
        # Another consumer took the claim over meanwhile (this one outlived CLAIM_TTL_S): its record decides.
        record = self._claims.read(claimed.key)
        if record is not None and record.resource_id is not None:
            logger.error(
                "Two consumers created the same managed list; the one its record names is used",
                extra={"list": claimed.name, "unused_list_id": list_id, "list_id": record.resource_id},
            )
            return record.resource_id
        return TransientFailure(f"the list {claimed.name!r} is being created by another consumer")

    def _refused(
        self, claimed: ManagedRecord, refused: PermanentFailure, deadline: Deadline, *, retry_refused: bool
    ) -> int | GatewayFailure:
        local_id = list_local_id(self._stack, claimed.name, claimed.generation)
        if not retry_refused:
            # Refused under two local_ids: the title (or the request) is what Heymarket refuses. Nothing was created
            # under this local_id, so the next attempt may use it again.
            self._claims.release(replace(claimed, generation=claimed.generation - 1, maybe_sent=False))
            reason = f"Heymarket refused to create the list {claimed.name!r}: {refused.reason}"
            return PermanentFailure(reason, request_id=refused.request_id)
        if claimed.maybe_sent:
            logger.error(
                "Heymarket refused a repeated local_id whose first create's answer was lost: that list exists, empty, "
                "and its id cannot be read back; the list is created under a new local_id (delete the empty one in "
                "Heymarket)",
                extra={"list": claimed.name, "unused_local_id": local_id},
            )
        following = replace(claimed, generation=claimed.generation + 1, maybe_sent=False)
        if not self._claims.write(following):
            return TransientFailure(f"the list {claimed.name!r} is being created by another consumer")
        return self._create(replace(following, version=following.version + 1), deadline, retry_refused=False)


class _Claims:
    """Records of the managed-lists table, written one consumer at a time (conditional writes, `version`)."""

    def __init__(
        self,
        store: ManagedStore,
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        new_token: Callable[[], str],
    ) -> None:
        self._store = store
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._token = new_token()  # this execution environment's

    def now(self) -> float:
        return self._wall_clock()

    def age(self, since: float) -> float:
        return self._wall_clock() - since

    def read(self, key: str) -> ManagedRecord | None:
        return self._store.get(key)

    def write(self, record: ManagedRecord) -> bool:
        """Write a record read (or claimed) at `record.version`; False when another write came first."""
        return self._store.put(record)

    def claim(
        self, key: str, name: str, deadline: Deadline, *, ready: Callable[[ManagedRecord], bool]
    ) -> ManagedRecord | int | GatewayFailure:
        """The resource's id if its record has one that is `ready`; else the record claimed by this consumer (at its
        new version) to create it; else, after waiting a few seconds for another consumer's claim, a failure.

        Taking over a stale claim sets `maybe_sent`: the consumer that held it may have sent its create."""
        for pause in (0.0, *CLAIM_WAITS_S):
            if pause:
                if deadline.remaining() <= pause:
                    break
                self._sleep(pause)
            record = self._store.get(key)
            if record is not None and record.claim is None and record.resource_id is not None and ready(record):
                return record.resource_id
            claimed_elsewhere = record is not None and record.claim is not None
            if claimed_elsewhere and record is not None and self.age(record.claimed_at) < CLAIM_TTL_S:
                continue
            base = record or ManagedRecord(key, name)
            claimed = replace(
                base,
                resource_id=None,
                claim=self._token,
                claimed_at=self._wall_clock(),
                maybe_sent=base.maybe_sent or claimed_elsewhere,
            )
            if self._store.put(claimed):
                return replace(claimed, version=claimed.version + 1)
        return TransientFailure(f"{name!r} is being created by another consumer; its contacts follow once it is")

    def release(self, record: ManagedRecord) -> bool:
        """Write a claimed record back without the claim; False when another consumer took the claim over."""
        try:
            return self._store.put(replace(record, claim=None))
        except StoreUnavailable:
            # The claim stays until it is stale (CLAIM_TTL_S); then `maybe_sent` makes the next creator ask again
            # with the same local_id, which is what a lost answer calls for anyway.
            logger.warning("Could not release a claim in the managed-lists table", extra={"key": record.key})
            return False


def _is_follow_up(operation: QueuedOperation) -> bool:
    return isinstance(operation, ContactOperation) and operation.op is Operation.LISTS


def _managed_gone(name: str, failure: GatewayFailure) -> GatewayFailure:
    """A managed list Heymarket answers 404 for is not created again: a list deleted in Heymarket's app was deleted on
    purpose, and a 404 Heymarket did not write is never read as one (adapters.heymarket.segments: a configuration
    failure), since creating the list again would split its contacts between two lists."""
    if not isinstance(failure, ListGone):
        return failure
    return ListGone(
        f"the list {name!r} that the bridge created no longer exists in Heymarket ({failure.reason}); the bridge does "
        "not create a list twice: give the list a new name (or the id of a list made in Heymarket), then redrive",
        request_id=failure.request_id,
    )


def _received_at(member: Carrier) -> str:
    return member.operation.received_at


def _worst(failures: Mapping[str, GatewayFailure]) -> GatewayFailure:
    """The failure that decides a message's fate: a configuration failure (it waits), else one that may pass, else a
    refusal; its reason names every list that failed."""
    ranked = sorted(
        failures.values(),
        key=lambda f: 0 if isinstance(f, ConfigurationFailure) else 1 if isinstance(f, TransientFailure) else 2,
    )
    first = ranked[0]
    reasons = list(dict.fromkeys(f.reason for f in ranked))
    reason = "writing the contact's lists failed: " + "; ".join(reasons)
    if isinstance(first, TransientFailure):
        return TransientFailure(
            reason, request_id=first.request_id, throttled=first.throttled, retry_after_s=first.retry_after_s
        )
    return type(first)(reason, request_id=first.request_id)


def _follow_up_operation(member: Carrier, wanted: Membership) -> ContactOperation:
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


def _list_letter(member: Carrier, operation: ContactOperation, failure: GatewayFailure) -> DeadLetter:
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
    )
