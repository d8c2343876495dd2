"""SyncService's order of an upsert and a delete of one contact in one batch (`sync/lanes.py`), over the wire double."""

from __future__ import annotations

from tests.unit.sync.harness import ANN, Harness, delete, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


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
