"""The in-memory Heymarket most unit tests use (tests/doubles/heymarket_double.py) answers each documented request
in exactly the documented shape (heymarket_examples/), as the sandbox does (test_sandbox_contract.py).

Each answer file has a scenario that sends the documented request (the request file itself where there is one) to
the double, at its seam (the urllib3 pool's `request`), and returns its answer; the answer must have the example's
keys and JSON types, recursively, with extra keys only where HEYMARKET_API.md lists them: the documented Contact
fields inside Contact objects, and their `uuid` only when the double is set to carry it (`uuids`; whether Heymarket
does is not documented).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.contract.shapes import CONTACT_FIELDS, CONTACT_UUID, EXAMPLES_DIR, assert_same_shape, load_example
from tests.doubles.heymarket_double import HeymarketDouble

BASE = "https://api.heymarket.test"


def call(double: HeymarketDouble, method: str, path: str, body: Any) -> Any:
    """The double's answer to one request, parsed; it must be a 200 with a JSON body."""
    response = double.request(method, BASE + path, body=json.dumps(body).encode())
    assert response.status == 200, response.read1(10_000)
    return json.loads(response.read1(10_000_000))


def v1_batch_all_stored(double: HeymarketDouble) -> Any:
    return call(double, "POST", "/v1/batch/contacts?overwrite=false", [{"phone": "15105550112", "first": "Bob"}])


def v1_batch_some_failed(double: HeymarketDouble) -> Any:
    refused = {"phone": "+15105550112", "first": "Bob"}  # a leading + is not E.164 digits
    answer = call(double, "POST", "/v1/batch/contacts?overwrite=false", [{"phone": "15105550113"}, refused])
    assert answer == [refused]  # as sent
    return answer


def v1_contact_write(double: HeymarketDouble) -> Any:
    # PUT /v1/contact/{id} answers what POST /v1/contact does, {id, rev, uuid} (HEYMARKET_API.md); the double plays
    # the update, which the gateway sends, not the single create, which it never does.
    held = double.add("15105550114", first="Dee")
    return call(double, "PUT", f"/v1/contact/{held.id}?overwrite=false", {"phone": "15105550114", "last": "Ng"})


def v1_tags(double: HeymarketDouble) -> Any:
    call(double, "POST", "/v1/tag", {"tag": "VIP", "color": "#FFD700"})
    return call(double, "POST", "/v1/tags", {})


def v2_contacts_bulk(double: HeymarketDouble) -> Any:
    # The documented request as is: its update names a contact_id the account does not hold, as in the example.
    request = load_example("v2-contacts-bulk.request.json")
    answer = call(double, "POST", "/v2/contacts", request)
    assert [failed["contact"] for failed in answer["failed_contacts"]] == [request["contacts"][1]]  # as sent
    assert [contact.fields["phone"] for contact in double.contacts] == ["15105550110"]  # the phone channel's
    return answer


def v2_contacts_delete(double: HeymarketDouble) -> Any:
    held = double.add("15105550115")
    request = load_example("v2-contacts-delete.request.json")
    request["contact_channels"][0]["channel_ids"] = [held.uuid]
    answer = call(double, "DELETE", "/v2/contacts", request)
    assert double.contacts == []
    return answer


def v2_contacts_search(double: HeymarketDouble) -> Any:
    alice = {"phone": "14155550101", "first": "Alice", "last": "Smith", "email": "alice@example.com"}
    call(double, "POST", "/v2/contacts", {"contacts": [alice]})
    answer = call(double, "POST", "/v2/contacts/search", load_example("v2-contacts-search.request.json"))
    assert [contact["phone"] for contact in answer] == ["14155550101"]
    return answer


def v2_lists_create(double: HeymarketDouble) -> Any:
    answer = call(double, "POST", "/v2/lists", load_example("v2-lists-create.request.json"))
    assert [made.phones for made in double.lists] == [["15105550110"]]
    return answer


def v2_lists_update(double: HeymarketDouble) -> Any:
    created = call(double, "POST", "/v2/lists", load_example("v2-lists-create.request.json"))
    answer = call(double, "PUT", f"/v2/lists/{created['id']}", load_example("v2-lists-update.request.json"))
    assert [made.phones for made in double.lists] == [["15105550110", "15105550111"]]
    return answer


Scenario = Callable[[HeymarketDouble], Any]
# Answer file -> (the scenario that makes the double answer it, where Contact objects sit in it).
ANSWERS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "v1-batch-contacts.response-all-stored.json": (v1_batch_all_stored, ()),
    "v1-batch-contacts.response-some-failed.json": (v1_batch_some_failed, ()),
    "v1-contact-create.response.json": (v1_contact_write, ()),
    "v1-tags.response.json": (v1_tags, ()),
    "v2-contacts-bulk.response.json": (v2_contacts_bulk, ("$.contacts[*]",)),
    "v2-contacts-delete.response.json": (v2_contacts_delete, ()),
    "v2-contacts-search.response.json": (v2_contacts_search, ("$[*]",)),
    "v2-lists-create.response.json": (v2_lists_create, ()),
    "v2-lists-update.response.json": (v2_lists_update, ()),
}
# Request file -> the answer file whose scenario sends it.
REQUESTS = {
    "v2-contacts-bulk.request.json": "v2-contacts-bulk.response.json",
    "v2-contacts-delete.request.json": "v2-contacts-delete.response.json",
    "v2-contacts-search.request.json": "v2-contacts-search.response.json",
    "v2-lists-create.request.json": "v2-lists-create.response.json",
    "v2-lists-update.request.json": "v2-lists-update.response.json",
}


@pytest.fixture(params=[True, False], ids=["uuid", "integer"])
def uuids(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_every_example_file_has_a_contract_test_for_the_double() -> None:
    files = {path.name for path in EXAMPLES_DIR.glob("*.json")}

    assert files == set(ANSWERS) | set(REQUESTS)
    assert set(REQUESTS.values()) <= set(ANSWERS)


@pytest.mark.parametrize("example", sorted(ANSWERS))
def test_the_double_answers_the_documented_request_in_the_documented_shape(uuids: bool, example: str) -> None:
    # Given a double in one identifier mode, and the scenario of the documented request
    scenario, contact_paths = ANSWERS[example]
    contact_keys = {**CONTACT_FIELDS, **(CONTACT_UUID if uuids else {})}

    # When the double answers it
    answer = scenario(HeymarketDouble(uuids=uuids))

    # Then the answer has exactly the example's shape, Contact objects holding only documented fields
    assert_same_shape(answer, load_example(example), optional=dict.fromkeys(contact_paths, contact_keys))


@pytest.mark.parametrize("example", ["v2-contacts-bulk.response.json", "v2-contacts-search.response.json"])
def test_the_doubles_contact_objects_carry_the_uuid_exactly_when_the_setting_says_so(uuids: bool, example: str) -> None:
    answer = ANSWERS[example][0](HeymarketDouble(uuids=uuids))

    contacts = answer["contacts"] if isinstance(answer, dict) else answer
    assert contacts
    assert {("uuid" in contact) for contact in contacts} == {uuids}


def test_a_contact_the_double_holds_reads_as_its_own_fields_over_the_documented_defaults() -> None:
    double = HeymarketDouble()
    held = double.add("14155550101", first="Ann", is_opted_out=True, updated="2026-11-23T08:30:00.000Z")

    shown = held.as_answer(with_uuid=False)

    assert (shown["first"], shown["last"], shown["display_name"]) == ("Ann", "", "Ann")
    assert (shown["is_opted_out"], shown["updated"], shown["custom"], shown["tags"]) == (
        True,
        "2026-11-23T08:30:00.000Z",
        {},
        [],
    )
