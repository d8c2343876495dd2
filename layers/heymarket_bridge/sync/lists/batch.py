"""What a batch's tags-by-name and lists steps hand on (`Prepared`, `FollowUp`, `Finished`), and `DeferredSegmenter`:
the steps of heymarket_bridge.sync.lists.steps, imported and built on the first batch that has list or tag work.

Why: a batch of plain upserts (no contact naming a tag or a list, no list-write follow-up) needs none of the lists
steps, their list directory, the Heymarket tags and lists adapter or the managed-lists table; deferring them keeps
those modules out of the sync function's cold start (issue 27: about 15 ms of `python -X importtime` self time on
python3.13, docs/performance.md). For such a batch the deferred steps answer exactly as `Segmenter` would: every
member handed on, no tag lookup, nothing to write, no follow-up, no contact to send again. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation
from heymarket_bridge.domain.records import record
from heymarket_bridge.sync.model import Listed, Member, NotDone

if TYPE_CHECKING:  # for type checks only: the lists steps are what this module defers
    from heymarket_bridge.domain.contact import Contact
    from heymarket_bridge.domain.failures import Deadline, GatewayFailure
    from heymarket_bridge.sync.lists.rules import TagLookup


@record
class Prepared:
    """A batch ready to plan: its contact operations, its list-write follow-ups, and what its tag names resolve to."""

    members: list[Member]
    follow_ups: list[Member]
    tags: TagLookup | GatewayFailure | None


@record
class FollowUp:
    """List writes to try again later, for the stored contact of `members`: `body` goes on the queue, or `letter`
    to the DLQ if it cannot."""

    members: tuple[Member, ...]
    body: str
    letter: DeadLetter


@dataclass
class Finished:
    """What the list writes of a batch came to."""

    outcomes: list[tuple[tuple[Member, ...], Listed | NotDone]] = field(default_factory=list)  # of the follow-ups
    follow_ups: list[FollowUp] = field(default_factory=list)
    letters: list[tuple[tuple[Member, ...], DeadLetter]] = field(default_factory=list)  # refused list writes
    listed: int = 0  # stored contacts whose lists were all written


class Segments(Protocol):
    """Tags by name and lists around a batch's contact writes: `steps.Segmenter`, or `DeferredSegmenter`, which
    makes one on the first batch that needs it (heymarket_bridge.sync.service calls these four, in this order)."""

    def prepare(self, members: Sequence[Member], deadline: Deadline) -> Prepared: ...

    def finish(
        self, prepared: Prepared, stored: Sequence[tuple[tuple[Member, ...], Contact, bool | None]], deadline: Deadline
    ) -> Finished: ...

    def retag(
        self, refused: Sequence[tuple[Contact, Sequence[Contact]]], deadline: Deadline
    ) -> list[Contact | GatewayFailure | None]: ...

    def queue(self, follow_ups: Sequence[FollowUp]) -> list[tuple[tuple[Member, ...], DeadLetter]]: ...


def has_list_work(members: Sequence[Member]) -> bool:
    """Whether any member may need the lists steps: a list-write follow-up (op LISTS), or a contact giving tags or
    lists (even an empty tuple: erring towards the real steps never changes an answer, only when they load)."""
    return any(
        isinstance(m.operation, ContactOperation)
        and (m.operation.op is Operation.LISTS or m.operation.contact.tags is not None or m.operation.contact.lists)
        for m in members
    )


class DeferredSegmenter:
    """The lists steps of one execution environment (a `steps.Segmenter`), made by `build` on the first batch with
    list or tag work (`has_list_work`), then kept and used for every later batch, whatever it holds."""

    def __init__(self, build: Callable[[], Segments]) -> None:
        self._build = build
        self.built: Segments | None = None

    def prepare(self, members: Sequence[Member], deadline: Deadline) -> Prepared:
        """Segmenter.prepare; for a batch without list or tag work before the steps were needed: all members, no
        follow-up, no tag lookup."""
        if self.built is None and has_list_work(members):
            self.built = self._build()
        if self.built is None:
            return Prepared(list(members), [], None)
        return self.built.prepare(members, deadline)

    def finish(
        self,
        prepared: Prepared,
        stored: Sequence[tuple[tuple[Member, ...], Contact, bool | None]],
        deadline: Deadline,
    ) -> Finished:
        """Segmenter.finish; nothing written when the steps were never needed (no stored contact names a list)."""
        return Finished() if self.built is None else self.built.finish(prepared, stored, deadline)

    def retag(
        self, refused: Sequence[tuple[Contact, Sequence[Contact]]], deadline: Deadline
    ) -> list[Contact | GatewayFailure | None]:
        """Segmenter.retag; every refusal stands when the steps were never needed (no contact gave tag names)."""
        return [None] * len(refused) if self.built is None else self.built.retag(refused, deadline)

    def queue(self, follow_ups: Sequence[FollowUp]) -> list[tuple[tuple[Member, ...], DeadLetter]]:
        """Segmenter.queue (no follow-up can exist before the steps were needed)."""
        return [] if self.built is None else self.built.queue(follow_ups)
