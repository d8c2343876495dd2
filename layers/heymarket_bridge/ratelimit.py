"""A token bucket that keeps one consumer within its share of Heymarket's request budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Float arithmetic can leave the bucket a hair under a whole token after sleeping exactly the computed
# wait; without this tolerance acquire() could spin on ever tinier sleeps.
_EPSILON = 1e-9


class RequestBudget:
    """Allows `per_minute` requests a minute, with bursts of at most `burst`."""

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._rate_per_s = per_minute / 60.0
        # A burst of a few seconds' worth of requests: small enough that two consumers starting at
        # once cannot exceed the per-minute limit between them.
        self._capacity = burst if burst is not None else max(1.0, min(10.0, self._rate_per_s * 2))
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    def wait_time(self) -> float:
        """Seconds until a request may go, without taking a token."""
        with self._lock:
            self._refill()
            return 0.0 if self._tokens >= 1 - _EPSILON else (1 - self._tokens) / self._rate_per_s

    def acquire(self, deadline: float) -> bool:
        """Take one token, sleeping as needed; False (and nothing taken) if that would pass `deadline`."""
        while True:
            with self._lock:
                self._refill()
                if self._tokens >= 1 - _EPSILON:
                    self._tokens = max(0.0, self._tokens - 1)
                    return True
                wait = (1 - self._tokens) / self._rate_per_s
            if self._clock() + wait > deadline:
                return False
            self._sleep(wait)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate_per_s)
        self._updated = now
