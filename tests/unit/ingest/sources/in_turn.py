"""Several deliveries through one ingest service, as a deployment sees them one after the other: its delivery ledger
(the sender's event id: a repeat answered as the first) and its record of each phone's newest contact, in memory.
For the second-wave sources' repeat and ordering tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heymarket_bridge.ingest.repeats import rank
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.settings import IngestSettings
from tests.doubles.queue import RecordingQueue
from tests.doubles.recent import FakeRecent
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import SIGNED_AT


@dataclass
class InMemoryLedger:
    """The delivery table: the first answer to each key, replayed for a repeat (heymarket_bridge.ingest.ports)."""

    answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        if key in self.answers:
            return self.answers[key], False
        self.answers[key] = work()
        return self.answers[key], True


@dataclass(frozen=True)
class Turns:
    statuses: list[int]
    replies: list[dict[str, Any]]
    messages: list[dict[str, Any]]  # every message queued, in order

    def ranks(self) -> list[int]:
        """Each queued operation's place among its phone's changes, as the sync side orders them."""
        return [rank(message.get("occurred_at"), message["received_at"]) for message in self.messages]


def deliver_in_turn(
    events: Sequence[Mapping[str, Any]], *, now: datetime = SIGNED_AT, mappings: Mapping[str, Any] | None = None
) -> Turns:
    """POST each event in turn to one service (one ledger, one record of recent contacts, one queue)."""
    from heymarket_bridge.domain.mapping import SourceMapping

    settings = IngestSettings(
        queue_url="https://queue",
        webhook_secrets_arn="arn:secret",
        mappings={name: SourceMapping.from_json(doc) for name, doc in (mappings or {}).items()},
    )
    queue = RecordingQueue()
    secrets = demo_webhook_secrets()
    service = IngestService(
        settings,
        lambda: secrets,
        queue,
        clock=lambda: now,
        deliveries=InMemoryLedger(),
        sources=default_sources(),
        recent=FakeRecent(),
    )
    replies = [service.handle(event) for event in events]
    return Turns(
        [reply.status for reply in replies],
        [json.loads(reply.body) for reply in replies],
        [json.loads(message.body) for message in queue.sent],
    )
