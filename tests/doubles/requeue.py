"""The queue a message body is put back on, in memory: stands in for heymarket_bridge.sync.ports.Requeue."""

from __future__ import annotations

from collections.abc import Sequence


class FakeRequeue:
    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.delays: list[int | None] = []  # each body's delay, None: the queue's put-back delay

    def put_back(self, bodies: Sequence[str], delays_s: Sequence[int | None] = ()) -> list[int]:
        self.bodies.extend(bodies)
        self.delays.extend(list(delays_s) or [None] * len(bodies))
        return []
