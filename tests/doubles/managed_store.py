"""The managed-lists table in memory, with DynamoDB's conditional-write semantics (tests/unit/adapters/aws/
test_managed_lists.py runs the same contract over it and over the DynamoDB adapter on moto, so the two cannot drift
apart)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace

from heymarket_bridge.sync.failures import StoreUnavailable
from heymarket_bridge.sync.model import ManagedRecord


@dataclass
class MemoryManagedStore:
    records: dict[str, ManagedRecord] = field(default_factory=dict)
    unavailable: bool = False
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> ManagedRecord | None:
        if self.unavailable:
            raise StoreUnavailable("ServiceUnavailable")
        with self._lock:
            return self.records.get(key)

    def put(self, record: ManagedRecord) -> bool:
        if self.unavailable:
            raise StoreUnavailable("ServiceUnavailable")
        with self._lock:
            stored = self.records.get(record.key)
            if (stored.version if stored else 0) != record.version:
                return False
            self.records[record.key] = replace(record, version=record.version + 1)
            self.writes += 1
            return True
