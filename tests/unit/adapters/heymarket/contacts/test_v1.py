"""V1Gateway (`contacts/v1.py`): the legacy batch endpoint, its overwrite setting, its failed list, fields it does
not take."""

from __future__ import annotations

from tests.unit.sync.harness import ANN, ANN_ID, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
DELETE = "DELETE /v2/contacts"
FIELDS = "POST /v1/contact-fields"


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


def test_v1_mode_completes_an_overwrite_with_the_held_values_of_the_fields_left_out() -> None:
    h = Harness(v1=True)
    h.heymarket.add(ANN, first="Ann", last="Lee", email="ann@example.com", is_opted_out=True)

    h.process(upsert(ANN, first="Anna"))

    [sent] = [d for r, d in h.heymarket.log if r == "POST /v1/batch/contacts"]
    assert sent == [{"phone": ANN, "first": "Anna", "last": "Lee", "email": "ann@example.com", "is_opted_out": True}]
    assert h.heymarket.routes() == [SEARCH, "POST /v1/batch/contacts"]
