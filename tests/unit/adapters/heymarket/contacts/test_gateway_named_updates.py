"""Updates a sender names by contact_id (`contacts/named.py`): read by id, kept fields, an id Heymarket no longer
holds."""

from __future__ import annotations

import pytest

from tests.unit.sync.harness import ANN, ANN_ID, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


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
