"""A Heymarket outage waited out (heymarket_bridge.sync.settle, the circuit in adapters/heymarket/http.py): contacts
put back on their last receive after a delay that grows with their age, dead-lettered only when they would outlive
the queue; "Heymarket is down" told apart from "this contact fails"; the circuit stops an invocation's requests."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from heymarket_bridge.adapters.heymarket.circuit import Circuit
from heymarket_bridge.sync.settle import Backoff
from tests.doubles.clock import FakeClock
from tests.unit.sync.harness import ANN, BOB, Harness, PortHarness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def test_a_contact_meeting_heymarket_down_on_its_last_receive_is_put_back_not_dead_lettered() -> None:
    h = Harness(max_receive_count=3)
    h.heymarket.down = True
    record = upsert(ANN, receive_count=3)

    report = h.process(record, remaining_s=20)

    assert (h.letters.letters, report.failed_message_ids) == ([], [])
    assert h.waiting.bodies == [record.body]
    assert report.waiting_messages == 1


def test_before_its_last_receive_a_contact_meeting_heymarket_down_is_left_for_sqs_to_redeliver() -> None:
    h = Harness(max_receive_count=3)
    h.heymarket.down = True
    record = upsert(ANN, receive_count=2)

    report = h.process(record, remaining_s=20)

    assert (report.failed_message_ids, h.waiting.bodies, h.letters.letters) == ([record.message_id], [], [])


@pytest.mark.parametrize(
    ("waited", "delay"),
    [(timedelta(seconds=10), 60), (timedelta(minutes=10), 300), (timedelta(hours=3), 900)],
)
def test_the_delay_before_the_next_try_grows_with_how_long_the_contact_has_waited(
    waited: timedelta, delay: int
) -> None:
    h = Harness(max_receive_count=1)
    h.heymarket.down = True
    record = upsert(ANN, received_at=(h.now - waited).isoformat(timespec="milliseconds"))

    h.process(record, remaining_s=20)

    assert h.waiting.delays == [delay]


def test_the_backoff_is_half_the_age_within_its_floor_and_cap() -> None:
    backoff = Backoff(base_s=30, cap_s=600)

    assert [backoff.delay_s(age) for age in (None, 0, 100, 1000, 10_000)] == [30, 30, 50, 500, 600]


def test_a_contact_that_would_outlive_the_queue_while_heymarket_is_down_is_dead_lettered_with_the_reason() -> None:
    h = Harness(max_receive_count=1)
    h.heymarket.down = True
    # Received 3 days 23 hours ago: the queue keeps messages 4 days, and waiting again would pass the 1-hour margin.
    record = upsert(ANN, received_at=(h.now - timedelta(days=3, hours=23)).isoformat(timespec="milliseconds"))

    h.process(record, remaining_s=20)

    [letter] = h.letters.letters
    assert letter.error_kind == "heymarket_unavailable"
    assert "Heymarket was unavailable for as long as the queue keeps messages" in letter.error
    assert json.loads(letter.to_json())["error_kind"] == "heymarket_unavailable"
    assert h.waiting.bodies == []


def test_a_contact_that_fails_while_others_of_its_batch_succeed_is_dead_lettered_on_its_last_receive() -> None:
    # Not an outage: Heymarket answered for BOB, so ANN's failure is ANN's own.
    h = PortHarness(max_receive_count=1)
    h.heymarket.fail(ANN, "transient", "Heymarket answered 500: internal", unavailable=True)

    report = h.process(upsert(ANN), upsert(BOB))

    [letter] = h.letters.letters
    assert (letter.error_kind, report.delivered_contacts, h.waiting.bodies) == ("failed", 1, [])


def test_every_contact_of_a_batch_failing_as_heymarket_fails_when_down_waits() -> None:
    h = PortHarness(max_receive_count=1)
    for phone in (ANN, BOB):
        h.heymarket.fail(phone, "transient", "Heymarket answered 503", unavailable=True)

    report = h.process(upsert(ANN), upsert(BOB))

    assert (h.letters.letters, report.waiting_messages) == ([], 2)


def test_a_batch_failing_for_a_reason_that_is_not_heymarket_being_down_is_not_an_outage() -> None:
    # An answer that could not be read is Heymarket answering: the contact uses up its receives as before.
    h = PortHarness(max_receive_count=1)
    h.heymarket.fail(ANN, "transient", "Heymarket's answer is not JSON")

    h.process(upsert(ANN))

    [letter] = h.letters.letters
    assert letter.error_kind == "failed"


def test_a_refusal_is_dead_lettered_at_once_and_names_its_kind() -> None:
    h = PortHarness(max_receive_count=5)
    h.heymarket.fail(ANN, "permanent", "Heymarket answered 400: bad_data")

    h.process(upsert(ANN))

    [letter] = h.letters.letters
    assert letter.error_kind == "refused"


def test_the_circuit_stops_the_requests_of_a_batch_after_a_run_of_failures() -> None:
    with_circuit = Harness(circuit=Circuit(failures=3, open_s=30))
    without = Harness()
    for h in (with_circuit, without):
        h.heymarket.down = True
        h.process(upsert(ANN), upsert(BOB), remaining_s=60)

    assert len(with_circuit.heymarket.log) == 3
    assert len(without.heymarket.log) > 3


def test_an_open_circuit_fails_the_next_invocation_without_a_request_and_its_contacts_wait() -> None:
    h = Harness(max_receive_count=1, circuit=Circuit(failures=3, open_s=30))
    h.heymarket.down = True
    h.process(upsert(ANN), remaining_s=60)
    h.heymarket.log.clear()
    h.heymarket.down = False  # back, but the circuit has not tried yet

    report = h.process(upsert(BOB), remaining_s=10)

    assert h.heymarket.log == []
    assert (report.waiting_messages, h.letters.letters) == (1, [])


def test_once_the_circuit_probes_and_heymarket_answers_the_contacts_go_through() -> None:
    clock = FakeClock()
    h = Harness(clock=clock, circuit=Circuit(failures=3, open_s=30, clock=clock))
    h.heymarket.down = True
    h.process(upsert(ANN), remaining_s=60)
    h.heymarket.down = False
    clock.sleep(30)

    report = h.process(upsert(BOB), remaining_s=60)

    assert report.delivered_contacts == 1
    assert [contact.fields["phone"] for contact in h.heymarket.contacts] == [BOB]
