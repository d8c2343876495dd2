"""V2Gateway retries over the wire double (through SyncService): backoff, Retry-After, lost answers, the deadline and
the last receive."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.sync.model import QueueRecord
from tests.unit.sync.harness import ANN, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def bulk_calls(h: Harness) -> list[list[dict[str, Any]]]:
    return [data["contacts"] for route, data in h.heymarket.log if route == CONTACTS]


def test_transient_errors_are_retried_with_backoff_inside_the_invocation() -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (500, {"error_code": "internal"}), (429, {"error_code": "rate_limited"}))

    report = h.process(upsert(ANN))

    assert h.heymarket.routes() == [SEARCH, SEARCH, SEARCH, CONTACTS]
    assert (report.delivered_contacts, report.failed_message_ids) == (1, [])
    assert h.clock.now - 1000.0 >= 0.5 + 1.0  # two backoffs, each at least the full base delay


def test_an_update_whose_answer_was_lost_is_sent_again_in_the_invocation() -> None:
    h = Harness()
    h.heymarket.add(ANN)
    h.heymarket.script(CONTACTS, (503, {"message": "unavailable"}))

    report = h.process(upsert(ANN, first="Ann"))

    assert h.heymarket.routes() == [SEARCH, CONTACTS, SEARCH, CONTACTS]
    assert (report.delivered_contacts, report.failed_message_ids) == (1, [])


def test_a_create_whose_request_may_still_be_taking_effect_waits_for_the_next_receive_not_sent_again() -> None:
    # A 5xx, a reset or no answer in time: the create may land later. Looking the phone up again at once could miss
    # it, and where Heymarket makes a second contact for a phone it holds, sending the create again would.
    h = Harness()
    h.heymarket.script(CONTACTS, (500, {"error_code": "internal"}))
    ann, bob = upsert(ANN), upsert(BOB)
    h.heymarket.add(BOB)

    report = h.process(ann, bob)

    assert report.failed_message_ids == [ann.message_id]
    assert h.heymarket.routes() == [SEARCH, CONTACTS, SEARCH, CONTACTS]  # the update of Bob, sent again alone
    assert [c["phone"] for c in bulk_calls(h)[1]] == [BOB]
    assert h.letters.letters == []


@pytest.mark.parametrize("duplicate_create", ["refuse", "update", "duplicate"])
def test_a_create_whose_answer_was_lost_becomes_an_update_on_the_next_receive_never_a_second_contact(
    duplicate_create: str,
) -> None:
    h = Harness()
    h.heymarket.duplicate_create = duplicate_create

    def store_then_fail(data: Any) -> Any:
        h.heymarket._bulk(data["contacts"])  # Heymarket stored it; the answer never arrived
        return 502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"}

    h.heymarket.script(CONTACTS, store_then_fail)
    record = upsert(ANN, first="Ann")

    first = h.process(record)
    again = h.process(QueueRecord(record.message_id, record.body, 2))

    assert first.failed_message_ids == [record.message_id]
    assert [c.fields["first"] for c in h.heymarket.holding(ANN)] == ["Ann"]
    assert h.heymarket.routes() == [SEARCH, CONTACTS, SEARCH, CONTACTS]
    assert "contact_id" in bulk_calls(h)[1][0]
    assert (again.delivered_contacts, again.failed_message_ids) == (1, [])


def test_retry_after_is_honoured_when_heymarket_sends_one() -> None:
    h = Harness()
    h.heymarket.script(CONTACTS, (429, {"error_code": "rate_limited"}, {"Retry-After": "7"}))

    h.process(upsert(ANN))

    assert h.clock.now - 1000.0 >= 7


def test_transient_errors_until_the_deadline_become_batch_item_failures() -> None:
    h = Harness()
    h.heymarket.script(CONTACTS, *[(500, {"message": "boom"})] * 100)

    records = [upsert(ANN), upsert(BOB)]

    report = h.process(*records, remaining_s=30)

    assert sorted(report.failed_message_ids) == sorted(r.message_id for r in records)
    assert h.letters.letters == []
    assert h.clock.now <= 1000.0 + 30 - 5  # stopped before the reserve kept for reporting


def test_on_the_final_receive_a_transient_failure_goes_to_the_dlq_with_the_last_error() -> None:
    h = Harness(max_receive_count=5)
    h.heymarket.script(CONTACTS, *[(503, {"message": "maintenance"})] * 100)
    last, early = upsert(ANN, receive_count=5), upsert(BOB, receive_count=2)

    report = h.process(last, early, remaining_s=20)

    assert report.failed_message_ids == [early.message_id]
    [letter] = h.letters.letters
    assert "Heymarket answered 503: maintenance" in letter.error
    assert letter.attempts == 5
