"""Segmenting contacts: tags given by name, and Heymarket lists. The rules. Pure: no I/O (the values are
heymarket_bridge.sync.model's, the ports `SegmentsPort` and `ManagedStore` heymarket_bridge.sync.ports').

Facts relied on (shared/HEYMARKET_API.md, "Tags and lists"): `POST /v1/tags` lists a team's tags 30 at a time, newest
first (`{"date": <updated of the last one>}` for the next page); `POST /v1/tag` creates one; a contact holds at most 5
tags, written as ids. `POST /v2/lists` creates a list with a `local_id` of the caller's (what it does with a local_id
already used is NOT documented); `PUT /v2/lists/{id}` adds and removes members by phone (`add_phones`,
`remove_phones`; an unknown phone becomes a new contact). No endpoint lists the lists.

The rules:
- A tag is given by id (an integer) or by name (any other text). Names are matched with the team's tags: exactly, or
  else ignoring case and runs of spaces when that names one tag only. Two tags spelled exactly alike: the oldest
  (lowest id). A contact's tags are one field, at most 5: the latest message that gives tags decides them all, and a
  source's constant tags apply only when the submission gives none (heymarket_bridge.domain.mapping), so merging
  messages
  never makes more than 5. Only the tags sent are looked up and judged: an older message's, replaced, cost nothing.
- A list is given by id (a list made in Heymarket's app) or by name (a list the bridge manages: created once, with a
  `local_id` made of the stack and the name, its id remembered in the managed-lists table).
- Lists are written once the contact is stored, from its final state: a contact that ends opted out (as sent, or as
  Heymarket's answer shows it) is taken off every list its messages name when `remove_opted_out` (the default);
  any other contact is put on them. One `PUT /v2/lists/{id}` per list per chunk of phones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field, replace

from heymarket_bridge.domain.contact import MAX_TAGS, Contact
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
    reworded,
)
from heymarket_bridge.domain.operations import ContactOperation, QueuedOperation
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import fold_name
from heymarket_bridge.sync.failures import ListGone
from heymarket_bridge.sync.lanes import plan_lanes
from heymarket_bridge.sync.model import ListChange, ListRef, Tag

# ------------------------------------------------------------------------------------------------ tags


@record
class Ambiguous:
    """A name that matches several tags once case and spaces are ignored, none of them exactly."""

    names: tuple[str, ...]


class TagIndex:
    """Tag ids by name: an exact name first (the oldest tag of that spelling), else one that differs only in case and
    spacing when a single tag has it."""

    def __init__(self, tags: Iterable[Tag]) -> None:
        self._tags = tuple(sorted(tags, key=lambda tag: tag.id))
        self._exact: dict[str, int] = {}
        self._folded: dict[str, dict[int, str]] = {}
        for tag in self._tags:
            self._exact.setdefault(tag.name, tag.id)
            self._folded.setdefault(fold_name(tag.name), {})[tag.id] = tag.name

    def __len__(self) -> int:
        return len(self._tags)

    def lookup(self, name: str) -> int | Ambiguous | None:
        if name in self._exact:
            return self._exact[name]
        matches = self._folded.get(fold_name(name), {})
        if len(matches) > 1:
            return Ambiguous(tuple(dict.fromkeys(matches.values())))
        return next(iter(matches), None)

    def unknown(self, names: Iterable[str]) -> list[str]:
        """The names that match no tag (an ambiguous name matches some)."""
        return [name for name in names if self.lookup(name) is None]

    def with_tag(self, tag: Tag) -> TagIndex:
        """This index and one more tag (one the bridge just created)."""
        return TagIndex((*self._tags, tag))


@record
class TagLookup:
    """What the sync side knows of tag names for one batch: the team's tags, and the names (folded) it tried to
    create and could not."""

    index: TagIndex
    failed: Mapping[str, GatewayFailure] = field(default_factory=dict)


def without_superseded_tags(contacts: Sequence[Contact]) -> list[Contact]:
    """Messages merged into one contact (in received order), the tags of each but the latest that gives tags left
    out: the merge sends only those (the latest decides), so only those are resolved and judged, and an older
    message's tag name, unknown or not, costs nothing."""
    latest = next((n for n in range(len(contacts) - 1, -1, -1) if contacts[n].tags is not None), None)
    return [
        contact if n == latest or contact.tags is None else replace(contact, tags=None)
        for n, contact in enumerate(contacts)
    ]


def contacts_sent(operations: Sequence[QueuedOperation]) -> list[Contact]:
    """The contacts of a batch's upserts (in received order) as they will be merged and sent: per lane of operations
    on one contact (heymarket_bridge.sync.lanes), the upserts after its last delete, without superseded tags."""
    sent: list[Contact] = []
    for lane in plan_lanes(operations):
        upserts = [operations[n] for n in lane.upserts]
        sent += without_superseded_tags([op.contact for op in upserts if isinstance(op, ContactOperation)])
    return sent


def tag_names_in(contacts: Iterable[Contact]) -> list[str]:
    """Every tag name the contacts give, once each (by folded name), in order."""
    names: dict[str, str] = {}
    for contact in contacts:
        for name in contact.tag_names():
            names.setdefault(fold_name(name), name)
    return list(names.values())


def resolve_tags(contacts: list[Contact], tags: TagLookup | GatewayFailure | None) -> list[Contact] | GatewayFailure:
    """The contacts with their tag names replaced by ids; or the failure that makes them wait or refused. The
    contacts are those that will be sent (for messages merged into one, see `without_superseded_tags`).

    A name that matches no tag is refused for good (PermanentFailure naming it): retrying cannot make the tag exist.
    """
    names = tag_names_in(contacts)
    if not names:
        return contacts
    if tags is None or isinstance(tags, GatewayFailure):
        failure = tags or TransientFailure("the tags were not read")
        return reworded(failure, f"reading Heymarket's tags failed: {failure.reason}")
    for name in names:
        if fold_name(name) in tags.failed:
            failure = tags.failed[fold_name(name)]
            return reworded(failure, f"creating the tag {name!r} failed: {failure.reason}")
    unknown = tags.index.unknown(names)
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        return PermanentFailure(
            f"tag {listed} is not a tag of this Heymarket account (create it in Heymarket, give the tag's id, or set "
            "CreateMissingTags to true to let the bridge create it)"
        )
    for name in names:
        found = tags.index.lookup(name)
        if isinstance(found, Ambiguous):
            spellings = ", ".join(repr(spelling) for spelling in found.names)
            return PermanentFailure(
                f"tag {name!r} matches several tags ({spellings}): write it exactly as Heymarket spells it"
            )
    return [_with_tag_ids(contact, tags.index) for contact in contacts]


def _with_tag_ids(contact: Contact, index: TagIndex) -> Contact:
    if not contact.tag_names():
        return contact
    ids: list[int] = []
    for tag in contact.tags or ():
        found = tag if isinstance(tag, int) else index.lookup(tag)
        assert isinstance(found, int)  # resolve_tags checked every name
        if found not in ids:
            ids.append(found)
    assert len(ids) <= MAX_TAGS  # at most as many as the contact gave
    return Contact.from_dict({**contact.to_dict(), "tags": ids})


# ------------------------------------------------------------------------------------------------ lists


def list_key(ref: ListRef) -> str:
    """What identifies a list across spellings: 'id:<n>', or 'name:<folded name>' for a managed list."""
    return f"id:{ref}" if isinstance(ref, int) else f"name:{fold_name(ref)}"


def managed_list_key(name: str) -> str:
    """The managed-lists table key of a list the bridge manages."""
    return f"list:{fold_name(name)}"


def managed_tag_key(name: str) -> str:
    """The managed-lists table key of a tag the bridge creates (its creation is claimed there, like a list's)."""
    return f"tag:{fold_name(name)}"


def list_local_id(stack: str, name: str, generation: int = 1) -> str:
    """The `local_id` of a managed list: the stack, and a digest of the name as compared (so any spelling gives the
    same one, and any length of name fits), with the generation from the second on (see ListDirectory)."""
    digest = hashlib.sha256(fold_name(name).encode()).hexdigest()[:20]
    base = f"heymarket-bridge:{stack}:{digest}"
    return base if generation == 1 else f"{base}:{generation}"


@record
class Membership:
    """What to do with one stored contact's list membership: put its phone on `add`, take it off `remove`."""

    phone: str
    add: tuple[ListRef, ...] = ()
    remove: tuple[ListRef, ...] = ()

    @property
    def refs(self) -> tuple[ListRef, ...]:
        return (*self.add, *self.remove)

    def only(self, refs: Iterable[ListRef]) -> Membership:
        """The same, limited to `refs`."""
        keep = {list_key(ref) for ref in refs}
        return Membership(
            self.phone,
            tuple(ref for ref in self.add if list_key(ref) in keep),
            tuple(ref for ref in self.remove if list_key(ref) in keep),
        )


def lists_of(contacts: Iterable[Contact]) -> tuple[ListRef, ...]:
    """Every list the contacts name, once each (a name once whatever its spelling), in order."""
    refs: dict[str, ListRef] = {}
    for contact in contacts:
        for ref in contact.lists or ():
            refs.setdefault(list_key(ref), ref)
    return tuple(refs.values())


def membership(
    phone: str, contacts: Sequence[Contact], opted_out: bool | None, *, remove_opted_out: bool
) -> Membership | None:
    """Where a stored contact goes, from the messages merged into it (in received order) and whether it ended opted
    out (`opted_out`: as Heymarket's answer shows it; None when the answer does not say, then as sent). None: no
    list to write."""
    refs = lists_of(contacts)
    if not refs:
        return None
    if opted_out is None:
        opted_out = next((c.is_opted_out for c in reversed(contacts) if c.is_opted_out is not None), False)
    if opted_out and remove_opted_out:
        return Membership(phone, remove=refs)
    return Membership(phone, add=refs)


def changes_by_list(memberships: Sequence[Membership], ids: Mapping[str, int]) -> list[ListChange]:
    """The changes to make to each list (by id), from memberships in received order: for each list and phone the
    latest membership decides, so no phone is both added and removed in one request. `ids` gives the id of each
    list by `list_key`; memberships of lists without an id are left out."""
    actions: dict[int, dict[str, bool]] = {}
    for member in memberships:
        for adding, refs in ((True, member.add), (False, member.remove)):
            for ref in refs:
                list_id = ids.get(list_key(ref))
                if list_id is not None:
                    phones = actions.setdefault(list_id, {})
                    phones.pop(member.phone, None)  # the latest decides, and goes last
                    phones[member.phone] = adding
    return [
        ListChange(
            list_id,
            tuple(phone for phone, adding in phones.items() if adding),
            tuple(phone for phone, adding in phones.items() if not adding),
        )
        for list_id, phones in actions.items()
    ]


def managed_list_gone(name: str, failure: GatewayFailure) -> GatewayFailure:
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


def deciding_failure(failures: Mapping[str, GatewayFailure]) -> GatewayFailure:
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
