"""The queue a message body is put back on, in memory: stands in for heymarket_bridge.sync.ports.Requeue."""

from __future__ import annotations

from collections.abc import Sequence


class FakeRequeue:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def put_back(self, bodies: Sequence[str]) -> list[int]:
        self.bodies.extend(bodies)
        return []
