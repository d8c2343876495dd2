"""The circuit of one execution environment: after a run of calls Heymarket failed (a 5xx, a 429, a timeout, a
connection error), no request is made for a while, then one probe.

Why: while Heymarket is down every request of a batch fails the same way, each after the read timeout or a backoff,
and each counts against the account's 500 requests a minute (shared/HEYMARKET_API.md, "Limits and errors"). Once
`failures` calls in a row failed, the circuit opens: calls fail at once (`TransientFailure` with `circuit_open`), for
`open_s` seconds. Then it is half-open: one call goes through as a probe; Heymarket answering it (any status other
than a 5xx or 429) closes the circuit, a failure opens it again for another `open_s`. An invocation that opened the
circuit makes no probe: it stops calling Heymarket for the rest of its batch (an invocation is known by its
deadline, `invocation`). One instance per execution environment (kept by `HeymarketHttp`): the invocations that
environment runs share what it learned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum


class CircuitState(Enum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls fail at once, until `open_s` has passed
    HALF_OPEN = "half_open"  # one probe is under way; other calls fail at once


class Circuit:
    """Counts consecutive failures of Heymarket itself (`failures` in a row open it for `open_s` seconds)."""

    def __init__(self, failures: int = 3, open_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1 or open_s < 0:
            raise ValueError("a circuit needs failures >= 1 and open_s >= 0")
        self._threshold = failures
        self._open_s = open_s
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._in_a_row = 0
        self._opened_at = 0.0
        self._opened_by: float | None = None  # the invocation that opened it
        self.last_failure = ""

    @property
    def state(self) -> CircuitState:
        with self._lock:
            return self._state

    def allows(self, invocation: float | None = None) -> bool:
        """Whether a request may be made now; past `open_s`, the first caller gets the probe (True), the others not,
        nor the invocation that opened the circuit."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return True
            if invocation is not None and invocation == self._opened_by:
                return False
            if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self._open_s:
                self._state = CircuitState.HALF_OPEN
                return True
            return False

    def stopped(self, invocation: float) -> bool:
        """Whether `invocation` opened the circuit: it calls Heymarket no more (no side effect, unlike `allows`)."""
        with self._lock:
            return self._state is not CircuitState.CLOSED and self._opened_by == invocation

    def answered(self) -> None:
        """Heymarket answered (a 2xx, 3xx or 4xx other than 429): it is up; the circuit closes."""
        with self._lock:
            self._state = CircuitState.CLOSED
            self._in_a_row = 0

    def failed(self, reason: str, invocation: float | None = None) -> None:
        """Heymarket failed a call of `invocation` (`reason`, for the failures of the calls the open circuit stops)."""
        with self._lock:
            self._in_a_row += 1
            self.last_failure = reason
            if self._state is CircuitState.HALF_OPEN or self._in_a_row >= self._threshold:
                self._state = CircuitState.OPEN
                self._opened_at = self._clock()
                self._opened_by = invocation

    def reopens_in(self) -> float:
        """Seconds until the next probe may go (0 when closed or due)."""
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return 0.0
            return max(0.0, self._open_s - (self._clock() - self._opened_at))
