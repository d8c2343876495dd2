"""Deletes (`contacts/deletes.py`) over the wire double (through SyncService): one request after one search, chunks,
refusals split and settled, 404s."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sync.harness import ANN, ANN_ID, BOB, Harness, delete

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


def deleted_ids(h: Harness) -> list[list[str]]:
    return [data["contact_channels"][0]["channel_ids"] for route, data in h.heymarket.log if route == DELETE]


def test_deletes_by_id_and_by_phone_go_in_one_request_after_one_search() -> None:
    h = Harness()
    ann, bob = h.heymarket.add(ANN), h.heymarket.add(BOB)

    report = h.process(delete(contact_id=ann.uuid), delete(phone=BOB))

    assert h.heymarket.routes() == [SEARCH, DELETE]
    assert deleted_ids(h) == [[ann.uuid, bob.uuid]]
    assert h.heymarket.contacts == []
    assert (report.deleted_contacts, report.failed_message_ids, h.letters.letters) == (2, [], [])


def test_a_delete_by_phone_deletes_every_contact_heymarket_holds_for_it() -> None:
    h = Harness()
    h.heymarket.add(ANN)
    h.heymarket.add(ANN)  # a second contact with the same phone, as a create may make

    report = h.process(delete(phone=ANN))

    assert (h.heymarket.contacts, report.deleted_contacts) == ([], 2)


def test_a_phone_no_contact_holds_is_deleted_without_a_delete_request_or_a_dead_letter() -> None:
    h = Harness()

    report = h.process(delete(phone=ANN))

    assert h.heymarket.routes() == [SEARCH]
    assert (report.failed_message_ids, h.letters.letters, report.deleted_contacts) == ([], [], 0)


@pytest.mark.parametrize(
    "answer",
    [
        (400, {"error_code": "bad_data", "message": "unknown contact"}),
        (404, {"error_code": "not_found", "message": "contact not found"}),
    ],
)
def test_an_id_heymarket_refuses_to_delete_because_it_no_longer_holds_it_is_a_success(answer: Any) -> None:
    h = Harness()
    bob = h.heymarket.add(BOB)
    h.heymarket.script(DELETE, answer)

    report = h.process(delete(contact_id=ANN_ID), delete(contact_id=bob.uuid))

    assert h.heymarket.contacts == []
    assert deleted_ids(h) == [[ANN_ID, bob.uuid], [ANN_ID], [bob.uuid]]  # split to find the one it no longer holds
    assert (report.failed_message_ids, h.letters.letters) == ([], [])


def test_a_delete_answered_other_than_ok_is_not_counted_as_done() -> None:
    h = Harness()
    ann = h.heymarket.add(ANN)
    h.heymarket.script(DELETE, *[(200, b"<html>maintenance</html>", {"Content-Type": "text/html"})] * 100)

    report = h.process(delete(contact_id=ann.uuid), remaining_s=20)

    assert report.deleted_contacts == 0
    assert len(report.failed_message_ids) == 1
    assert h.letters.letters == []


def test_deletes_are_sent_in_chunks_of_the_maximum_batch() -> None:
    h = Harness(max_batch=2)
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(5)]

    h.process(*[delete(contact_id=i) for i in ids])

    assert [len(call) for call in deleted_ids(h)] == [2, 2, 1]


def test_a_delete_heymarket_keeps_refusing_for_a_contact_it_holds_is_dead_lettered_alone() -> None:
    h = Harness()
    contacts = [h.heymarket.add(f"1510555000{n}") for n in range(4)]
    bad = contacts[2].uuid

    def refuse_bad(data: Any) -> Any:
        ids = data["contact_channels"][0]["channel_ids"]
        if bad in ids:
            return 400, {"error_code": "bad_data", "message": "cannot delete"}
        return h.heymarket._answer("DELETE", "/v2/contacts", {}, data)

    h.heymarket.script(DELETE, *[refuse_bad] * 10)

    report = h.process(*[delete(contact_id=c.uuid) for c in contacts])

    assert [letter.contact for letter in h.letters.letters] == [{"contact_id": bad}]
    assert "400" in h.letters.letters[0].error
    assert report.failed_message_ids == []


def test_a_404_to_the_bulk_delete_of_a_contact_just_found_is_a_configuration_error_not_done_not_refused() -> None:
    h = Harness()
    held = [h.heymarket.add(f"1510555000{n}") for n in range(4)]
    h.heymarket.script(DELETE, *[(404, b"<html>nginx</html>", {"Content-Type": "text/html"})] * 20)

    report = h.process(*[delete(phone=c.fields["phone"]) for c in held])

    assert len(h.heymarket.contacts) == 4
    assert (report.deleted_contacts, h.letters.letters, report.failed_message_ids) == (0, [], [])
    assert len(h.waiting.bodies) == 4  # they wait for the fix, without using up their receives
    assert "HeymarketBaseUrl" in (report.configuration_error or "")


def test_a_404_to_the_check_of_a_sender_named_id_after_a_refused_delete_counts_it_gone() -> None:
    h = Harness()
    h.heymarket.script(DELETE, (404, {"error_code": "not_found"}))

    report = h.process(delete(contact_id=ANN_ID))

    assert (report.failed_message_ids, h.letters.letters, h.waiting.bodies) == ([], [], [])
    # The first answer of the invocation is a 404: GET /v1/inboxes first shows that the base URL works.
    assert h.heymarket.routes() == [DELETE, "GET /v1/inboxes", "GET /v2/contact/" + ANN_ID]


def test_a_check_heymarket_refuses_with_another_4xx_cannot_tell_and_the_delete_is_retried_later() -> None:
    h = Harness()
    h.heymarket.script(DELETE, *[(400, {"error_code": "bad_data"})] * 50)
    h.heymarket.script("GET /v2/contact/*", *[(409, {"error_code": "conflict"})] * 50)

    report = h.process(delete(contact_id=ANN_ID), remaining_s=10)

    assert (h.letters.letters, report.deleted_contacts) == ([], 0)
    assert len(report.failed_message_ids) == 1
