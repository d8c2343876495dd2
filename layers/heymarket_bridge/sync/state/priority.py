"""No operation starved by an older one: a newer operation that meets another invocation's lease records that it
waits to go next (`Wait`), and older operations coming back meanwhile give way to it. Pure: no I/O.

Why: after a request whose outcome is unknown (a 5xx, a reset, no answer in time) the lease is kept a while longer, the
lease margin, so that no newer write lands before the older one could (`outcome.releases_of`). An older operation that
Heymarket keeps refusing so (503 with Retry-After, each receive a write of unknown outcome) would take the lease again
at each receive, and a newer one, meeting it every time, would wait for ever: an erasure request held back by an
older change. With the mark, the newer one is applied once the margin has passed; the older one, back meanwhile,
waits, and once the newer one is applied it is skipped as superseded (`rules.superseded`), so no older value lands
after the newer one. The mark lasts `WAIT_PRIORITY_MS`, longer than SQS takes to deliver a message again
(ContactQueue's visibility timeout, 390 s): should the newer operation never come back (dead-lettered), the older
ones go on afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from heymarket_bridge.sync.model import ContactState, Member, Wait
from heymarket_bridge.sync.state.rules import operation_phone, operation_rank

# How long older operations give way to a newer one waiting on a lease (see the module docstring).
WAIT_PRIORITY_MS: Final = 15 * 60 * 1000
YIELDS: Final = "a newer operation on this contact waits to go first; tried again later"


def gives_way(member: Member, entries: Mapping[str, ContactState | None], now_ms: int) -> bool:
    """Whether the member's operation gives way to a newer one waiting to go next on its contact (never when forced:
    an operator's redrive)."""
    phone = operation_phone(member.operation)
    entry = entries.get(phone) if phone is not None else None
    if entry is None or member.operation.force:
        return False
    return entry.yields_to_waiting(operation_rank(member.operation), now_ms)


def waits_to_record(
    members: Sequence[Member],
    phones: Sequence[str],
    entries: Mapping[str, ContactState | None],
    token: str,
    now_ms: int,
) -> list[Wait]:
    """The marks to write for a lane that met another invocation's live lease: on each phone leased to another, the
    lane's newest rank, unless the entry records it (or a newer one) waiting already, or applied."""
    rank = max(operation_rank(m.operation) for m in members)
    waits: list[Wait] = []
    for phone in phones:
        entry = entries.get(phone)
        if entry is None or not entry.leased_to_another(token, now_ms) or rank <= entry.applied_ms:
            continue
        if rank <= entry.waiting_rank and entry.waiting_until_ms > now_ms:
            continue
        waits.append(Wait(phone, entry, rank, now_ms + WAIT_PRIORITY_MS))
    return waits
