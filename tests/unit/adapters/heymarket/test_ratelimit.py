from __future__ import annotations

from collections import deque

import pytest

from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from tests.doubles.clock import FakeClock


def most_in_any_window(times: list[float], window_s: float = 60.0) -> int:
    """The largest number of the (sorted) request times that fall within one sliding window, as Heymarket counts."""
    inside: deque[float] = deque()
    most = 0
    for at in times:
        inside.append(at)
        while inside[0] <= at - window_s:
            inside.popleft()
        most = max(most, len(inside))
    return most


def requests_until(budget: RequestBudget, clock: FakeClock, end_s: float) -> list[float]:
    times: list[float] = []
    while budget.acquire(deadline=end_s) and clock.now < end_s:
        times.append(clock.now)
    return times


def test_sustained_requests_never_exceed_the_per_minute_budget() -> None:
    clock = FakeClock(now=0.0)
    budget = RequestBudget(250, clock=clock, sleep=clock.sleep)
    sent = len(requests_until(budget, clock, 60))
    assert 240 <= sent <= 250


@pytest.mark.parametrize("per_minute", [30, 250, 500, 3000])
def test_a_full_bucket_at_start_still_keeps_every_sliding_window_within_the_budget(per_minute: int) -> None:
    # Given a consumer that starts with a full bucket and always has work
    clock = FakeClock(now=0.0)
    budget = RequestBudget(per_minute, clock=clock, sleep=clock.sleep)

    # When it sends as fast as the budget allows for three minutes
    times = requests_until(budget, clock, 180)

    # Then no 60-second window holds more than the budget (Heymarket would answer 429), and little of it goes unused
    assert most_in_any_window(times) <= per_minute
    assert len(times) >= 0.9 * per_minute * 3


def test_two_consumers_with_half_the_budget_each_stay_within_it_together() -> None:
    clock = FakeClock(now=0.0)
    consumers = [RequestBudget(250, clock=clock, sleep=lambda _s: None) for _ in range(2)]
    times: list[float] = []
    step = 0.001
    while clock.now < 180:
        for budget in consumers:
            if budget.wait_time() == 0 and budget.acquire(deadline=clock.now):
                times.append(clock.now)
        clock.now += step
    assert most_in_any_window(times) <= 500
    assert len(times) >= 0.9 * 500 * 3


def test_acquire_refuses_rather_than_sleeping_past_the_deadline() -> None:
    clock = FakeClock(now=0.0)
    budget = RequestBudget(60, burst=1, clock=clock, sleep=clock.sleep)
    assert budget.acquire(deadline=100)
    assert not budget.acquire(deadline=0.5)
    assert clock.now == 0.0
    assert budget.acquire(deadline=100)
    assert clock.now >= 1.0
