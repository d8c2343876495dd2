"""The ingest limits' shared counters in memory (heymarket_bridge.ingest.ports.Counters), with the DynamoDB
adapter's contract (tests/unit/adapters/aws/test_counters.py): a conditional add."""

from __future__ import annotations


class MemoryCounters:
    """The DynamoDB counters' contract in memory: a conditional add."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}
        self.expiries: dict[str, int] = {}

    def add(self, key: str, count: int, limit: int, expires_at: int) -> bool:
        if self.values.get(key, 0) + count > limit:
            return False
        self.values[key] = self.values.get(key, 0) + count
        self.expiries[key] = expires_at
        return True
