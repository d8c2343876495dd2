"""A clock the test moves: stands in for `time.monotonic` and `time.sleep` wherever a class takes a clock."""

from __future__ import annotations


class FakeClock:
    """A monotonic clock in seconds (`now`) that `sleep` moves forward at once; it starts at `now`."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
