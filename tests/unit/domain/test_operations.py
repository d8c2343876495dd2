from __future__ import annotations

import dataclasses
import json

import pytest

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.operations import (
    LETTER_MAX_BYTES,
    MAX_OPERATION_BYTES,
    ContactOperation,
    DeadLetter,
    DeleteOperation,
    DeleteTarget,
    Operation,
    forced,
    parse_operation,
)


def operation() -> ContactOperation:
    return ContactOperation(
        Operation.UPSERT, Contact(phone="15105551234", first="Ann"), "generic", "2026-11-23T09:00:00.000+00:00", "req-1"
    )


def test_an_operation_survives_the_queue_round_trip() -> None:
    original = operation()
    assert ContactOperation.from_json(original.to_json()) == original


def test_a_dead_letter_moved_back_by_sqs_redrive_is_read_as_the_operation_it_wraps() -> None:
    original = operation()
    letter = DeadLetter(
        error="500 internal_error",
        attempts=5,
        source="generic",
        received_at=original.received_at,
        contact=original.contact.to_heymarket(),
        operation_id=original.operation_id,
        message=original.to_json(),
    )
    assert ContactOperation.from_json(letter.to_json()) == original


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", json.dumps({"v": 99, "op": "upsert"}), json.dumps({"v": 1, "op": "upsert"})],
    ids=["text", "list", "future-version", "no-contact"],
)
def test_unreadable_messages_raise_malformed_message(body: str) -> None:
    with pytest.raises(MalformedMessage):
        ContactOperation.from_json(body)


def test_a_dead_letter_always_states_a_reason() -> None:
    letter = DeadLetter(error="", attempts=1, source="generic", received_at="", contact=None)
    assert json.loads(letter.to_json())["error"]


def delete_by_phone() -> DeleteOperation:
    return DeleteOperation(DeleteTarget(phone="15105551234"), "generic", "2026-11-23T09:00:00.000+00:00", "req-2")


def test_a_delete_survives_the_queue_round_trip_naming_its_target_as_the_contact() -> None:
    original = delete_by_phone()

    body = json.loads(original.to_json())

    assert (body["v"], body["op"], body["contact"]) == (1, "delete", {"phone": "15105551234"})
    assert parse_operation(original.to_json()) == original


def test_a_redriven_dead_letter_of_a_delete_is_read_as_the_delete() -> None:
    original = DeleteOperation(DeleteTarget(contact_id="0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"), "generic", "t", "r")
    letter = DeadLetter(
        error="500", attempts=5, source="generic", received_at="t", contact=None, message=original.to_json()
    )

    assert parse_operation(letter.to_json()) == original


def test_a_delete_is_not_read_as_a_contact_upsert() -> None:
    with pytest.raises(MalformedMessage, match="delete"):
        ContactOperation.from_json(delete_by_phone().to_json())


@pytest.mark.parametrize(
    "target", [{}, {"phone": "15105551234", "contact_id": "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"}, {"phone": 1}]
)
def test_a_delete_naming_no_target_or_two_is_malformed(target: dict[str, object]) -> None:
    body = json.dumps({"v": 1, "op": "delete", "contact": target, "source": "generic", "received_at": "t"})

    with pytest.raises(MalformedMessage):
        parse_operation(body)


def a_dead_letter() -> DeadLetter:
    original = operation()
    return DeadLetter(
        error="400 phone already exists",
        attempts=2,
        source="generic",
        received_at=original.received_at,
        contact=original.contact.to_heymarket(),
        correlation_id="req-1",
        operation_id=original.operation_id,
        message=original.to_json(),
        failed_at="2026-11-23T09:01:00.000+00:00",
        heymarket_request_id="hm-123",
    )


def test_a_dead_letter_survives_the_dlq_round_trip() -> None:
    letter = a_dead_letter()
    assert DeadLetter.from_json(letter.to_json()) == letter


def test_a_dead_letter_of_an_older_version_reads_with_defaults_for_what_it_lacks() -> None:
    assert DeadLetter.from_json(json.dumps({"error": "refused"})) == DeadLetter(
        error="refused", attempts=0, source="", received_at="", contact=None
    )


@pytest.mark.parametrize(
    "body",
    [
        "raw text SQS moved",
        "[]",
        json.dumps({"reason": "no error field"}),
        operation().to_json(),
        json.dumps({"error": "x", "contact": "15105551234"}),
        json.dumps({"error": "x", "attempts": "5"}),
        json.dumps({"error": "x", "message": 5}),
    ],
    ids=["text", "list", "no-error", "queue-message", "contact-not-object", "attempts-not-int", "message-a-number"],
)
def test_a_body_that_is_not_a_dead_letter_raises_malformed_message_saying_so(body: str) -> None:
    with pytest.raises(MalformedMessage, match="not a dead letter"):
        DeadLetter.from_json(body)


def test_a_letter_too_large_for_sqs_keeps_its_message_as_an_object_and_reads_back_whole() -> None:
    # Given a contact whose escaped message would more than fill an SQS message
    big = ContactOperation(
        Operation.UPSERT, Contact(phone="15105551234", first='"' * 60_000, last="\\" * 60_000), "generic", "t", "r"
    )
    letter = DeadLetter(error="refused", attempts=1, source="generic", received_at="t", contact={"phone": "1"},
                        message=big.to_json())  # fmt: skip

    body = letter.to_json()
    read = DeadLetter.from_json(body)

    assert len(body.encode()) <= LETTER_MAX_BYTES
    assert json.loads(read.message or "") == json.loads(big.to_json())
    assert read.contact == json.loads(big.to_json())["contact"]
    assert parse_operation(body) == big  # SQS's own redrive moves the letter back: the operation it wraps


def test_the_largest_operation_the_bridge_queues_keeps_its_message_in_its_dead_letter() -> None:
    # Given an operation of just under MAX_OPERATION_BYTES, of characters JSON escapes (the worst case), and a long
    # error
    filler = '"' * ((MAX_OPERATION_BYTES - 400) // 2)
    operation = ContactOperation(Operation.UPSERT, Contact(phone="15105551234", custom={"1": filler}), "g", "t", "r")
    body = operation.to_json()
    assert len(body.encode()) <= MAX_OPERATION_BYTES
    letter = DeadLetter(error="é" * 5000, attempts=1, source="g", received_at="t", contact={}, message=body)

    # Then its letter fits in an SQS message and still carries the whole original message
    text = letter.to_json()
    assert len(text.encode()) <= LETTER_MAX_BYTES
    assert parse_operation(text) == operation


@pytest.mark.parametrize(
    ("contact", "version"),
    [
        (Contact(phone="15105551234", tags=(3,)), 1),
        (Contact(phone="15105551234", tags=(3, "VIP")), 2),
        (Contact(phone="15105551234", lists=(42,)), 2),
    ],
)
def test_only_messages_that_need_a_reader_of_tag_names_or_lists_carry_version_2(contact: Contact, version: int) -> None:
    # A sync function of the previous version reads version 1 only: it refuses the others, into the DLQ for a
    # redrive, instead of sending a tag name as an id or dropping the lists.
    body = ContactOperation(Operation.UPSERT, contact, "generic", "2026-11-23T09:00:00.000+00:00", "r").to_json()

    assert json.loads(body)["v"] == version


def test_a_list_write_follow_up_is_a_version_2_lists_operation_that_survives_the_round_trip() -> None:
    original = ContactOperation(
        Operation.LISTS, Contact(phone="15105551234", lists=(42, "Spring")), "typeform", "2026-11-23T09:00:00Z", "r"
    )

    assert json.loads(original.to_json())["v"] == 2
    assert parse_operation(original.to_json()) == original


def test_an_event_time_and_the_force_mark_survive_the_queue_round_trip() -> None:
    original = dataclasses.replace(operation(), occurred_at="2026-11-23T08:59:58.000+00:00", force=True)

    assert ContactOperation.from_json(original.to_json()) == original


def test_a_message_written_before_event_times_and_force_existed_is_read_without_them() -> None:
    body = json.loads(operation().to_json())
    assert "occurred_at" not in body and "force" not in body  # noqa: PT018 - both left out when not set

    read = parse_operation(json.dumps(body))

    assert (read.occurred_at, read.force) == (None, False)


def test_forcing_a_message_marks_it_and_changes_nothing_else() -> None:
    original = operation()

    marked = parse_operation(forced(original.to_json()))

    assert marked == dataclasses.replace(original, force=True)


def test_forcing_a_dead_letter_moved_unchanged_by_sqs_marks_the_operation_it_wraps() -> None:
    original = DeleteOperation(DeleteTarget(phone="15105551234"), "generic", "2026-11-23T09:00:00.000+00:00", "r")
    letter = DeadLetter(
        error="500", attempts=5, source="generic", received_at="t", contact=None, message=original.to_json()
    )

    assert parse_operation(forced(letter.to_json())) == dataclasses.replace(original, force=True)


def test_a_body_that_is_not_an_operation_cannot_be_forced() -> None:
    with pytest.raises(MalformedMessage):
        forced("not json")
