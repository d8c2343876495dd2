"""The circuit of an execution environment (heymarket_bridge.adapters.heymarket.circuit): opens after a run of
Heymarket's own failures, lets one probe through after its open time, and closes when Heymarket answers."""

from __future__ import annotations

import pytest

from heymarket_bridge.adapters.heymarket.circuit import Circuit, CircuitState
from tests.doubles.clock import FakeClock


def test_calls_go_through_until_the_run_of_failures_reaches_the_threshold() -> None:
    circuit = Circuit(failures=3, open_s=30, clock=FakeClock())

    circuit.failed("Heymarket answered 500")
    circuit.failed("Heymarket answered 500")
    assert circuit.allows()

    circuit.failed("Heymarket answered 503")
    assert not circuit.allows()
    assert circuit.last_failure == "Heymarket answered 503"


def test_an_answer_between_failures_starts_the_run_again() -> None:
    circuit = Circuit(failures=3, open_s=30, clock=FakeClock())

    circuit.failed("500")
    circuit.failed("500")
    circuit.answered()
    circuit.failed("500")
    circuit.failed("500")

    assert circuit.allows()


def test_after_its_open_time_one_probe_goes_and_the_other_calls_still_wait() -> None:
    clock = FakeClock()
    circuit = Circuit(failures=1, open_s=30, clock=clock)
    circuit.failed("timeout")
    clock.sleep(29)
    assert not circuit.allows()
    assert circuit.reopens_in() == pytest.approx(1)

    clock.sleep(1)

    assert circuit.allows()  # the probe
    assert circuit.state is CircuitState.HALF_OPEN
    assert not circuit.allows()


def test_a_failed_probe_opens_the_circuit_for_another_open_time() -> None:
    clock = FakeClock()
    circuit = Circuit(failures=3, open_s=30, clock=clock)
    for _ in range(3):
        circuit.failed("500")
    clock.sleep(30)
    assert circuit.allows()

    circuit.failed("500")  # one failure is enough while half-open

    assert not circuit.allows()
    assert circuit.reopens_in() == pytest.approx(30)


def test_a_probe_heymarket_answers_closes_the_circuit() -> None:
    clock = FakeClock()
    circuit = Circuit(failures=1, open_s=30, clock=clock)
    circuit.failed("500")
    clock.sleep(30)
    assert circuit.allows()

    circuit.answered()

    assert circuit.state is CircuitState.CLOSED
    assert circuit.allows()
    assert circuit.allows()


def test_a_circuit_that_could_never_open_is_refused() -> None:
    with pytest.raises(ValueError, match="failures >= 1"):
        Circuit(failures=0)


def test_the_invocation_that_opened_the_circuit_makes_no_probe_and_the_next_one_may() -> None:
    clock = FakeClock()
    circuit = Circuit(failures=1, open_s=1, clock=clock)
    circuit.failed("500", invocation=60.0)
    clock.sleep(5)

    assert not circuit.allows(invocation=60.0)
    assert circuit.allows(invocation=125.0)
