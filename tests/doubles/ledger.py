"""The delivery ledger in memory: stands in for heymarket_bridge.ingest.ports.DeliveryLedger."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heymarket_bridge.ingest.failures import DeliveryKeyConflict


@dataclass
class MemoryLedger:
    """Runs a delivery's work once per key; the same key with other content is a conflict."""

    done: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        if key in self.done:
            first_content, answer = self.done[key]
            if first_content != content:
                raise DeliveryKeyConflict(key)
            return answer, False
        answer = work()
        self.done[key] = (content, answer)
        return answer, True
