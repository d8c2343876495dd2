"""The client side of the contract: every documented answer in heymarket_examples/ is read as documented, and the
requests the gateway sends have the documented shapes. (The sandbox's side is checked against the same files.)"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.answers import (
    read_bulk_answer,
    read_contact_object,
    read_ok,
    read_search_answer,
    read_v1_batch_answer,
    read_write_answer,
)
from heymarket_bridge.adapters.heymarket.failures import UnreadableAnswer
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.observability import COUNTED_MESSAGE, logger
from heymarket_bridge.sync.model import Identity, Stored
from tests.unit.sync.harness import Harness

EXAMPLES = Path(__file__).parent / "heymarket_examples"
UUID_A, UUID_B = "a1b2c3d4-e5f6-4a90-abcd-ef1234567890", "b2c3d4e5-f6a7-4b01-8cde-f12345678901"
# HEYMARKET_API.md, "v2 contact write fields" (and contact_id for updates).
V2_WRITE_FIELDS = {
    "phone", "first", "last", "display_name", "email", "avatar", "custom", "assignee_id", "tags", "is_opted_out",
    "email_suppressions", "contact_channels", "contact_id",
}  # fmt: skip


def example(name: str) -> Any:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def same_shape(sent: Any, documented: Any) -> bool:
    """The same JSON types, and objects with keys the documented example has (values may differ)."""
    if isinstance(documented, dict):
        return (
            isinstance(sent, dict)
            and set(sent) <= set(documented)
            and all(same_shape(sent[k], documented[k]) for k in sent)
        )
    if isinstance(documented, list):
        return (
            isinstance(sent, list) and all(same_shape(item, documented[0]) for item in sent)
            if documented
            else sent == []
        )
    return type(sent) is type(documented)


def test_the_documented_bulk_answer_confirms_the_created_contact_and_names_the_failed_update() -> None:
    answer = read_bulk_answer(example("v2-contacts-bulk.response"))

    [stored] = answer.stored
    assert (stored.identity, stored.phone) == (Identity(98770, None), "15105550110")
    [failed] = answer.failed
    assert failed.sent == example("v2-contacts-bulk.request")["contacts"][1]
    assert failed.error == "<text Heymarket does not document>"


def test_the_documented_search_answer_is_a_bare_array_of_contacts_with_integer_ids() -> None:
    [found] = read_search_answer(example("v2-contacts-search.response"))

    assert (found.identity, found.phone, found.fields["first"]) == (Identity(98765, None), "14155550101", "Alice")


def test_the_documented_delete_answer_is_ok() -> None:
    read_ok(example("v2-contacts-delete.response"))


def test_the_documented_v1_write_answer_carries_the_integer_id_and_the_uuid() -> None:
    assert read_write_answer(example("v1-contact-create.response")) == Identity(
        98771, "b2c3d4e5-f6a7-4b01-8cde-f12345678901"
    )


def test_the_documented_v1_batch_answers_are_ok_or_the_contacts_that_failed() -> None:
    assert read_v1_batch_answer(example("v1-batch-contacts.response-all-stored")) == []
    assert read_v1_batch_answer(example("v1-batch-contacts.response-some-failed")) == [
        {"phone": "15105550112", "first": "Bob"}
    ]


@pytest.mark.parametrize(
    ("reader", "answer"),
    [
        (read_search_answer, {"contacts": example("v2-contacts-search.response")}),  # the shape the old client read
        (read_search_answer, ["98765"]),
        (read_search_answer, [{"id": "98765a", "phone": "14155550101"}]),  # neither an integer nor a UUID
        (read_search_answer, [{"id": "-98765", "phone": "14155550101"}]),
        (read_search_answer, [{"id": 98765.5, "phone": "14155550101"}]),
        (read_search_answer, [{"id": True, "phone": "14155550101"}]),
        (read_search_answer, [{"id": UUID_A, "uuid": UUID_B}]),  # two UUIDs: which one is the contact is unknown
        (read_bulk_answer, {"failed_contacts": []}),  # no contacts and no failure: nothing says what happened
        (read_bulk_answer, {}),
        (read_bulk_answer, {"contacts": None, "failed_contacts": [{"contact": {}, "error": "x"}]}),
        (read_bulk_answer, {"contacts": ["id-0"], "failed_contacts": []}),
        (read_bulk_answer, {"contacts": [], "failed_contacts": ["oops"]}),
        (read_bulk_answer, {"data": example("v2-contacts-bulk.response")}),
        (read_bulk_answer, []),
        (read_bulk_answer, "ok"),
        (read_ok, {"deleted": []}),
        (read_ok, ""),
        (read_write_answer, {"rev": 1}),
        (read_v1_batch_answer, {"failed": []}),
        (read_v1_batch_answer, ["15105550112"]),
    ],
)
def test_answers_of_another_shape_are_unreadable_never_success(reader: Any, answer: Any) -> None:
    with pytest.raises(UnreadableAnswer):
        reader(answer)


def test_the_gateway_sends_documented_request_shapes() -> None:
    h = Harness()
    existing = h.heymarket.add("15105550111", first="Ann")

    results = h.gateway.upsert(
        [Contact(phone="15105550110", first="Ada", last="Byron"), Contact(phone="15105550111", last="King")],
        h.deadline(),
    )
    h.gateway.delete([DeleteTarget(contact_id=existing.uuid)], h.deadline())

    assert all(isinstance(result, Stored) for result in results)
    sent = dict(h.heymarket.log)
    assert same_shape(sent["POST /v2/contacts/search"], example("v2-contacts-search.request"))
    items = sent["POST /v2/contacts"]["contacts"]
    assert all(set(item) <= V2_WRITE_FIELDS for item in items)
    documented_item = example("v2-contacts-bulk.request")["contacts"][1]
    assert all(same_shape({k: v for k, v in item.items() if k in documented_item}, documented_item) for item in items)
    assert sent["POST /v2/contacts"]["contacts"][1]["contact_id"] == existing.uuid
    assert same_shape(sent["DELETE /v2/contacts"], example("v2-contacts-delete.request"))
    assert sent["DELETE /v2/contacts"]["contact_channels"][0]["channel_type"] == "id"


# ---------------------------------------------------------------------- deviations whose meaning is not in doubt


def deviations_counted(records: list[logging.LogRecord]) -> dict[str, float]:
    """`HeymarketAnswerDeviations` by kind, from the `Counted` log lines (a count outside the metric series)."""
    counted: dict[str, float] = {}
    for record in records:
        if record.getMessage() == COUNTED_MESSAGE and getattr(record, "metric", "") == "HeymarketAnswerDeviations":
            kind = str(getattr(record, "kind", ""))
            counted[kind] = counted.get(kind, 0) + float(getattr(record, "value", 0))
    return counted


def test_an_id_that_is_a_uuid_is_read_as_the_contacts_uuid_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    # Given a search answer whose Contact objects carry the UUID as `id` (the v2 endpoints' identifier)
    answer = [{**example("v2-contacts-search.response")[0], "id": UUID_A}]

    # When it is read
    [contact] = read_search_answer(answer)

    # Then the UUID identifies the contact, no integer id is made up, and the deviation is counted
    assert contact.identity == Identity(None, UUID_A)
    assert deviations_counted(caplog.records) == {"id_as_uuid": 1}


def test_a_uuid_id_next_to_the_same_uuid_is_that_uuid() -> None:
    assert read_contact_object({"id": UUID_A.upper(), "uuid": UUID_A}, "the answer").identity == Identity(None, UUID_A)


def test_an_id_of_digits_is_that_integer() -> None:
    [contact] = read_search_answer([{"id": "98765", "uuid": UUID_A, "phone": "14155550101"}])

    assert contact.identity == Identity(98765, UUID_A)


def test_a_phone_written_with_a_plus_is_that_phone() -> None:
    [contact] = read_search_answer([{"id": 98765, "phone": "+14155550101"}])

    assert contact.phone == "14155550101"


def test_fields_the_reference_does_not_list_are_ignored_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    answer = {"contacts": [{**example("v2-contacts-bulk.response")["contacts"][0], "channels": [], "score": 3}]}

    [contact] = read_bulk_answer(answer).stored

    assert contact.identity == Identity(98770, None)
    assert deviations_counted(caplog.records) == {"extra_fields": 1}


def test_a_bulk_answer_without_contacts_when_every_contact_failed_stored_nothing() -> None:
    failed = example("v2-contacts-bulk.response")["failed_contacts"]

    answer = read_bulk_answer({"failed_contacts": failed})

    assert answer.stored == []
    assert [item.error for item in answer.failed] == ["<text Heymarket does not document>"]


def test_the_documented_answers_count_no_deviation(caplog: pytest.LogCaptureFixture) -> None:
    read_search_answer(example("v2-contacts-search.response"))
    read_bulk_answer(example("v2-contacts-bulk.response"))
    read_write_answer(example("v1-contact-create.response"))

    assert deviations_counted(caplog.records) == {}


def test_one_sample_of_each_deviation_is_logged_per_execution_environment_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from heymarket_bridge.adapters.heymarket import answers

    monkeypatch.setattr(answers, "_SAMPLED", set())
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        for _ in range(3):
            read_search_answer([{"id": 98765, "phone": "+14155550101"}, {"id": 98766, "phone": "+14155550102"}])
    finally:
        handler.setStream(previous)

    logged = [json.loads(line) for line in stream.getvalue().splitlines() if "undocumented shape" in line]
    assert [(line["kind"], line["count"]) for line in logged] == [("phone_with_plus", 2)]
    assert "4155550101" not in logged[0]["sample"]
