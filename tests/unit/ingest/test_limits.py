"""IntakeGate (heymarket_bridge.ingest.limits): contacts per minute per source and per scoped token, the load shed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from heymarket_bridge.ingest.failures import (
    CountersUnavailable,
    PayloadTooLarge,
    QueueDepthUnavailable,
    TooManyRequests,
)
from heymarket_bridge.ingest.limits import CachedDepth, IntakeGate, IntakeLimits, drainable
from tests.doubles.counters import MemoryCounters

NOW = datetime(2026, 12, 7, 12, 0, 45, tzinfo=UTC)


class Unreachable:
    def add(self, key: str, count: int, limit: int, expires_at: int) -> bool:
        raise CountersUnavailable("ProvisionedThroughputExceededException")


def test_a_source_gets_its_limit_per_minute_then_a_429_until_the_next_minute() -> None:
    admission = IntakeGate(IntakeLimits(100, {"generic": 10}), MemoryCounters())

    admission.admit("generic", 6, NOW)
    admission.admit("generic", 4, NOW)
    with pytest.raises(TooManyRequests) as refused:
        admission.admit("generic", 1, NOW)

    assert refused.value.status == 429
    assert refused.value.retry_after_s == 15  # 12:00:45 -> 12:01:00
    assert refused.value.details["limit"] == "the contacts per minute of source 'generic'"
    admission.admit("generic", 10, NOW.replace(minute=1, second=0))


def test_one_sources_flood_leaves_another_sources_limit_whole() -> None:
    admission = IntakeGate(IntakeLimits(10), MemoryCounters())
    admission.admit("generic", 10, NOW)
    with pytest.raises(TooManyRequests):
        admission.admit("generic", 1, NOW)

    admission.admit("typeform", 10, NOW)


def test_a_scoped_tokens_cap_is_counted_apart_from_its_sources_limit() -> None:
    counters = MemoryCounters()
    admission = IntakeGate(IntakeLimits(1000), counters)

    admission.admit("generic", 5, NOW, ("abc", 5))
    with pytest.raises(TooManyRequests) as refused:
        admission.admit("generic", 1, NOW, ("abc", 5))
    admission.admit("generic", 50, NOW)  # the source's other tokens are not held by the public one's cap

    assert refused.value.details["limit"] == "this token's contacts_per_minute"
    assert sum(value for key, value in counters.values.items() if "\nsource\n" in key) == 55


def test_a_refused_delivery_is_not_counted() -> None:
    counters = MemoryCounters()
    admission = IntakeGate(IntakeLimits(10), counters)
    admission.admit("generic", 8, NOW)
    with pytest.raises(TooManyRequests):
        admission.admit("generic", 3, NOW)

    admission.admit("generic", 2, NOW)


def test_a_counter_expires_after_its_window_and_the_next() -> None:
    counters = MemoryCounters()
    IntakeGate(IntakeLimits(10), counters).admit("generic", 1, NOW)

    (expires_at,) = counters.expiries.values()
    assert expires_at == int(NOW.replace(second=0).timestamp()) + 120


def test_a_delivery_larger_than_the_limit_itself_is_a_413_not_a_retry_forever() -> None:
    admission = IntakeGate(IntakeLimits(10), MemoryCounters())

    with pytest.raises(PayloadTooLarge) as refused:
        admission.admit("generic", 11, NOW)

    assert "at most 10 per request" in refused.value.message


def test_counters_that_cannot_be_reached_admit_the_delivery() -> None:
    IntakeGate(IntakeLimits(1), Unreachable()).admit("generic", 1, NOW)


def test_the_queue_deeper_than_the_sync_side_can_drain_sheds_deliveries() -> None:
    depth = [100]
    admission = IntakeGate(IntakeLimits(shed_above=100, depth_max_age_s=0), MemoryCounters(), lambda: depth[0])
    admission.admit("generic", 1, NOW)

    depth[0] = 101
    with pytest.raises(TooManyRequests) as refused:
        admission.admit("generic", 1, NOW)

    assert refused.value.details["limit"] == "queue_depth"
    assert refused.value.retry_after_s == 300


def test_no_shed_when_the_depth_cannot_be_read_or_the_margin_is_zero() -> None:
    def unreadable() -> int:
        raise QueueDepthUnavailable("AccessDenied")

    IntakeGate(IntakeLimits(shed_above=1), None, unreadable).admit("generic", 1, NOW)
    IntakeGate(IntakeLimits(shed_above=0), None, lambda: 10**9).admit("generic", 1, NOW)


def test_the_depth_is_read_at_most_once_per_max_age() -> None:
    reads: list[int] = []
    clock = [0.0]

    def read() -> int:
        reads.append(1)
        return len(reads)

    depth = CachedDepth(read, 10.0, lambda: clock[0])
    assert [depth(), depth()] == [1, 1]
    clock[0] = 10.0
    assert depth() == 2


def test_drainable_is_rate_times_batch_times_retention_minutes_times_margin() -> None:
    assert drainable(500, 100, 345_600, 0.5) == 500 * 100 * 5760 // 2


# ---------------------------------------------------------------------- counted locally, up to a share (cost)


class CountingCounters(MemoryCounters):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def add(self, key: str, count: int, limit: int, expires_at: int) -> bool:
        self.writes += 1
        return super().add(key, count, limit, expires_at)


def test_with_reserved_executions_a_quiet_source_writes_no_counter_until_its_share_is_passed() -> None:
    # Given 3,000 contacts a minute and 5 executions: a share of 3000 // (10 x 5) = 60 each
    counters = CountingCounters()
    admission = IntakeGate(IntakeLimits(3000, executions=5), counters)

    for _ in range(60):
        admission.admit("generic", 1, NOW)
    assert counters.writes == 0

    # When one more contact passes the share, Then it is written with the 60 admitted before it, once
    admission.admit("generic", 1, NOW)
    assert counters.writes == 1
    assert sum(counters.values.values()) == 61


def test_a_flood_over_every_execution_is_cut_within_a_tenth_over_the_limit() -> None:
    # Given 5 executions sharing one counter of 3,000 a minute, each sent contacts until refused
    counters = CountingCounters()
    gates = [IntakeGate(IntakeLimits(3000, executions=5), counters) for _ in range(5)]
    admitted = refused = 0
    writes_until_cut: int | None = None
    for _ in range(2000):
        for gate in gates:
            try:
                gate.admit("generic", 1, NOW)
                admitted += 1
            except TooManyRequests:
                refused += 1
                writes_until_cut = counters.writes if writes_until_cut is None else writes_until_cut

    # Then the flood is cut, having got at most the limit and a tenth, at least the limit less a tenth, with one
    # write per 61 contacts until then (each refusal after is a write, as without the shares)
    assert 2700 <= admitted <= 3300
    assert refused == 10_000 - admitted
    assert writes_until_cut is not None
    assert writes_until_cut <= 3300 // 61 + 1


def test_a_limit_smaller_than_ten_shares_per_execution_is_counted_exactly() -> None:
    # Given a scoped token's cap of 60 and 50 executions: no share (60 // 500 == 0)
    counters = CountingCounters()
    admission = IntakeGate(IntakeLimits(30_000, executions=50), counters)

    admission.admit("generic", 1, NOW, ("abc", 60))

    assert [key.split("\n")[1] for key in counters.values] == ["token"]
    assert counters.writes == 1


def test_a_past_minutes_unwritten_count_is_dropped_with_it() -> None:
    counters = CountingCounters()
    admission = IntakeGate(IntakeLimits(100, executions=1), counters)  # a share of 10
    admission.admit("generic", 10, NOW)

    admission.admit("generic", 10, NOW.replace(minute=1))
    admission.admit("generic", 1, NOW.replace(minute=1))

    assert list(counters.values.values()) == [11]
