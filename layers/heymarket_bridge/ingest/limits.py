"""Bounds on what the bridge takes in: contacts per minute per source and per scoped token, and the queue's depth.

`IntakeGate.admit` runs once per webhook, after it is authenticated and read (so an unauthenticated flood costs a
401 and nothing else) and before anything is queued (so nothing accepted is ever lost: a refused delivery is all
refused, and its sender retries it):

1. **Load shed**: when the contact queue already holds more messages than the sync side can drain before the queue's
   retention ends, a 429: a contact taken now would expire unsent. The drainable amount is Heymarket's rate limit
   (requests per minute) x contacts per request (HeymarketMaxBatch) x the queue's retention in minutes x a margin
   (LoadShedMargin, for the requests that are not upserts: searches, lists, retries). The depth is SQS's
   ApproximateNumberOfMessages, read at most every `depth_max_age_s` per execution environment.
2. **A scoped token's cap** (heymarket_bridge.ingest.scopes), then **the source's limit** (SourceContactsPerMinute):
   a counter per key per minute window, shared by every execution (`Counters`, a DynamoDB item with a TTL, one
   conditional UpdateItem each). Beyond it a 429 whose `Retry-After` is the seconds to the next window. A delivery
   that holds more contacts than the limit itself can never fit: a 413 naming the limit, not a retry forever.

**Counted locally, up to a share.** With the ingest function's reserved concurrency E known (`executions`), each
execution environment admits a limit's contacts on its own count, without a write, while its count not yet written
for that key and minute stays within a share of the limit, `limit // (10 x E)`; the delivery that would pass its
share is counted in the shared counter with the share's contacts, as one conditional write. So at most E x share
contacts are admitted that the shared counter has not seen: a source gets at most its limit plus a tenth of it in a
minute (the bound), and a refusal can come at most a tenth early. A share of 0 (a limit under 10 x E, a scoped
token's cap of 60, or no reserved concurrency) counts every delivery in the shared counter, exactly, as before. At
the defaults (30,000 a minute, E = 50) the share is 60: a source sending fewer than 60 contacts a minute to one
execution writes no counter at all (1 write request unit a webhook saved), and a flood writes one per 61 contacts.
A count not written when its minute ends is dropped with it.

A counter or a depth that cannot be read admits the delivery (logged): the limits bound abuse, they must not stop
every sender when DynamoDB or SQS has a bad minute. A refusal by the second counter leaves the first one's count
(at most one delivery's contacts counted for nothing, until the window ends).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import field
from datetime import datetime

from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.failures import (
    CountersUnavailable,
    PayloadTooLarge,
    QueueDepthUnavailable,
    TooManyRequests,
)
from heymarket_bridge.ingest.ports import Counters, QueueDepth
from heymarket_bridge.observability import emit_metric, logger

WINDOW_S = 60
# The bound on what the local counts may admit beyond a limit: 1/10 of it, whatever the number of executions.
LOCAL_SHARE_DIVISOR = 10


@record
class IntakeLimits:
    """The limits, from the settings: contacts per minute by source (`default_per_minute` for the others), and the
    most messages the queue may hold before new deliveries are shed (0: never shed)."""

    default_per_minute: int = 6000
    per_source: Mapping[str, int] = field(default_factory=dict)
    shed_above: int = 0
    depth_max_age_s: float = 10.0
    executions: int = 0

    def of(self, source: str) -> int:
        return self.per_source.get(source, self.default_per_minute)

    def share(self, limit: int) -> int:
        """Contacts of `limit` an execution may admit on its own count (0: every delivery in the shared counter)."""
        return limit // (LOCAL_SHARE_DIVISOR * self.executions) if self.executions > 0 else 0


def drainable(rate_per_minute: int, contacts_per_request: int, retention_s: int, margin: float) -> int:
    """Contacts the sync side can send within the queue's retention: requests per minute x contacts per request x
    retention in minutes x margin (0 to 1)."""
    return int(rate_per_minute * contacts_per_request * (retention_s / 60) * margin)


class CachedDepth:
    """The queue's depth, read at most every `max_age_s` seconds (per execution environment)."""

    def __init__(self, read: QueueDepth, max_age_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._read, self._max_age_s, self._monotonic = read, max_age_s, monotonic
        self._value: int | None = None
        self._read_at = float("-inf")

    def __call__(self) -> int:
        now = self._monotonic()
        if self._value is None or now - self._read_at >= self._max_age_s:
            self._value, self._read_at = self._read(), now
        return self._value


class IntakeGate:
    """Admits a delivery's contacts or refuses them (429 or 413); see the module's docstring."""

    def __init__(self, limits: IntakeLimits, counters: Counters | None = None, depth: QueueDepth | None = None) -> None:
        self._limits = limits
        self._counters = counters
        self._depth = CachedDepth(depth, limits.depth_max_age_s) if depth and limits.shed_above else None
        self._unwritten: dict[str, tuple[int, int]] = {}  # key -> (window, contacts admitted but not yet written)

    def admit(self, source: str, contacts: int, now: datetime, token: tuple[str, int] | None = None) -> None:
        """Admit `contacts` contacts from `source` at `now`; `token`: the scoped token's (token_id, cap), if any.
        Raises TooManyRequests (429, with retry_after_s) or PayloadTooLarge (413)."""
        if contacts <= 0:
            return
        self._shed(source, now)
        if self._counters is None:
            return
        if token is not None:
            token_id, cap = token
            self._count(f"rate\ntoken\n{source}\n{token_id}", "this token's contacts_per_minute", cap, contacts, now)
        limit = self._limits.of(source)
        self._count(f"rate\nsource\n{source}", f"the contacts per minute of source {source!r}", limit, contacts, now)

    def _shed(self, source: str, now: datetime) -> None:
        if self._depth is None:
            return
        try:
            depth = self._depth()
        except QueueDepthUnavailable as exc:
            logger.warning("Queue depth unreadable; the delivery is admitted", extra={"error": str(exc)})
            return
        if depth > self._limits.shed_above:
            emit_metric("WebhooksShed", source=source)
            raise TooManyRequests(
                f"the queue holds {depth} contacts, more than the bridge can send to Heymarket before they expire "
                f"(limit {self._limits.shed_above}); retry later",
                {"limit": "queue_depth", "retry_after_s": 300},
            )

    def _count(self, key: str, what: str, limit: int, contacts: int, now: datetime) -> None:
        assert self._counters is not None
        if contacts > limit:
            raise PayloadTooLarge(
                f"the request holds {contacts} contacts; {what} is {limit}: send at most {limit} per request",
                {"limit": what},
            )
        epoch = int(now.timestamp())
        window = epoch // WINDOW_S
        retry_after = (window + 1) * WINDOW_S - epoch
        held_window, held = self._unwritten.get(key, (window, 0))
        held = held if held_window == window else 0  # a past minute's count is over with it
        if held + contacts <= self._limits.share(limit):
            self._unwritten[key] = (window, held + contacts)
            return
        try:
            added = self._counters.add(f"{key}\n{window}", held + contacts, limit, (window + 2) * WINDOW_S)
        except CountersUnavailable as exc:
            logger.warning("Contact counters unreachable; the delivery is admitted", extra={"error": str(exc)})
            return
        if added:
            self._unwritten.pop(key, None)
        else:
            emit_metric("WebhooksThrottled", source=key.split("\n")[2])
            raise TooManyRequests(
                f"{what} is {limit}; retry in {retry_after} s", {"limit": what, "retry_after_s": max(retry_after, 1)}
            )
