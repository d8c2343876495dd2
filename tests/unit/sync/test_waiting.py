"""SyncService's choice to put contacts back to wait rather than dead-letter them: placeholder credentials,
throttling and a used-up request budget on the last receive; and the dead letter once a message waited as long as
the queue keeps it."""

from __future__ import annotations

from tests.unit.sync.harness import ANN, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def test_placeholder_credentials_make_contacts_wait_without_any_request() -> None:
    h = Harness(secret={"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"})
    record = upsert(ANN)

    report = h.process(record)

    assert h.heymarket.routes() == []
    assert (h.waiting.bodies, h.letters.letters, report.failed_message_ids) == ([record.body], [], [])


def test_a_message_that_waited_as_long_as_the_queue_keeps_messages_is_dead_lettered_with_the_cause() -> None:
    h = Harness(secret={"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"})
    old = upsert(ANN, received_at="2026-11-19T09:00:00.000+00:00")  # four days before the harness's now

    h.process(old)

    [letter] = h.letters.letters
    assert "REPLACE_ME" in letter.error
    assert h.waiting.bodies == []


def test_throttling_that_outlasts_the_last_receive_waits_instead_of_dead_lettering() -> None:
    h = Harness(max_receive_count=3)
    h.heymarket.script(SEARCH, *[(429, {"error_code": "rate_limited"})] * 100)
    record = upsert(ANN, receive_count=3)

    report = h.process(record, remaining_s=20)

    assert (h.letters.letters, report.failed_message_ids, h.waiting.bodies) == ([], [], [record.body])


def test_a_request_budget_used_up_to_the_deadline_on_the_last_receive_waits_like_a_429() -> None:
    # A share of HeymarketRateLimitPerMinute too small for the work is the account's limit, not the contact's fault.
    h = Harness(max_receive_count=1, requests_per_minute=1)
    records = [upsert(f"1510555000{n}", receive_count=1) for n in range(3)]
    h.heymarket.script(SEARCH, *[(500, {"message": "boom"})] * 10)

    report = h.process(*records, remaining_s=30)

    assert (h.letters.letters, report.failed_message_ids) == ([], [])
    assert len(h.waiting.bodies) == 3
