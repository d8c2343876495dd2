"""The zero-loss audit that the guarantee tests and benchmarks rely on must catch every kind of violation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from heymarket_bridge.domain.contact import parse_contact
from heymarket_local.audit import Write, WriteRecorder, audit, distinct_phones, expected_fields, load_contact
from heymarket_sandbox import ContactWrite

ADA = "14155550100"
BOB = "14155550101"
SENT = {ADA: {"first": "Ada"}, BOB: {"first": "Bob"}}


def letter(phone: str, error: str) -> str:
    return json.dumps({"error": error, "contact": {"phone": phone}, "message": "{}"})


def test_every_contact_delivered_or_dead_lettered_with_a_reason_passes() -> None:
    result = audit(SENT, [{"phone": ADA, "first": "Ada"}], [letter(BOB, "invalid phone")])

    assert result.ok, result.problems()
    assert result.delivered == {ADA}
    assert result.dead_lettered == {BOB: "invalid phone"}


def test_a_contact_neither_delivered_nor_dead_lettered_is_lost() -> None:
    result = audit(SENT, [{"phone": ADA, "first": "Ada"}], [])

    assert not result.ok
    assert result.lost == [BOB]


def test_a_dead_letter_without_a_reason_fails_the_audit() -> None:
    result = audit(SENT, [{"phone": ADA, "first": "Ada"}], [letter(BOB, " ")])

    assert not result.ok
    assert result.letters_without_reason == [BOB]
    assert result.lost == [BOB]


def test_a_contact_stored_with_other_values_fails_the_audit() -> None:
    result = audit(SENT, [{"phone": ADA, "first": "Ada"}, {"phone": BOB, "first": "Ada"}], [])

    assert result.wrong_values == [BOB]
    assert not result.ok


def test_a_repeated_write_is_allowed_only_with_the_same_values() -> None:
    stored = [{"phone": ADA, "first": "Ada"}, {"phone": BOB, "first": "Bob"}]
    writes = {
        ADA: [Write(ADA, {"first": "Ada"}, 1.0), Write(ADA, {"first": "Ada"}, 2.0)],
        BOB: [Write(BOB, {"first": "Bobby"}, 1.0), Write(BOB, {"first": "Bob"}, 2.0)],
    }

    result = audit(SENT, stored, [], writes)

    assert result.written_more_than_once == 2
    assert result.divergent_writes == [BOB]
    assert not result.ok


def test_a_contact_ending_with_an_older_version_than_the_newest_accepted_fails_the_audit() -> None:
    # Given Ada accepted as "Ada" then as "Ada Lee", and Bob as "Bobby" then "Bob"
    history = {ADA: [{"first": "Ada", "last": "Ann"}, {"first": "Ada", "last": "Lee"}], BOB: [{"first": "Bobby"}]}
    newest = {ADA: {"first": "Ada", "last": "Lee"}, BOB: {"first": "Bob"}}
    stored = [{"phone": ADA, "first": "Ada", "last": "Ann"}, {"phone": BOB, "first": "Robert"}]

    result = audit(newest, stored, [], history=history)

    assert (result.older_values, result.wrong_values) == ([ADA], [BOB])
    assert not result.ok


def test_writes_of_different_accepted_versions_are_not_divergent_but_a_write_of_none_of_them_is() -> None:
    history = {ADA: [{"first": "Ada"}, {"first": "Adele"}], BOB: [{"first": "Bob"}, {"first": "Rob"}]}
    newest = {ADA: {"first": "Adele"}, BOB: {"first": "Rob"}}
    stored = [{"phone": ADA, "first": "Adele"}, {"phone": BOB, "first": "Rob"}]
    writes = {
        ADA: [Write(ADA, {"first": "Ada"}, 1.0), Write(ADA, {"first": "Adele"}, 2.0)],
        BOB: [Write(BOB, {"first": "Bobby"}, 1.0), Write(BOB, {"first": "Rob"}, 2.0)],
    }

    result = audit(newest, stored, [], writes, history)

    assert result.divergent_writes == [BOB]


def test_a_contact_no_sender_was_answered_202_for_fails_the_audit() -> None:
    stored = [{"phone": ADA, "first": "Ada"}, {"phone": BOB, "first": "Bob"}, {"phone": "14155550102"}]

    assert audit(SENT, stored, []).unexpected == ["14155550102"]


def test_load_contacts_are_valid_distinct_and_identifiable() -> None:
    phones = distinct_phones(2000)

    contacts = [load_contact(phone, index) for index, phone in enumerate(phones)]

    assert len(set(phones)) == 2000
    assert [parse_contact(contact, "US").phone for contact in contacts] == phones
    assert expected_fields(contacts[7]) == {"first": "F7", "last": "load-7", "email": "c7@example.com"}


def test_a_phone_holding_a_field_only_another_person_was_accepted_with_fails_the_audit() -> None:
    # Given Bob's contact holding his own first name, and Ada's email (Ada's number moved onto his contact's)
    accepted = {ADA: {"first": "Ada", "email": "ada@example.com"}, BOB: {"first": "Bob"}}
    stored = [{"phone": ADA, "first": "Ada", "email": "ada@example.com"}, {"phone": BOB, "first": "Bob"}]
    stored[1]["email"] = "ada@example.com"

    result = audit(accepted, stored, [])

    # Then his own values are right, but he carries another person's field
    assert result.wrong_values == []
    assert result.foreign_fields == [BOB]
    assert not result.ok


def test_a_value_two_people_were_accepted_with_is_not_another_persons_field() -> None:
    accepted = {ADA: {"first": "Sam"}, BOB: {"first": "Sam"}}

    result = audit(accepted, [{"phone": ADA, "first": "Sam"}, {"phone": BOB, "first": "Sam"}], [])

    assert result.foreign_fields == []
    assert result.ok, result.problems()


class FakeSandbox:
    """What WriteRecorder uses of a sandbox: its write listeners, fed by the test."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[ContactWrite], None]] = []

    def add_write_listener(self, listener: Callable[[ContactWrite], None]) -> Callable[[], None]:
        self.listeners.append(listener)
        return lambda: self.listeners.remove(listener)

    def change(self, op: str, opted_out: bool, contact_id: int = 1, sent: Any = None) -> None:
        contact = {"id": contact_id, "phone": ADA, "is_opted_out": opted_out}
        for listener in self.listeners:
            listener(ContactWrite(op, sent if sent is not None else {"last": "x"}, contact))


def recorded(*changes: tuple[str, bool]) -> list[str]:
    sandbox = FakeSandbox()
    with WriteRecorder(sandbox) as recorder:  # type: ignore[arg-type]
        for op, opted_out in changes:
            sandbox.change(op, opted_out)
    return recorder.opted_back_in()


def test_a_write_that_opts_in_a_contact_opted_out_by_a_write_fails_the_audit() -> None:
    opted_back_in = recorded(("create", True), ("update", False))

    result = audit(SENT, [{"phone": ADA, "first": "Ada"}], [letter(BOB, "invalid phone")], opted_back_in=opted_back_in)

    assert opted_back_in == [ADA]
    assert not result.ok
    assert "opted back in" in result.problems()


def test_a_write_that_opts_in_a_contact_that_texted_stop_is_caught() -> None:
    assert recorded(("create", False), ("text", True), ("update", False)) == [ADA]


def test_a_contact_that_texted_start_after_stop_may_be_written_opted_in() -> None:
    assert recorded(("create", False), ("text", True), ("text", False), ("update", False)) == []


def test_a_contact_created_again_after_a_delete_starts_afresh() -> None:
    assert recorded(("create", True), ("delete", True), ("create", False)) == []


def test_texts_are_not_counted_as_writes() -> None:
    sandbox = FakeSandbox()
    with WriteRecorder(sandbox) as recorder:  # type: ignore[arg-type]
        sandbox.change("text", True, sent={"is_opted_out": True})

    assert recorder.writes == []
