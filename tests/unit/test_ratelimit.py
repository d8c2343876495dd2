from __future__ import annotations

from heymarket_bridge.ratelimit import RequestBudget


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_sustained_requests_never_exceed_the_per_minute_budget() -> None:
    clock = Clock()
    budget = RequestBudget(250, clock=clock, sleep=clock.sleep)
    sent = 0
    while clock.now < 60 and budget.acquire(deadline=10_000):
        if clock.now < 60:
            sent += 1
    assert 240 <= sent <= 250 + 10  # the rate plus at most one initial burst


def test_acquire_refuses_rather_than_sleeping_past_the_deadline() -> None:
    clock = Clock()
    budget = RequestBudget(60, burst=1, clock=clock, sleep=clock.sleep)
    assert budget.acquire(deadline=100)
    assert not budget.acquire(deadline=0.5)
    assert clock.now == 0.0
    assert budget.acquire(deadline=100)
    assert clock.now >= 1.0
