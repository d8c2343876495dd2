"""Acuity Scheduling: the signed, form-encoded id-only notification queued as a fetch notice, each appointment fetched
from the Acuity API stand-in and buffered as a posted contact (`changed` next to `scheduled` counted once); the fetch
failing for now, for good, and for credentials; intake answers never logged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.observability import metrics
from tests.support import load_event
from tests.unit.ingest.sources.fetching import FetchBench, standins_running
from tests.unit.ingest.sources.harness import deliver, tampered, with_body, with_headers
from vendor_standins import VendorStandins
from vendor_standins.records import SAMPLE_APPOINTMENT_ID, sample_appointment


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event("acuity/appointment_scheduled")


@pytest.fixture(scope="module")
def running() -> Iterator[VendorStandins]:
    with standins_running() as standins:
        yield standins


@pytest.fixture
def standins(running: VendorStandins) -> VendorStandins:
    running.reset()
    return running


@pytest.fixture
def bench(standins: VendorStandins) -> FetchBench:
    return FetchBench(standins)


def notification(event: dict[str, Any], action: str, appointment: str = SAMPLE_APPOINTMENT_ID) -> dict[str, Any]:
    return with_body(event, f"action={action}&id={appointment}&calendarID=1111&appointmentTypeID=2222")


# ------------------------------------------------------------------ the notification


@pytest.mark.parametrize("action", ["scheduled", "rescheduled", "canceled", "changed"])
def test_each_documented_action_is_answered_200_and_queues_one_fetch(event: dict[str, Any], action: str) -> None:
    delivered = deliver(notification(event, action))

    assert delivered.status == 200
    assert delivered.queued == []
    assert [(n["record_id"], n["details"]["action"]) for n in delivered.fetches] == [(SAMPLE_APPOINTMENT_ID, action)]


def test_an_order_completed_is_acknowledged_and_queues_nothing(event: dict[str, Any]) -> None:
    delivered = deliver(with_body(event, "action=order.completed&id=98765"))

    assert (delivered.status, delivered.fetches) == (200, [])


def test_a_forged_signature_is_401(event: dict[str, Any]) -> None:
    assert deliver(tampered(event, "id=1234567890", "id=1234567891")).status == 401


def test_a_missing_signature_is_401(event: dict[str, Any]) -> None:
    assert deliver(with_headers(event, x_acuity_signature=None)).status == 401


def test_json_posted_instead_of_a_form_is_refused_saying_so(event: dict[str, Any]) -> None:
    changed = with_headers(with_body(event, '{"action": "scheduled", "id": 1}'), content_type="application/json")
    assert deliver(changed).status in (400, 415)


def test_an_appointment_id_that_is_not_digits_is_400(event: dict[str, Any]) -> None:
    assert deliver(with_body(event, "action=scheduled&id=..%2Fme")).status == 400


def test_a_replayed_notification_is_answered_as_the_first_and_queues_nothing_again(
    bench: FetchBench, event: dict[str, Any]
) -> None:
    bench.notify(event)
    again = bench.notify(event)

    assert json.loads(again.body)["duplicate"] is True
    assert len(bench.notices) == 1


# ------------------------------------------------------------------ the fetch


def test_the_documented_appointment_is_fetched_with_basic_auth_and_buffered(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    bench.notify(event)

    report = bench.fetch()

    assert report.taken_in == 1
    (contact,) = bench.queued
    assert (contact["phone"], contact["first"], contact["last"]) == ("12125550176", "Bob", "McTest")
    assert contact["email"] == "bob.mctest@example.com"
    assert "is_opted_out" not in contact  # an intake answer is consent only when the mapping names it
    assert standins.requests["acuity"] == 1


def test_changed_sent_next_to_scheduled_for_one_change_is_buffered_once(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    # Given Acuity's two notifications of one booking (and no record of each phone's newest contact: the state of the
    # appointment alone tells the second from a change)
    bench.recent = None
    bench.notify(notification(event, "scheduled"))
    bench.notify(notification(event, "changed"))

    # When both are fetched
    bench.fetch()

    # Then the appointment's state is taken in once
    assert len(bench.queued) == 1
    assert standins.requests["acuity"] == 2


def test_a_real_change_after_the_booking_is_buffered_again(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    bench.notify(notification(event, "scheduled"))
    bench.fetch()
    moved = sample_appointment()
    moved["datetime"], moved["email"] = "2026-12-01T10:00:00-0500", "bob.new@example.com"
    standins.appointments[SAMPLE_APPOINTMENT_ID] = moved

    bench.notify(notification(event, "rescheduled"))
    bench.fetch()

    assert [c["email"] for c in bench.queued] == ["bob.mctest@example.com", "bob.new@example.com"]


def test_an_older_notification_fetched_after_a_newer_one_is_read_as_the_appointment_is_now(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    # Given the rescheduled appointment's notification fetched first, then the older "scheduled" one
    moved = sample_appointment()
    moved["email"] = "bob.new@example.com"
    standins.appointments[SAMPLE_APPOINTMENT_ID] = moved
    bench.notify(notification(event, "rescheduled"))
    bench.fetch()
    bench.notify(notification(event, "scheduled"))

    bench.fetch()

    # Then the older notification finds the appointment as it is now: nothing older is queued after the newer state
    assert [c["email"] for c in bench.queued] == ["bob.new@example.com"]


def test_an_intake_field_named_in_the_mapping_is_consent(bench: FetchBench, event: dict[str, Any]) -> None:
    bench.mappings = {"acuity": {"is_opted_out": "intake_consent.1"}}
    bench.notify(event)
    bench.fetch()

    (operation,) = bench.operations
    assert operation["contact"]["is_opted_out"] is False
    assert operation["consent"]["field"] == "intake_consent.1"


def test_an_intake_answer_is_read_only_when_mapped(bench: FetchBench, event: dict[str, Any]) -> None:
    bench.mappings = {"acuity": {"custom": {"7": "forms.2"}}}
    bench.notify(event)
    bench.fetch()

    assert bench.queued[0]["custom"] == {"7": "None"}


def test_intake_answers_never_reach_a_log_line(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    appointment = sample_appointment()
    appointment["forms"][0]["values"][1]["value"] = "penicillin-allergy"
    appointment["phone"] = ""
    standins.appointments[SAMPLE_APPOINTMENT_ID] = appointment
    bench.notify(event)

    bench.fetch()

    assert "penicillin" not in capsys.readouterr().out
    assert "penicillin" not in json.dumps([letter.to_json() for letter in bench.refusals])


def test_acuity_failing_for_now_puts_the_appointment_back_then_buffers_it(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    standins.fail("acuity", "throttled", count=1)
    bench.notify(event)

    bench.fetch()
    assert bench.requeued.bodies[0][1] == 30
    bench.fetch_requeued()

    assert len(bench.queued) == 1
    assert bench.letters == []


def test_an_appointment_that_does_not_exist_goes_to_the_fetch_dlq(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    standins.appointments.clear()
    bench.notify(event)

    bench.fetch()

    assert "404" in bench.letters[0]["error"]
    assert bench.queued == []


def test_a_refused_api_key_makes_the_appointment_wait_and_counts_the_alarm_metric(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bench.secrets["acuity_user_id"] = "999"  # not the user the API key belongs to: Acuity answers 401
    bench.notify(event)

    report = bench.fetch()

    assert (report.waiting, report.dead_lettered) == (1, 0)
    metrics.flush_metrics()  # as the handler's log_metrics does when the invocation ends
    assert '"FetchConfigurationErrors"' in capsys.readouterr().out
    bench.secrets["acuity_user_id"] = "12345678"
    bench.fetch_requeued()
    assert len(bench.queued) == 1
