"""A token bucket that keeps one consumer within its share of Heymarket's request budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Float arithmetic can leave the bucket a hair under a whole token after sleeping exactly the computed
# wait; without this tolerance acquire() could spin on ever tinier sleeps.
_EPSILON = 1e-9
WINDOW_S = 60.0


class RequestBudget:
    """Allows at most `per_minute` requests in any 60-second window, with bursts of at most `burst`.

    Heymarket counts requests in a sliding 60-second window. A token bucket that refills at `per_minute` a minute
    lets `burst + per_minute` requests through in a window (a full bucket, then the refill), so every cold start
    would overshoot the limit by its burst and collect that many 429s. The bucket therefore refills at
    `per_minute - burst` a minute: a full bucket plus a minute of refill is exactly `per_minute`.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A burst of a couple of seconds' worth of requests: small enough that two consumers starting at
        # once cannot exceed the per-minute limit between them, and little taken from the sustained rate.
        capacity = burst if burst is not None else max(1.0, min(10.0, per_minute / 30.0))
        # With a budget of a few requests a minute a whole burst would leave no refill: keep at least half the rate.
        self._rate_per_s = max(per_minute - capacity, per_minute / 2.0) / WINDOW_S
        self._capacity = capacity
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    @property
    def sustained_per_minute(self) -> float:
        """Requests a minute this budget allows once its burst is spent."""
        return self._rate_per_s * WINDOW_S

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
