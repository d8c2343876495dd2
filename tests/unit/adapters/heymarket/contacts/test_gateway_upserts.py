"""V2Gateway upserts over the wire double (through SyncService): one search and one bulk request per chunk, updates
by UUID, what a bulk answer refuses, and the held values an update carries."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.sync.harness import ANN, BOB, Harness, upsert

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
