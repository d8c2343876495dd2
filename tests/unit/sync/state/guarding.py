"""What the contact state guard's tests share: a harness with a contact state, and readers of what Heymarket got."""

from __future__ import annotations

from typing import Any

from heymarket_bridge.sync.model import SyncReport
from heymarket_bridge.sync.settle import Backoff
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


# A queue with no time left to keep a message: a contact that meets Heymarket down on its last receive is
# dead-lettered rather than put back to wait out the outage.
NO_TIME_TO_WAIT = Backoff(expiry_margin_s=345_600)


def at(second: int) -> str:
    return f"2026-11-23T09:00:{second:02d}.000+00:00"


def stateful(**options: Any) -> Harness:
    return Harness(state=InMemoryContactState(), **options)


def held(h: Harness, phone: str = ANN) -> list[dict[str, Any]]:
    return [contact.fields for contact in h.heymarket.holding(phone)]


def bulk_items(h: Harness) -> list[dict[str, Any]]:
    return [item for route, data in h.heymarket.log if route == CONTACTS for item in data["contacts"]]


def settled(report: SyncReport) -> tuple[list[str], int, int]:
    return report.failed_message_ids, report.superseded_operations, report.unchanged_skipped


WARM = "15105559999"


def learned(h: Harness) -> None:
    """Let the instance learn what Heymarket's updates do with what they leave out, on a contact of its own: its
    first update after a look-up leaves a field out (the probe), and the answer shows whether it was kept."""
    h.process(upsert(WARM, received_at=at(0), first="Warm", email="warm@example.com"))
    h.process(upsert(WARM, received_at=at(1), last="Up"))
    # (answers without UUIDs: the first update is a v1 write, whose answer gives the UUID the probe needs)
    h.process(upsert(WARM, received_at=at(2), first="Warmer"))
    h.heymarket.log.clear()
