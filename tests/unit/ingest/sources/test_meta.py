"""Meta Lead Ads: the GET handshake, the signed id-only notification queued as fetch notices, and each lead fetched
from the Graph API stand-in and buffered as a posted contact; the fetch failing for now, for good, and for
credentials (the lead waits, the alarm's metric is counted, nothing is lost)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from heymarket_bridge.observability import metrics
from tests.support import load_event
from tests.unit.ingest.sources.fetching import FetchBench, standins_running
from tests.unit.ingest.sources.harness import SIGNED_AT, deliver, tampered, with_headers, with_json
from vendor_standins import VendorStandins
from vendor_standins.records import SAMPLE_LEAD_ID, sample_lead


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event("meta/leadgen")


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


def handshake(token: str = "demo-meta-verify-token", mode: str = "subscribe", challenge: str = "1158201444") -> dict:
    event = copy.deepcopy(load_event("meta/leadgen"))
    event["requestContext"]["http"]["method"] = "GET"
    event["body"] = ""
    event["headers"] = {"host": "example.execute-api.us-east-1.amazonaws.com"}
    event["routeKey"] = event["requestContext"]["routeKey"] = "GET /webhooks/meta"
    del event["pathParameters"]  # the route names the source: API Gateway gives no path parameter
    event["rawQueryString"] = f"hub.mode={mode}&hub.challenge={challenge}&hub.verify_token={token}"
    event["queryStringParameters"] = {"hub.mode": mode, "hub.challenge": challenge, "hub.verify_token": token}
    return event


def lead_notification(*leads: tuple[str, int]) -> dict[str, Any]:
    """Meta's notification shape with one leadgen change per (leadgen_id, created_time)."""
    changes = [
        {"field": "leadgen", "value": {"leadgen_id": lead_id, "page_id": "153125381133", "created_time": at}}
        for lead_id, at in leads
    ]
    return {"object": "page", "entry": [{"id": "153125381133", "time": 1795424398, "changes": changes}]}


# ------------------------------------------------------------------ the handshake


def test_the_handshake_with_the_issued_token_is_answered_with_the_challenge_as_text() -> None:
    reply = deliver(handshake()).reply

    assert (reply.status, reply.body, reply.headers["Content-Type"]) == (200, "1158201444", "text/plain")


@pytest.mark.parametrize(
    "changed", [{"token": "another-token"}, {"mode": "unsubscribe"}, {"challenge": "<script>"}, {"token": ""}]
)
def test_a_handshake_with_another_token_mode_or_challenge_is_403(changed: dict[str, str]) -> None:
    assert deliver(handshake(**changed)).status == 403


def test_a_handshake_without_an_issued_token_is_403() -> None:
    secrets = {"meta": "demo-meta-secret"}
    assert deliver(handshake(), secrets=secrets).status == 403


def test_another_source_answers_a_get_with_405() -> None:
    event = handshake()
    event["pathParameters"] = {"source": "typeform"}  # as a GET route on /webhooks/{source} would send it
    assert deliver(event).status == 405


# ------------------------------------------------------------------ the notification


def test_the_documented_notification_is_answered_200_and_queues_one_fetch_per_lead(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 200
    assert delivered.queued == []
    assert [(n["source"], n["record_id"]) for n in delivered.fetches] == [("meta", SAMPLE_LEAD_ID)]
    assert delivered.fetches[0]["details"]["form_id"] == "555555555555"


def test_ids_sent_as_strings_as_in_meta_s_sample_app_are_read(event: dict[str, Any]) -> None:
    payload = lead_notification(("444444444444", 1795424395))
    payload["entry"][0]["changes"][0]["value"]["leadgen_id"] = "444444444444"

    assert [n["record_id"] for n in deliver(with_json(event, payload)).fetches] == ["444444444444"]


def test_several_entries_and_changes_are_each_queued_once_and_other_fields_ignored(event: dict[str, Any]) -> None:
    payload = lead_notification(("1", 1795424395), ("2", 1795424396), ("1", 1795424395))
    payload["entry"].append({"id": "9", "time": 1, "changes": [{"field": "feed", "value": {"item": "post"}}]})

    assert [n["record_id"] for n in deliver(with_json(event, payload)).fetches] == ["1", "2"]


def test_a_forged_signature_is_401_and_queues_nothing(event: dict[str, Any]) -> None:
    forged = tampered(event, "444444444444", "444444444445")

    delivered = deliver(forged)

    assert (delivered.status, delivered.fetches) == (401, [])


def test_a_missing_signature_is_401(event: dict[str, Any]) -> None:
    assert deliver(with_headers(event, x_hub_signature_256=None)).status == 401


def test_a_leadgen_id_that_is_not_digits_is_400(event: dict[str, Any]) -> None:
    payload = lead_notification(("../me", 1))
    assert deliver(with_json(event, payload)).status == 400


def test_a_bad_leadgen_id_is_reported_while_the_good_leads_next_to_it_are_queued(event: dict[str, Any]) -> None:
    # Given one notification with a good lead, a leadgen_id that is not digits, and another good lead
    payload = lead_notification(("1001", 1795424395), ("../me", 1), ("1002", 1795424396))

    delivered = deliver(with_json(event, payload))

    # Then the good leads are queued, the bad one reported by its index, and the answer is a success (no retry)
    assert delivered.status in (200, 202)
    assert [n["record_id"] for n in delivered.fetches] == ["1001", "1002"]
    body = json.loads(delivered.reply.body)
    assert body["accepted"] == 2
    assert [(r["index"], "leadgen_id" in r["errors"][0]) for r in body["rejected"]] == [(1, True)]


def test_a_replayed_notification_is_answered_as_the_first_and_queues_nothing_again(
    bench: FetchBench, event: dict[str, Any]
) -> None:
    first, again = bench.notify(event), bench.notify(event)

    assert (first.status, again.status) == (200, 200)
    assert json.loads(again.body)["duplicate"] is True
    assert len(bench.notices) == 1


# ------------------------------------------------------------------ the fetch


def test_the_documented_lead_is_fetched_and_buffered_with_its_event_time_and_id(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    bench.notify(event)

    report = bench.fetch()

    assert report.taken_in == 1
    assert report.redeliver == []
    (operation,) = bench.operations
    assert operation["contact"]["phone"] == "14155550148"
    assert (operation["contact"]["first"], operation["contact"]["last"]) == ("Joe", "Example")
    assert operation["contact"]["email"] == "joe@example.com"
    assert operation["occurred_at"].startswith("2026-11-23T08:59:55")
    assert standins.requests["graph"] == 1  # one request to the vendor per lead


def test_a_disclaimer_checkbox_is_consent_only_when_mapped_and_checked(
    bench: FetchBench, event: dict[str, Any]
) -> None:
    # Given a mapping naming the checked "optional_checkbox" as the SMS consent
    bench.mappings = {"meta": {"is_opted_out": "custom_disclaimer_responses.optional_checkbox"}}
    bench.notify(event)
    bench.fetch()

    (operation,) = bench.operations
    assert operation["contact"]["is_opted_out"] is False
    assert operation["consent"]["field"] == "custom_disclaimer_responses.optional_checkbox"
    assert operation["consent"]["event_id"] == SAMPLE_LEAD_ID


def test_an_unchecked_or_unmapped_disclaimer_says_nothing_of_consent(bench: FetchBench, event: dict[str, Any]) -> None:
    bench.mappings = {"meta": {"is_opted_out": "custom_disclaimer_responses.sms_optin"}}  # unchecked in the lead
    bench.notify(event)
    bench.fetch()

    assert "is_opted_out" not in bench.queued[0]


def test_a_custom_question_is_read_by_its_name(bench: FetchBench, event: dict[str, Any]) -> None:
    bench.mappings = {"meta": {"custom": {"101": "car_make"}}}
    bench.notify(event)
    bench.fetch()

    assert bench.queued[0]["custom"] == {"101": "Honda"}


def test_a_lead_without_a_phone_is_a_refusal_letter_naming_it(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    lead = sample_lead()
    lead["field_data"] = [f for f in lead["field_data"] if f["name"] != "phone_number"]
    standins.leads[SAMPLE_LEAD_ID] = lead
    bench.notify(event)

    bench.fetch()

    assert bench.queued == []
    assert "phone" in bench.refusals[0].error


def test_the_same_lead_fetched_twice_is_buffered_once(bench: FetchBench, event: dict[str, Any]) -> None:
    bench.notify(event)
    bodies = [m.body for m in bench.fetch_queue.sent]

    bench.fetch(bodies)
    bench.fetch(bodies)

    assert len(bench.queued) == 1


def test_an_older_lead_fetched_after_a_newer_one_for_the_same_phone_is_ordered_before_it(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    # Given two leads of one person: the newer one (another email) fetched first
    older, newer = sample_lead("1001"), sample_lead("1002")
    newer["created_time"] = "2026-11-23T08:59:58+0000"
    newer["field_data"] = [
        {"name": "email", "values": ["joe.new@example.com"]} if f["name"] == "email" else f for f in newer["field_data"]
    ]
    standins.leads.update({"1001": older, "1002": newer})
    bench.notify(with_json(event, lead_notification(("1002", 1795424398))))
    bench.fetch()
    bench.notify(with_json(event, lead_notification(("1001", 1795424395))))

    # When the older one is fetched
    bench.fetch()

    # Then it carries its own, older event time: the sync side's contact state keeps the newer one
    # (heymarket_bridge.sync.state.rules orders a phone's operations by it, not by their arrival)
    by_email = {op["contact"]["email"]: op["occurred_at"] for op in bench.operations}
    assert by_email["joe@example.com"] < by_email["joe.new@example.com"]


def test_a_graph_failure_for_now_puts_the_lead_back_with_a_growing_delay_then_buffers_it(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    standins.fail("graph", "server_error", count=2)
    bench.notify(event)

    bench.fetch()
    first_delay = bench.requeued.bodies[0][1]
    bench.fetch_requeued()
    second_delay = bench.requeued.bodies[0][1]
    bench.fetch_requeued()

    assert (first_delay, second_delay) == (30, 60)
    assert len(bench.queued) == 1
    assert bench.letters == []


def test_the_graph_quota_is_retried_and_counted(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    standins.fail("graph", "throttled", count=1)
    bench.notify(event)

    report = bench.fetch()

    assert report.retried == 1
    metrics.flush_metrics()  # as the handler's log_metrics does when the invocation ends
    assert '"FetchThrottled"' in capsys.readouterr().out


def test_a_lead_that_keeps_failing_ends_in_the_fetch_dlq_with_the_reason(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    standins.fail("graph", "server_error")
    bench.notify(event)

    bench.fetch()
    bench.fetch_requeued()
    bench.fetch_requeued()  # the third attempt of FetchPolicy(max_attempts=3)

    (letter,) = bench.letters
    assert "error code 1" in letter["error"]
    assert "3 attempts" in letter["error"]
    assert json.loads(letter["message"])["fetch"]["record_id"] == SAMPLE_LEAD_ID


def test_a_lead_graph_says_does_not_exist_waits_as_a_permission_problem_then_is_a_letter_giving_both_readings(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    # Given Graph answers error 100 subcode 33 ("does not exist, or missing permission": Meta's words for both)
    standins.leads.clear()
    bench.notify(event)

    # When the lead is fetched: it is not lost at once, it waits as refused credentials do (the alarm's metric)
    report = bench.fetch()
    assert (report.waiting, report.dead_lettered, report.configuration_error) == (1, 0, True)
    assert bench.letters == []

    # Then after the bounded wait it is a letter whose reason gives both readings
    bench.now = SIGNED_AT + timedelta(days=5)
    bench.fetch_requeued()
    assert "error code 100" in bench.letters[0]["error"]
    assert "lacks a permission" in bench.letters[0]["error"]
    assert "does not exist" in bench.letters[0]["error"]


def test_a_fetch_letter_moved_back_onto_the_fetch_queue_is_fetched_again_from_the_start(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    # Given a lead dead-lettered after its retries ran out (its letter wraps the notice, attempts used up)
    standins.fail("graph", "server_error")
    bench.notify(event)
    for _ in range(10):
        bench.fetch() if bench.fetch_queue.sent else bench.fetch_requeued()
        if bench.letters:
            break
    [letter_body] = [message.body for message in bench.fetch_letters.sent]

    # When Graph is back and the operator moves the letter back (aws sqs start-message-move-task)
    standins.heal()
    report = bench.fetch([letter_body])

    # Then the lead is fetched and buffered, its attempts begun anew
    assert (report.taken_in, report.dead_lettered) == (1, 0)
    assert len(bench.queued) == 1


@pytest.mark.parametrize("fault", ["token_expired", "leads_access_withheld"])
def test_refused_credentials_make_the_lead_wait_count_the_alarm_metric_and_lose_nothing(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any], fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the Page token expired (Graph 190) or access withheld by the Leads Access Manager (Graph 200)
    standins.fail("graph", fault)
    bench.notify(event)

    # When the lead is fetched
    report = bench.fetch()

    # Then it waits, put back with the configuration delay, and the alarm's metric is counted
    assert (report.waiting, report.dead_lettered, report.configuration_error) == (1, 0, True)
    assert bench.requeued.bodies[0][1] == 900
    metrics.flush_metrics()  # as the handler's log_metrics does when the invocation ends
    assert '"FetchConfigurationErrors"' in capsys.readouterr().out
    # And once the operator fixed the token, the lead is buffered
    standins.heal()
    bench.fetch_requeued()
    assert len(bench.queued) == 1


def test_a_lead_waiting_longer_than_the_queue_keeps_messages_is_dead_lettered_with_the_reason(
    bench: FetchBench, standins: VendorStandins, event: dict[str, Any]
) -> None:
    standins.fail("graph", "token_expired")
    bench.notify(event)
    bench.fetch()

    bench.now = SIGNED_AT + timedelta(days=5)
    bench.fetch_requeued()

    assert "190" in bench.letters[0]["error"]
    assert "waited since" in bench.letters[0]["error"]


def test_a_missing_page_token_is_a_configuration_failure(bench: FetchBench, event: dict[str, Any]) -> None:
    del bench.secrets["meta_page_token"]
    bench.notify(event)

    assert bench.fetch().waiting == 1


def test_no_answer_of_the_lead_reaches_a_log_line(
    bench: FetchBench, event: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    bench.notify(event)
    bench.fetch()

    out = capsys.readouterr().out
    assert "Honda" not in out
    assert "joe@example.com" not in out
    assert "555-0148" not in out


def test_a_notification_body_that_is_not_an_entry_list_is_400(event: dict[str, Any]) -> None:
    assert deliver(with_json(event, {"object": "page"})).status == 400
