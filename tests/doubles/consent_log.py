"""An in-memory consent record (heymarket_bridge.sync.ports.ConsentLog)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from heymarket_bridge.domain.consent import ConsentChange
from heymarket_bridge.domain.failures import ConsentRecordUnavailable


@dataclass
class MemoryConsentLog:
    changes: list[ConsentChange] = field(default_factory=list)
    broken: bool = False

    def record(self, changes: Sequence[ConsentChange]) -> int:
        if self.broken:
            raise ConsentRecordUnavailable("ResourceNotFoundException")
        self.changes.extend(changes)
        return len(changes)
