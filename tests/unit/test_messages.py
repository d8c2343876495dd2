from __future__ import annotations

import json

import pytest

from heymarket_bridge.contact import Contact
from heymarket_bridge.messages import ContactOperation, DeadLetter, MalformedMessage, Operation


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
