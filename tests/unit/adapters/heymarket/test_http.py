"""HeymarketHttp with a circuit: which failures count as Heymarket being down, and the calls an open circuit stops."""

from __future__ import annotations

from typing import Any

import pytest
import urllib3

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
from heymarket_bridge.adapters.heymarket.circuit import Circuit, CircuitState
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.failures import Deadline, TransientFailure
from tests.doubles.clock import FakeClock
from tests.doubles.heymarket_double import HeymarketDouble


class Unreachable:
    """A connection pool whose every request fails before an answer (a reset connection)."""

    def __init__(self) -> None:
        self.requests = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        raise urllib3.exceptions.ProtocolError("Connection aborted.")


def http_over(pool: Any, circuit: Circuit, clock: FakeClock) -> HeymarketHttp:
    auth = Authenticator(lambda refresh: Credentials.from_secret({"secret_id": "id", "secret_key": "key"}))
    return HeymarketHttp(
        "https://api.heymarket.test",
        auth,
        RequestBudget(6000, clock=clock, sleep=clock.sleep),
        pool=pool,
        clock=clock,
        sleep=clock.sleep,
        circuit=circuit,
    )


def test_connection_errors_in_a_row_open_the_circuit_and_the_next_call_makes_no_request() -> None:
    clock = FakeClock()
    pool = Unreachable()
    http = http_over(pool, Circuit(failures=2, open_s=30, clock=clock), clock)
    deadline = Deadline(clock() + 60, clock)
    for _ in range(2):
        with pytest.raises(TransientFailure) as failed:
            http.call("GET", "/v1/inboxes", None, deadline)
        assert failed.value.unavailable
        assert not failed.value.circuit_open

    with pytest.raises(TransientFailure) as stopped:
        http.call("GET", "/v1/inboxes", None, deadline)

    assert stopped.value.circuit_open
    assert stopped.value.unavailable
    assert "ProtocolError" in stopped.value.reason
    assert pool.requests == 2


def test_retrying_gives_up_at_once_when_the_circuit_opens() -> None:
    clock = FakeClock()
    pool = Unreachable()
    circuit = Circuit(failures=3, open_s=30, clock=clock)
    http = http_over(pool, circuit, clock)
    started = clock()

    with pytest.raises(TransientFailure) as stopped:
        http.retrying(
            lambda: http.call("GET", "/v1/inboxes", None, Deadline(started + 600, clock)), Deadline.after(600, clock)
        )

    assert stopped.value.unavailable
    assert circuit.state is CircuitState.OPEN
    assert pool.requests == 3
    assert clock() - started < 10  # two backoffs, not the rest of the deadline


@pytest.mark.parametrize(("status", "counts"), [(500, True), (503, True), (429, True), (400, False), (404, False)])
def test_only_heymarkets_own_failures_count_towards_opening_the_circuit(status: int, counts: bool) -> None:
    clock = FakeClock()
    double = HeymarketDouble()
    double.script("GET /v1/inboxes", (status, {"error_code": "x"}))
    circuit = Circuit(failures=1, open_s=30, clock=clock)

    with pytest.raises(Exception):  # noqa: B017, PT011 - each status has its own failure; the circuit is the subject
        http_over(double, circuit, clock).call("GET", "/v1/inboxes", None, Deadline(clock() + 60, clock))

    assert (circuit.state is CircuitState.OPEN) is counts
