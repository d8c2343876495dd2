"""Opt-out wins at the contact gateway (adapters/heymarket/contacts: consent.py, gateway.py, chunk.py, v1.py; issue
21): the gateway never turns a contact Heymarket holds opted out into an opted-in one, on any path, unless a re-consent
allows it; what became of an opt-in is on each result; an opt-out reaches every contact holding the phone."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.contacts.consent import (
    HELD_IGNORED,
    HELD_NO_TIME,
    HELD_NOT_NEWER,
    HELD_NOT_SHOWN,
    HELD_OPTED_OUT,
    HELD_REFUSED,
)
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.sync.model import Identity, KnownContact, Stored
from tests.unit.sync.harness import ANN, Harness

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
BEFORE, STOPPED, AFTER = "2026-11-23T08:00:00.000Z", "2026-11-23T08:30:00.000Z", "2026-11-23T09:00:00.000Z"


def bulk_items(h: Harness) -> list[dict[str, Any]]:
    return [item for route, data in h.heymarket.log if route == CONTACTS for item in data["contacts"]]


def stored(result: object) -> Stored:
    assert isinstance(result, Stored), result
    return result


def opt_in(**fields: Any) -> Contact:
    return Contact(phone=ANN, is_opted_out=False, **fields)


# ---------------------------------------------------------------------- default: an opt-in is never written


def test_an_opt_in_over_an_opt_out_is_left_out_of_the_write_and_the_other_fields_are_written() -> None:
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [True]
    assert [c.fields["last"] for c in h.heymarket.holding(ANN)] == ["Lee"]
    assert stored(result).consent_held_back == HELD_OPTED_OUT


def test_a_held_back_opt_in_is_counted_and_logged_with_a_masked_phone(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True)

    h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert [getattr(r, "value", 0) for r in caplog.records if getattr(r, "metric", "") == "OptInsHeldBack"] == [1]
    held = [record for record in caplog.records if record.getMessage().startswith("Opt-in held back")]
    assert [getattr(record, "phone", None) for record in held] == ["15*****1234"]
    assert ANN not in caplog.text


def test_an_opt_in_of_a_contact_opted_in_is_not_sent_and_is_reported_applied() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=False)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert all("is_opted_out" not in item for item in bulk_items(h))
    assert stored(result).consent_held_back is None


def test_a_new_contact_asking_for_an_opt_in_is_created_without_the_field_and_reported_applied() -> None:
    h = Harness()

    [result] = h.gateway.upsert([opt_in(first="Ann")], h.deadline())

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert stored(result).consent_held_back is None


def test_a_contact_that_asked_for_no_opt_in_has_nothing_held_back() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True)

    [result] = h.gateway.upsert([Contact(phone=ANN, last="Lee")], h.deadline())

    assert stored(result).consent_held_back is None


def test_an_update_that_leaves_the_opt_out_out_never_says_an_opt_in_again_where_updates_clear_what_they_omit() -> None:
    # Given updates that clear what they leave out, and a contact opted in as the look-up shows it
    h = Harness()
    h.heymarket.update_omitted = "clear"
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)

    h.gateway.upsert([Contact(phone=ANN, last="Lee")], h.deadline())

    # Then the update completes the names, but does not say is_opted_out false (it would undo a STOP texted since)
    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert [item.get("first") for item in bulk_items(h)] == ["Ann"]


def test_an_opt_in_of_a_known_contact_written_without_a_look_up_is_left_out_and_reported_held_back() -> None:
    # Given an instance that knows updates keep what they leave out, and a contact it stored, since opted out
    h = Harness()
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"
    # (the snapshot holds every field the update writes: a write by id that adds a field the snapshot lacks is looked
    # up first, issue 22's moved-contact rule)
    known = KnownContact(Identity(contact.id, contact.uuid), Contact(phone=ANN, first="Ann", last="Li"))

    [result] = gateway.upsert([opt_in(last="Lee")], h.deadline(), [known])

    assert SEARCH not in h.heymarket.routes()
    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert stored(result).consent_held_back == HELD_OPTED_OUT
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True


def test_an_opt_in_of_a_contact_named_by_contact_id_is_left_out() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(contact_id=contact.uuid, last="Lee")], h.deadline())

    assert all(item.get("is_opted_out") is not False for item in bulk_items(h))
    assert (contact.fields["is_opted_out"], contact.fields["last"]) == (True, "Lee")
    assert stored(result).consent_held_back == HELD_OPTED_OUT


def test_an_opt_in_of_a_contact_known_by_integer_id_only_is_left_out_of_the_v1_write() -> None:
    h = Harness()
    h.heymarket.uuids = False
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)
    known = KnownContact(Identity(contact.id, None), None)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"

    [result] = gateway.upsert([opt_in(last="Lee")], h.deadline(), [known])

    puts = [data for route, data in h.heymarket.log if route.startswith("PUT /v1/contact/")]
    # Looked up first (below), the v1 body is completed from the look-up: it may repeat the opt-out, never the opt-in.
    assert len(puts) == 1
    assert puts[0].get("is_opted_out") is not False
    assert contact.fields["is_opted_out"] is True
    # A contact known by its integer id only is looked up first (the v1 answer shows no phone to check the binding
    # against), so the look-up shows why: Heymarket holds it opted out.
    assert stored(result).consent_held_back == HELD_OPTED_OUT


@pytest.mark.parametrize(("overwrite", "reason"), [(True, HELD_OPTED_OUT), (False, HELD_NOT_SHOWN)])
def test_v1_mode_leaves_an_opt_in_out_of_the_batch(overwrite: bool, reason: str) -> None:
    h = Harness(v1=True, v1_overwrite=overwrite)
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    [batch] = [data for route, data in h.heymarket.log if route == "POST /v1/batch/contacts"]
    assert [item.get("is_opted_out") for item in batch] == [True if overwrite else None]
    assert contact.fields["is_opted_out"] is True
    assert stored(result).consent_held_back == reason


# ---------------------------------------------------------------------- re-consent, where the operator allows it


def test_a_re_consent_newer_than_heymarkets_last_change_of_the_opted_out_contact_is_written() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [False]
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is False
    assert stored(result).consent_held_back is None


@pytest.mark.parametrize(("updated", "reason"), [(STOPPED, HELD_NOT_NEWER), (None, HELD_NO_TIME)])
def test_a_re_consent_not_shown_newer_than_the_opt_out_is_held_back(updated: str | None, reason: str) -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True, **({"updated": updated} if updated else {}))

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[BEFORE])

    assert all(item.get("is_opted_out") is not False for item in bulk_items(h))
    assert stored(result).consent_held_back == reason


def test_a_re_consent_of_a_known_contact_is_looked_up_first() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"
    known = KnownContact(Identity(contact.id, contact.uuid), Contact(phone=ANN))

    gateway.upsert([opt_in(last="Lee")], h.deadline(), [known], [AFTER])

    assert h.heymarket.routes()[0] == SEARCH


def test_a_re_consent_heymarket_refuses_is_sent_again_without_it_and_the_other_fields_are_written() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    def refused(data: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"contacts": [], "failed_contacts": [{"contact": data["contacts"][0], "error": "opted out"}]}

    h.heymarket.script(CONTACTS, refused)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [False, True]
    assert (contact.fields["is_opted_out"], contact.fields["last"]) == (True, "Lee")
    assert stored(result).consent_held_back == HELD_REFUSED


def test_a_re_consent_refused_with_a_400_is_sent_again_without_it() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)
    h.heymarket.script(CONTACTS, (400, {"error_code": "bad_data", "message": "is_opted_out"}))

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert contact.fields["last"] == "Lee"
    assert stored(result).consent_held_back == HELD_REFUSED


def test_a_re_consent_heymarket_ignores_is_reported_held_back() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    def ignored(data: dict[str, Any]) -> tuple[int, Any]:
        contact.fields.update({k: v for k, v in data["contacts"][0].items() if k not in ("contact_id", "is_opted_out")})
        return 200, {"contacts": [contact.as_answer(True)], "failed_contacts": []}

    h.heymarket.script(CONTACTS, ignored)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert stored(result).consent_held_back == HELD_IGNORED


# ---------------------------------------------------------------------- an opt-out reaches every holder of the phone


def test_an_opt_out_is_written_to_every_contact_holding_the_phone_keeping_their_fields() -> None:
    # Given two contacts holding Ann's phone (one made in Heymarket's app)
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)
    h.heymarket.add(ANN, first="Ann (app)", email="ann@example.com", is_opted_out=False)

    [result] = h.gateway.upsert([Contact(phone=ANN, is_opted_out=True)], h.deadline())

    assert stored(result).opted_out is True
    assert [(c.fields["first"], c.fields.get("email"), c.fields["is_opted_out"]) for c in h.heymarket.holding(ANN)] == [
        ("Ann", None, True),
        ("Ann (app)", "ann@example.com", True),
    ]


def test_an_opt_out_of_a_phone_held_by_one_contact_costs_no_request_more() -> None:
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)

    h.gateway.upsert([Contact(phone=ANN, is_opted_out=True)], h.deadline())

    assert h.heymarket.routes() == [SEARCH, CONTACTS]
