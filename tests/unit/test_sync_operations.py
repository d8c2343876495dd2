"""SyncService with deletes, integer-only identifiers, the v1 batch endpoint and custom fields by title."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.sync.harness import ANN, ANN_ID, BOB, Harness, delete, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


def deleted_ids(h: Harness) -> list[list[str]]:
    return [data["contact_channels"][0]["channel_ids"] for route, data in h.heymarket.log if route == DELETE]


# ---------------------------------------------------------------- deletes


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


# ---------------------------------------------------------------- ordering


def test_an_upsert_then_a_delete_of_one_phone_sends_only_the_delete() -> None:
    h = Harness()
    h.heymarket.add(ANN)

    report = h.process(upsert(ANN, first="Ann"), delete(phone=ANN))

    assert h.heymarket.routes() == [SEARCH, DELETE]
    assert h.heymarket.contacts == []
    assert (report.failed_message_ids, h.letters.letters, report.merged_messages) == ([], [], 1)


def test_a_delete_then_an_upsert_of_one_contact_deletes_then_creates_it_afresh() -> None:
    h = Harness()
    ann = h.heymarket.add(ANN, last="Old")

    report = h.process(delete(contact_id=ann.uuid), upsert(ANN, first="Ann", contact_id=ann.uuid))

    assert h.heymarket.routes() == [DELETE, SEARCH, CONTACTS]
    [stored] = h.heymarket.holding(ANN)
    assert stored.uuid != ann.uuid
    assert stored.fields == {"phone": ANN, "first": "Ann"}
    assert (report.failed_message_ids, h.letters.letters) == ([], [])


# ---------------------------------------------------------------- integer-only identifiers


def test_without_uuids_in_answers_existing_contacts_are_updated_with_v1_by_integer_id_keeping_their_names() -> None:
    h = Harness()
    h.heymarket.uuids = False
    ann = h.heymarket.add(ANN, first="Ann", last="Lee")

    report = h.process(upsert(ANN, email="ann@example.com", custom={"101": "North"}), upsert(BOB, first="Bob"))

    assert h.heymarket.routes() == [SEARCH, CONTACTS, f"PUT /v1/contact/{ann.id}"]
    put = h.heymarket.log[2][1]
    assert put == {"phone": ANN, "email": "ann@example.com", "custom": {"101": "North"}, "first": "Ann", "last": "Lee"}
    assert (report.delivered_contacts, report.updated_existing) == (2, 1)


def test_without_uuids_fields_the_v1_write_does_not_take_follow_in_a_v2_update_by_the_uuid_it_answered() -> None:
    h = Harness()
    h.heymarket.uuids = False
    ann = h.heymarket.add(ANN, first="Ann")

    h.process(upsert(ANN, tags=(3,)))

    assert h.heymarket.routes() == [SEARCH, f"PUT /v1/contact/{ann.id}", CONTACTS]
    [[sent]] = [data["contacts"] for route, data in h.heymarket.log if route == CONTACTS]
    assert (sent["contact_id"], sent["tags"]) == (ann.uuid, [{"tag_id": 3}])


def test_without_uuids_the_v2_update_that_follows_the_v1_write_carries_the_held_values_too() -> None:
    # An update that replaced the whole contact would otherwise clear what the v1 write kept (issue 17 found it:
    # tags by name make this path common).
    h = Harness()
    h.heymarket.uuids = False
    h.heymarket.add(ANN, first="Ann", email="ann@example.com", custom={"101": "North"})

    h.process(upsert(ANN, last="Lee", tags=(3,)))

    [[sent]] = [data["contacts"] for route, data in h.heymarket.log if route == CONTACTS]
    assert (sent["first"], sent["last"], sent["email"], sent["custom"]) == (
        "Ann",
        "Lee",
        "ann@example.com",
        {"101": "North"},
    )


def test_without_uuids_a_contacts_lists_alone_need_no_v2_update() -> None:
    h = Harness()
    h.heymarket.uuids = False
    ann = h.heymarket.add(ANN, first="Ann")

    h.process(upsert(ANN, last="Lee", lists=(h.heymarket.add_list("Spring"),)))

    assert h.heymarket.routes() == [SEARCH, f"PUT /v1/contact/{ann.id}", "PUT /v2/lists/42"]


def test_without_uuids_a_delete_by_phone_uses_the_v1_delete_by_integer_id() -> None:
    h = Harness()
    h.heymarket.uuids = False
    ann = h.heymarket.add(ANN)

    report = h.process(delete(phone=ANN))

    assert h.heymarket.routes() == [SEARCH, f"DELETE /v1/contact/{ann.id}"]
    assert (h.heymarket.contacts, report.deleted_contacts) == ([], 1)


# ---------------------------------------------------------------- v1 mode


def test_v1_mode_sends_the_documented_fields_with_the_overwrite_setting() -> None:
    h = Harness(v1=True, v1_overwrite=False)

    report = h.process(upsert(ANN, first="Ann", email="ann@example.com", contact_id=ANN_ID))

    assert h.heymarket.log == [
        ("POST /v1/batch/contacts", [{"phone": ANN, "first": "Ann", "email": "ann@example.com"}])
    ]
    assert report.delivered_contacts == 1


def test_v1_mode_dead_letters_the_contacts_heymarket_lists_as_failed_and_delivers_the_rest() -> None:
    h = Harness(v1=True)
    h.heymarket.script("POST /v1/batch/contacts", lambda data: (200, [c for c in data if c["phone"] == BOB]))

    report = h.process(upsert(ANN), upsert(BOB))

    assert [(letter.contact or {}).get("phone") for letter in h.letters.letters] == [BOB]
    assert (report.delivered_contacts, report.failed_message_ids) == (1, [])


def test_v1_mode_dead_letters_a_contact_with_fields_v1_does_not_take_naming_them() -> None:
    h = Harness(v1=True)

    h.process(upsert(ANN, tags=(3,), custom={"1": "x"}))

    assert h.heymarket.log == []
    [letter] = h.letters.letters
    assert "custom, tags" in letter.error
    assert "v2" in letter.error


# ---------------------------------------------------------------- custom fields by title


def test_a_field_list_that_is_not_a_list_is_not_taken_for_an_empty_one() -> None:
    h = Harness()
    h.heymarket.script(FIELDS, *[(200, b"<html>login</html>", {"Content-Type": "text/html"})] * 200)
    titled = upsert(ANN, custom={"Campus": "North"})

    report = h.process(titled, remaining_s=20)

    assert (report.failed_message_ids, h.letters.letters) == ([titled.message_id], [])


def test_a_refused_custom_field_list_leaves_the_titled_contacts_for_redelivery_and_never_crashes() -> None:
    h = Harness()
    h.heymarket.script(FIELDS, *[(400, {"error_code": "bad_data", "message": "nope"})] * 10)
    titled = upsert(ANN, custom={"Campus": "North"})

    report = h.process(titled, upsert(BOB), remaining_s=20)

    assert report.failed_message_ids == [titled.message_id]
    assert report.delivered_contacts == 1


# ---------------------------------------------------------------- 404s from endpoints that exist


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


def test_without_uuids_a_404_to_the_v1_delete_of_a_contact_just_found_is_a_configuration_error() -> None:
    h = Harness()
    h.heymarket.uuids = False
    ann = h.heymarket.add(ANN)
    h.heymarket.script("DELETE /v1/contact/*", *[(404, b"Not Found")] * 20)

    report = h.process(delete(phone=ANN))

    assert [c.id for c in h.heymarket.contacts] == [ann.id]
    assert (report.deleted_contacts, h.letters.letters, len(h.waiting.bodies)) == (0, [], 1)


def test_without_uuids_a_404_to_the_v1_update_of_a_contact_just_found_is_a_configuration_error() -> None:
    h = Harness()
    h.heymarket.uuids = False
    h.heymarket.add(ANN, first="Ann")
    h.heymarket.script("PUT /v1/contact/*", *[(404, b"Not Found")] * 20)

    report = h.process(upsert(ANN, first="Anna"))

    assert (h.letters.letters, len(h.waiting.bodies), report.delivered_contacts) == ([], 1, 0)


def test_v1_mode_completes_an_overwrite_with_the_held_values_of_the_fields_left_out() -> None:
    h = Harness(v1=True)
    h.heymarket.add(ANN, first="Ann", last="Lee", email="ann@example.com", is_opted_out=True)

    h.process(upsert(ANN, first="Anna"))

    [sent] = [d for r, d in h.heymarket.log if r == "POST /v1/batch/contacts"]
    assert sent == [{"phone": ANN, "first": "Anna", "last": "Lee", "email": "ann@example.com", "is_opted_out": True}]
    assert h.heymarket.routes() == [SEARCH, "POST /v1/batch/contacts"]
