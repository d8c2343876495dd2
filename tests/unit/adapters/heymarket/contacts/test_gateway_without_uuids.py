"""V2Gateway when Heymarket's answers carry integer ids only: v1 writes and deletes by integer id (`contacts/v1.py`,
`contacts/chunk.py`), then v2 by the UUID answered."""

from __future__ import annotations

from tests.unit.sync.harness import ANN, BOB, Harness, delete, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


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
