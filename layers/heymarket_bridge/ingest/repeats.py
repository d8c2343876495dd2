"""When a contact a sender posts again is a repeat, whatever the interleaving of concurrent deliveries. Pure.

The ingest side keeps, for each phone, the newest contact it knows of (`Latest`: its fingerprint and rank, the rank
the sync side orders a phone's operations by, heymarket_bridge.sync.state.rules.operation_rank). A contact is a repeat
only of the newest content known *and confirmed in the queue*, and a repeat moves that content's rank up to its own:
the sender sent that content last. Every change of the entry is a conditional write on the entry as read (its
`version`), and a contact is claimed as the newest before it is queued, so two deliveries never both believe they
are the newest, and a repeat is never decided on an entry that has changed since it was read.

Why each verdict keeps the change the sender sent last in place (the sync side applies a phone's highest rank):
- CLAIM: the newest known; it is queued and its rank is the highest.
- REPEAT: the same content is in the queue, and no other content ranked between the queued one and this repeat
  will be queued (SUPERSEDED below); not queued again.
- SUPERSEDED: older than a repeat of newer content, but newer than the queued copy of that content: queued, it would
  be applied over it. Not queued (the sync side skips an operation older than the newest applied the same way).
- QUEUE: older than the newest known, and not newer than its queued copy (or that one is not yet confirmed): queued
  as it is, the sync side's order puts it in its place.

An opt-out (`is_opted_out` true) is never a REPEAT nor SUPERSEDED: it is claimed (the newest) or queued as it is.
It is idempotent, and its repeat is how a sender re-asserts it after the person texted START in Heymarket (which the
bridge does not see), so it reaches Heymarket every time it is sent. It still claims the entry when it is the
newest, with the same conditional write, so the race guarantee above holds for it as for any change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum

from heymarket_bridge.domain.records import record

# As heymarket_bridge.sync.state.rules.RANK_SCALE: epoch milliseconds take 13 digits until the year 2286.
_RANK_SCALE = 10**13


@record
class Latest:
    """What the ingest side knows of a phone: the newest content's `fingerprint` (a SHA-256 hex digest; "" for a phone
    whose contact is being deleted), `rank` the highest rank that content was sent with, `queued_rank` the rank of
    its copy in the queue, `queued` whether that copy is confirmed in the queue, `version` the token the entry was
    written with (for conditional writes; "" for an entry of an older format), and `fresh` whether it was written
    within the repeat window (a sender's retry burst): only then is the same content a repeat. The ranks are kept
    for as long as a sender may deliver an older change late (its retry window), so that such a change is never
    applied over a newer one repeated meanwhile."""

    fingerprint: str
    rank: int
    queued_rank: int
    queued: bool
    version: str
    fresh: bool = True


class RepeatVerdict(Enum):
    CLAIM = "claim"  # the newest content known: claim the entry, queue it, confirm it
    REPEAT = "repeat"  # the newest content, already queued: not queued again (the entry's rank moves up to this one)
    SUPERSEDED = "superseded"  # older than a repeat of newer content: not queued
    QUEUE = "queue"  # older than the newest known: queued as it is, the entry left alone


def judge(latest: Latest | None, fingerprint: str, rank: int, *, opt_out: bool = False) -> RepeatVerdict:
    """What to do with a contact (`fingerprint`, `rank`; `opt_out` when it carries `is_opted_out` true) given what is
    known of its phone (None: nothing within the window)."""
    if latest is None:
        return RepeatVerdict.CLAIM
    if opt_out:
        return RepeatVerdict.CLAIM if rank >= latest.rank else RepeatVerdict.QUEUE
    if latest.queued and latest.fresh and fingerprint == latest.fingerprint:
        return RepeatVerdict.REPEAT
    if rank >= latest.rank:
        return RepeatVerdict.CLAIM
    if latest.queued and rank > latest.queued_rank:
        return RepeatVerdict.SUPERSEDED
    return RepeatVerdict.QUEUE


@record
class PhoneClaim:
    """A write of a phone's entry, conditional on the entry being still `as_read`: `fingerprint` at `rank` as the
    newest content, not yet confirmed queued; or, for a `repeat`, only the newest content's rank moved up to `rank`."""

    phone: str
    as_read: Latest | None
    fingerprint: str
    rank: int
    repeat: bool = False


def rank(occurred_at: str | None, received_at: str) -> int:
    """An operation's place among its phone's changes, as the sync side orders them
    (heymarket_bridge.sync.state.rules.operation_rank, the same number), from its two times as the ingest side writes
    them (ISO 8601): the source's event time (never later than the receipt), then the receipt. Computed here so
    that the ingest function does not load the contact state module."""
    received = _epoch_ms(received_at)
    occurred = _epoch_ms(occurred_at) if occurred_at else None
    moment = (received or occurred or 0) if occurred is None or received is None else min(occurred, received)
    return moment * _RANK_SCALE + (received or 0)


def _epoch_ms(text: str | None) -> int | None:
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
