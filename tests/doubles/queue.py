"""The SQS queue the ingest side sends to, in memory: stands in for heymarket_bridge.ingest.ports.MessageQueue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from heymarket_bridge.ingest.ports import OutgoingMessage


@dataclass
class RecordingQueue:
    sent: list[OutgoingMessage] = field(default_factory=list)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        self.sent.extend(messages)
        return []
