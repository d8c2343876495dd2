"""SyncService over the V2 gateway: delivering, merging, retrying, refusing, waiting and dead-lettering."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.sync.model import QueueRecord
from tests.unit.sync.harness import ANN, ANN_ID, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def bulk_calls(h: Harness) -> list[list[dict[str, Any]]]:
    return [data["contacts"] for route, data in h.heymarket.log if route == CONTACTS]


def test_a_clean_batch_of_new_contacts_costs_one_search_and_one_bulk_create_and_nothing_is_redelivered() -> None:
    h = Harness()

    report = h.process(upsert(ANN, first="Ann"), upsert(BOB))

    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    assert [c["phone"] for c in bulk_calls(h)[0]] == [ANN, BOB]
    assert all("contact_id" not in c for c in bulk_calls(h)[0])
    assert (report.failed_message_ids, report.delivered_contacts, h.letters.letters) == ([], 2, [])


def test_contacts_heymarket_holds_are_updated_by_their_uuid_in_the_same_bulk_request_as_the_creates() -> None:
    h = Harness()
    ann = h.heymarket.add(ANN, first="Ann", last="Lee")

    report = h.process(upsert(ANN, first="Anna"), upsert(BOB, first="Bob"))

    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    [sent] = bulk_calls(h)
    assert [c.get("contact_id") for c in sent] == [ann.uuid, None]
    assert [c.fields for c in h.heymarket.holding(ANN)] == [{"phone": ANN, "first": "Anna", "last": "Lee"}]
    assert (report.delivered_contacts, report.updated_existing) == (2, 1)


def test_contacts_heymarket_fails_go_to_the_dlq_with_the_error_and_the_rest_are_done() -> None:
    h = Harness()

    def fail_bob(data: Any) -> Any:
        ann, bob = data["contacts"]
        return 200, {
            "contacts": [{"id": 1, "uuid": "u-1", **ann}],
            "failed_contacts": [{"contact": bob, "error": "invalid email"}],
        }

    h.heymarket.script(CONTACTS, fail_bob)

    report = h.process(upsert(ANN), upsert(BOB))

    assert report.failed_message_ids == []
    [letter] = h.letters.letters
    assert (letter.error, (letter.contact or {})["phone"], letter.attempts) == ("invalid email", BOB, 1)
    assert letter.heymarket_request_id
    assert json.loads(letter.to_json())["attempts"] == 1
    assert h.heymarket.routes() == [SEARCH, CONTACTS, SEARCH]  # looked up again: still unknown, the refusal stands


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


def test_a_refused_chunk_is_split_until_the_refused_contact_is_isolated() -> None:
    h = Harness()
    bad = "15105550003"

    def refuse_if_bad(data: Any) -> Any:
        if any(c["phone"] == bad for c in data["contacts"]):
            return 400, {"error_code": "bad_data", "message": "phone"}
        return 200, {"contacts": [{"id": n, "uuid": f"u{n}", **c} for n, c in enumerate(data["contacts"])]}

    h.heymarket.script(CONTACTS, *[refuse_if_bad] * 20)
    records = [upsert(f"1510555000{i}") for i in range(8)]

    report = h.process(*records)

    assert [(letter.contact or {}).get("phone") for letter in h.letters.letters] == [bad]
    assert report.delivered_contacts == 7
    assert h.heymarket.routes().count(CONTACTS) <= 1 + 2 * 3 + 1  # a bisection (and one retry), not one per contact


def test_chunks_respect_the_maximum_batch_size() -> None:
    h = Harness(max_batch=10)

    h.process(*[upsert(f"151055510{i:02d}") for i in range(25)])

    assert [len(call) for call in bulk_calls(h)] == [10, 10, 5]
    assert h.heymarket.routes().count(SEARCH) == 3


def test_refused_credentials_are_not_hammered_and_the_messages_wait_without_using_up_their_receives() -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (401, {"error_code": "unauthorized"}), (401, {"error_code": "unauthorized"}))
    record = upsert(ANN)

    report = h.process(record)

    assert h.heymarket.routes() == [SEARCH, SEARCH]  # once more after re-reading the secret, then no more
    assert (report.failed_message_ids, h.letters.letters) == ([], [])
    assert h.waiting.bodies == [record.body]
    assert report.waiting_messages == 1
    assert "credentials" in (report.configuration_error or "")


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


@pytest.mark.parametrize(
    ("status", "headers"),
    [(301, {"Location": "https://www.heymarket.com/"}), (302, {"Location": "/login"}), (307, {})],
)
def test_a_redirect_is_a_configuration_error_not_a_refusal_and_nothing_is_split_or_dead_lettered(
    status: int, headers: dict[str, str]
) -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (status, b"", headers))
    records = [upsert(f"1510555000{i}") for i in range(6)]

    report = h.process(*records)

    assert h.heymarket.routes() == [SEARCH]
    assert (h.letters.letters, report.failed_message_ids) == ([], [])
    assert len(h.waiting.bodies) == 6
    assert "HeymarketBaseUrl" in (report.configuration_error or "")


def test_a_404_from_the_bulk_endpoint_is_a_configuration_error() -> None:
    h = Harness()
    h.heymarket.script(CONTACTS, (404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"}))

    report = h.process(upsert(ANN), upsert(BOB))

    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    assert (h.letters.letters, report.waiting_messages) == ([], 2)


def test_a_failure_heymarket_does_not_tie_to_a_contact_never_counts_as_delivered() -> None:
    h = Harness()
    h.heymarket.script(
        CONTACTS,
        lambda data: (
            200,
            {
                "contacts": [{"id": 1, "uuid": "u", **data["contacts"][0]}],
                "failed_contacts": [{"contact": {}, "error": "something failed"}],
            },
        ),
    )

    report = h.process(upsert(ANN), upsert(BOB))

    assert report.delivered_contacts == 1
    assert [(letter.contact or {}).get("phone") for letter in h.letters.letters] == [BOB]


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


def test_a_create_refused_because_someone_created_the_phone_meanwhile_is_sent_again_as_an_update() -> None:
    h = Harness()

    def created_meanwhile(data: Any) -> Any:
        h.heymarket.add(ANN, first="Other")
        return h.heymarket._bulk(data["contacts"])

    h.heymarket.script(CONTACTS, created_meanwhile)

    report = h.process(upsert(ANN, first="Ann"))

    [ann] = h.heymarket.holding(ANN)
    assert ann.fields["first"] == "Ann"
    assert (report.delivered_contacts, report.updated_existing, h.letters.letters) == (1, 1, [])


def test_an_update_of_a_contact_id_heymarket_no_longer_holds_is_stored_by_its_phone() -> None:
    h = Harness()

    report = h.process(upsert(ANN, first="Ann", contact_id=ANN_ID))

    [ann] = h.heymarket.holding(ANN)
    assert ann.fields["first"] == "Ann"
    assert h.heymarket.routes() == [f"GET /v2/contact/{ANN_ID}", "GET /v1/inboxes", SEARCH, CONTACTS]
    assert (report.delivered_contacts, h.letters.letters) == (1, [])


@pytest.mark.parametrize("omitted", ["keep", "clear"])
def test_an_update_of_the_contact_the_sender_names_keeps_what_it_leaves_out_whichever_way_heymarket_updates(
    omitted: str,
) -> None:
    # Given a contact Heymarket holds, opted out, and a Heymarket whose updates keep or clear the fields left out
    h = Harness()
    h.heymarket.update_omitted = omitted
    ann = h.heymarket.add(ANN, first="Ann", email="ann@example.com", custom={"7": "x"}, is_opted_out=True)

    # When a sender updates it by its contact_id with one field and one custom value
    report = h.process(upsert(ANN, last="Lee", custom={"8": "y"}, contact_id=ann.uuid))

    # Then it was read by its id (no search), and keeps every value the update left out
    [held] = h.heymarket.holding(ANN)
    assert held.fields == {
        "phone": ANN,
        "first": "Ann",
        "last": "Lee",
        "email": "ann@example.com",
        "custom": {"7": "x", "8": "y"},
        "is_opted_out": True,
    }
    assert h.heymarket.routes() == [f"GET /v2/contact/{ann.uuid}", CONTACTS]
    assert (report.delivered_contacts, h.letters.letters) == (1, [])


def test_a_refused_update_of_a_contact_heymarket_still_holds_stands() -> None:
    h = Harness()
    ann = h.heymarket.add(ANN)
    h.heymarket.script(
        CONTACTS,
        *[
            lambda data: (
                200,
                {"contacts": [], "failed_contacts": [{"contact": c, "error": "bad email"} for c in data["contacts"]]},
            )
        ]
        * 3,
    )

    h.process(upsert(ANN, email="x@example.com", contact_id=ann.uuid))

    [letter] = h.letters.letters
    assert letter.error == "bad email"
    assert h.heymarket.routes() == [f"GET /v2/contact/{ann.uuid}", CONTACTS, SEARCH]


def test_an_update_carries_the_held_values_of_the_fields_the_sender_left_out_and_never_an_empty_one() -> None:
    # Whether an update keeps the fields it leaves out is not documented: the search just read them, so the
    # update says them again, and the contact ends the same whichever way Heymarket behaves.
    h = Harness()
    h.heymarket.add(ANN, first="Ann", last="", email="ann@example.com", custom={"7": "x"}, is_opted_out=True)

    h.process(upsert(ANN, last="Lee", custom={"8": "y"}))

    [[sent]] = bulk_calls(h)
    assert {k: v for k, v in sent.items() if k not in ("contact_id", "contact_channels")} == {
        "phone": ANN,
        "first": "Ann",
        "last": "Lee",
        "email": "ann@example.com",
        "custom": {"7": "x", "8": "y"},
        "is_opted_out": True,
    }


def test_a_new_contact_is_sent_with_only_the_fields_the_sender_gave() -> None:
    h = Harness()

    h.process(upsert(ANN, last="Lee"))

    [[sent]] = bulk_calls(h)
    assert set(sent) == {"phone", "last", "contact_channels"}


def test_a_request_budget_used_up_to_the_deadline_on_the_last_receive_waits_like_a_429() -> None:
    # A share of HeymarketRateLimitPerMinute too small for the work is the account's limit, not the contact's fault.
    h = Harness(max_receive_count=1, requests_per_minute=1)
    records = [upsert(f"1510555000{n}", receive_count=1) for n in range(3)]
    h.heymarket.script(SEARCH, *[(500, {"message": "boom"})] * 10)

    report = h.process(*records, remaining_s=30)

    assert (h.letters.letters, report.failed_message_ids) == ([], [])
    assert len(h.waiting.bodies) == 3
