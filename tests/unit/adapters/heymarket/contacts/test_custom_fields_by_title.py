"""The custom field list (`contacts/deletes.py`, `POST /v1/contact-fields`) for contacts whose custom values are
keyed by title."""

from __future__ import annotations

from tests.unit.sync.harness import ANN, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


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
