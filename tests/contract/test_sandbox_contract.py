"""The sandbox answers each documented request in exactly the documented shape (heymarket_examples/).

Each answer file has a scenario that sends the documented request (the request file itself where there is one)
and returns the sandbox's answer; the answer must have the example's keys and JSON types, recursively, with
extra keys only where HEYMARKET_API.md lists them: the documented Contact fields inside Contact objects, and
their `uuid` only when the sandbox is set to carry it (whether Heymarket does is not documented).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.contract.shapes import CONTACT_FIELDS, CONTACT_UUID, EXAMPLES_DIR, assert_same_shape, load_example

API_KEY = "contract-api-key"


class Api:
    def __init__(self, sandbox: HeymarketSandbox) -> None:
        self.sandbox = sandbox
        self.pool = urllib3.PoolManager()

    def call(self, method: str, path: str, body: Any) -> Any:
        response = self.pool.request(
            method,
            self.sandbox.url + path,
            body=json.dumps(body),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
            retries=False,
            timeout=5.0,
        )
        assert response.status == 200, response.data
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.data)


def v1_batch_all_stored(api: Api) -> Any:
    return api.call("POST", "/v1/batch/contacts", [{"phone": "15105550112", "first": "Bob"}])


def v1_batch_some_failed(api: Api) -> Any:
    refused = {"phone": "+15105550112", "first": "Bob"}  # a leading + is not E.164 digits
    answer = api.call("POST", "/v1/batch/contacts", [{"phone": "15105550113", "first": "Cy"}, refused])
    assert answer == [refused]  # as sent
    return answer


def v1_contact_create(api: Api) -> Any:
    return api.call("POST", "/v1/contact", {"phone": "15105550114", "first": "Dee"})


def v1_tags(api: Api) -> Any:
    api.call("POST", "/v1/tag", {"tag": "VIP", "color": "#FFD700"})
    return api.call("POST", "/v1/tags", {})


def v2_contacts_bulk(api: Api) -> Any:
    # The documented request as is: its update names a contact_id the account does not hold, as in the example.
    request = load_example("v2-contacts-bulk.request.json")
    answer = api.call("POST", "/v2/contacts", request)
    assert [failed["contact"] for failed in answer["failed_contacts"]] == [request["contacts"][1]]  # as sent
    return answer


def v2_contacts_delete(api: Api) -> Any:
    created = api.call("POST", "/v1/contact", {"phone": "15105550115"})
    request = load_example("v2-contacts-delete.request.json")
    request["contact_channels"][0]["channel_ids"] = [created["uuid"]]
    answer = api.call("DELETE", "/v2/contacts", request)
    assert api.sandbox.contacts() == []
    return answer


def v2_contacts_search(api: Api) -> Any:
    alice = {"phone": "14155550101", "first": "Alice", "last": "Smith", "email": "alice@example.com"}
    api.call("POST", "/v2/contacts", {"contacts": [alice]})
    answer = api.call("POST", "/v2/contacts/search", load_example("v2-contacts-search.request.json"))
    assert [contact["phone"] for contact in answer] == ["14155550101"]
    return answer


def v2_lists_create(api: Api) -> Any:
    answer = api.call("POST", "/v2/lists", load_example("v2-lists-create.request.json"))
    assert [contact_list["phones"] for contact_list in api.sandbox.lists()] == [["15105550110"]]
    return answer


def v2_lists_update(api: Api) -> Any:
    created = api.call("POST", "/v2/lists", load_example("v2-lists-create.request.json"))
    answer = api.call("PUT", f"/v2/lists/{created['id']}", load_example("v2-lists-update.request.json"))
    assert [contact_list["phones"] for contact_list in api.sandbox.lists()] == [["15105550110", "15105550111"]]
    return answer


Scenario = Callable[[Api], Any]
# Answer file -> (the scenario that makes the sandbox answer it, where Contact objects sit in it).
ANSWERS: dict[str, tuple[Scenario, tuple[str, ...]]] = {
    "v1-batch-contacts.response-all-stored.json": (v1_batch_all_stored, ()),
    "v1-batch-contacts.response-some-failed.json": (v1_batch_some_failed, ()),
    "v1-contact-create.response.json": (v1_contact_create, ()),
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


@pytest.fixture(params=["uuid", "integer"])
def identifiers(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def api(identifiers: str) -> Iterator[Api]:
    with HeymarketSandbox(SandboxConfig(api_key=API_KEY, identifiers=identifiers)) as sandbox:
        client = Api(sandbox)
        yield client
        client.pool.clear()


def test_every_example_file_has_a_contract_test() -> None:
    files = {path.name for path in EXAMPLES_DIR.glob("*.json")}

    assert files == set(ANSWERS) | set(REQUESTS)
    assert set(REQUESTS.values()) <= set(ANSWERS)


@pytest.mark.parametrize("example", sorted(ANSWERS))
def test_the_sandbox_answers_the_documented_request_in_the_documented_shape(
    api: Api, identifiers: str, example: str
) -> None:
    # Given a sandbox in one identifier mode, and the scenario of the documented request
    scenario, contact_paths = ANSWERS[example]
    contact_keys = {**CONTACT_FIELDS, **(CONTACT_UUID if identifiers == "uuid" else {})}

    # When the sandbox answers it
    answer = scenario(api)

    # Then the answer has exactly the example's shape, Contact objects holding only documented fields
    assert_same_shape(answer, load_example(example), optional=dict.fromkeys(contact_paths, contact_keys))


@pytest.mark.parametrize("example", ["v2-contacts-bulk.response.json", "v2-contacts-search.response.json"])
def test_contact_objects_carry_the_uuid_exactly_when_the_setting_says_so(
    api: Api, identifiers: str, example: str
) -> None:
    # When a Contact-bearing answer is made
    answer = ANSWERS[example][0](api)

    # Then each Contact holds a uuid in "uuid" mode, and none in "integer" mode
    contacts = answer["contacts"] if isinstance(answer, dict) else answer
    assert contacts
    assert {("uuid" in contact) for contact in contacts} == {identifiers == "uuid"}
