"""The Heymarket sandbox over real HTTP on 127.0.0.1: auth, the documented endpoints and shapes, every setting
of an undocumented behaviour, limits, answer faults, the control endpoints and the command line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3

from heymarket_local.audit import WriteRecorder
from heymarket_sandbox import (
    API_ENDPOINTS,
    ContactWrite,
    HeymarketSandbox,
    SandboxConfig,
    add_arguments,
    config_from_args,
    setting_options,
)

SECRET_ID = "test-secret-id-0123456789"
SECRET_KEY = "test-secret-key-0123456789"
API_KEY = "test-api-key"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"
UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"
ALICE, BOB, CAROL = "15105551234", "15105555678", "15105559999"
# Every field a Contact object holds (HEYMARKET_API.md's read fields), and the uuid the sandbox may add.
CONTACT_KEYS = {
    "id",
    "display_name",
    "first",
    "last",
    "email",
    "phone",
    "custom",
    "team_id",
    "creator_id",
    "shared",
    "created",
    "updated",
    "rev",
    "op",
    "assigned_user_id",
    "tags",
    "is_opted_out",
}


def sign_jwt(issued_at: float | None = None, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY) -> str:
    claims = {"iss": secret_id, "iat": int(time.time() if issued_at is None else issued_at)}
    return jwt.encode(claims, f"{secret_id}||{secret_key}", algorithm="HS256", headers={"typ": "JWT"})


def bearer(token: str) -> str:
    return f"Bearer {token}"


class Client:
    """A keep-alive HTTP client for one sandbox, signing a fresh JWT per request by default."""

    def __init__(self, sandbox: HeymarketSandbox, pool: urllib3.PoolManager) -> None:
        self.sandbox = sandbox
        self.pool = pool

    def send(
        self, method: str, path: str, body: Any = None, *, authorization: str | None = "jwt", timeout: float = 5.0
    ) -> urllib3.BaseHTTPResponse:
        headers = {}
        if authorization == "jwt":
            headers["Authorization"] = bearer(sign_jwt())
        elif authorization is not None:
            headers["Authorization"] = authorization
        return self.pool.request(
            method, self.sandbox.url + path, headers=headers, json=body, retries=False, timeout=timeout
        )

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        response = self.send(method, path, body, **kwargs)
        return response.status, json.loads(response.data)

    def ok(self, method: str, path: str, body: Any = None) -> Any:
        """The parsed answer of a request that must succeed."""
        status, answer = self.json(method, path, body)
        assert status == 200, answer
        return answer

    def control(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.json(method, "/_sandbox/" + path, body, authorization=None)

    def create(self, *contacts: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = self.ok("POST", "/v2/contacts", {"contacts": list(contacts)})
        return answer

    def search(self, *channel_ids: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.ok(
            "POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": list(channel_ids)}]}
        )
        return answer


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    # An account without tags, so that tests count only the tags they create (see the account_tags tests).
    config = SandboxConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY, api_key=API_KEY, seed=7, account_tags=())
    with HeymarketSandbox(config) as running:
        yield running


@pytest.fixture
def client(sandbox: HeymarketSandbox) -> Iterator[Client]:
    pool = urllib3.PoolManager()
    yield Client(sandbox, pool)
    pool.clear()


def contact(phone: str, **fields: Any) -> dict[str, Any]:
    return {"contact_channels": [{"channel_type": "phone", "channel_id": phone}], **fields}


def stored(sandbox: HeymarketSandbox) -> list[tuple[str, str]]:
    """(phone, first name) of every stored contact, oldest first."""
    return [(item["phone"], item["first"]) for item in sandbox.contacts()]


def delete_body(*uuids: str) -> dict[str, Any]:
    return {"contact_channels": [{"channel_type": "id", "channel_ids": list(uuids)}]}


# Auth -------------------------------------------------------------------------------------------


def test_fresh_jwt_is_accepted(client: Client) -> None:
    # Given a JWT signed now with the sandbox's secret pair
    token = sign_jwt()

    # When it calls the credentials check endpoint
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then the inboxes come back
    assert status == 200
    assert body == [{"id": 1, "name": "Sandbox inbox"}]


def test_jwt_issued_more_than_five_minutes_ago_is_rejected(client: Client) -> None:
    # Given a JWT whose iat is 301 s in the past
    token = sign_jwt(issued_at=time.time() - 301)

    # When it is used
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it is refused as expired
    assert status == 401
    assert body["error_code"] == "unauthorized"
    assert "expired" in body["message"]


def test_jwt_issued_four_minutes_ago_is_still_accepted(client: Client) -> None:
    # Given a JWT reused for four minutes, as the client may do
    token = sign_jwt(issued_at=time.time() - 240)

    # When it is used
    status, _ = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it still works
    assert status == 200


def test_jwt_issued_in_the_future_is_rejected(client: Client) -> None:
    # Given a JWT from a clock more than a minute ahead
    token = sign_jwt(issued_at=time.time() + 120)

    # When it is used
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it is refused
    assert status == 401
    assert "future" in body["message"]


def test_jwt_signed_with_the_wrong_key_is_rejected(client: Client) -> None:
    # Given a JWT with the right issuer but signed with another secret key
    token = sign_jwt(secret_key="not-the-secret-key-0123456789")

    # When it is used
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it is refused for its signature
    assert status == 401
    assert body["error_code"] == "unauthorized"
    assert "signature" in body["message"]


def test_jwt_without_iat_is_rejected(client: Client) -> None:
    # Given a correctly signed JWT that lacks iat
    token = jwt.encode({"iss": SECRET_ID}, f"{SECRET_ID}||{SECRET_KEY}", algorithm="HS256")

    # When it is used
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it is refused, naming the claim
    assert status == 401
    assert "iat" in body["message"]


def test_jwt_whose_header_typ_is_not_jwt_is_rejected(client: Client) -> None:
    # Given a correctly signed token whose header says typ "JWS"
    claims = {"iss": SECRET_ID, "iat": int(time.time())}
    token = jwt.encode(claims, f"{SECRET_ID}||{SECRET_KEY}", algorithm="HS256", headers={"typ": "JWS"})

    # When it is used
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer(token))

    # Then it is refused, naming the header
    assert status == 401
    assert "typ" in body["message"]


def test_rotated_credentials_reject_tokens_of_the_old_pair(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a token signed with the current pair, then a rotation to a new pair
    old_token = sign_jwt()
    sandbox.rotate_credentials("rotated-secret-id-0123456789", "rotated-secret-key-0123456789")
    new_token = sign_jwt(secret_id="rotated-secret-id-0123456789", secret_key="rotated-secret-key-0123456789")

    # When both are used
    old_status, old_body = client.json("GET", "/v1/inboxes", authorization=bearer(old_token))
    new_status, _ = client.json("GET", "/v1/inboxes", authorization=bearer(new_token))

    # Then only the new pair works, and the old one is reported as an unknown issuer
    assert (old_status, new_status) == (401, 200)
    assert "issuer" in old_body["message"]


def test_legacy_api_key_is_accepted_as_bearer(client: Client) -> None:
    # When the legacy team API key is sent as a Bearer token
    status, _ = client.json("GET", "/v1/inboxes", authorization=bearer(API_KEY))

    # Then it is accepted
    assert status == 200


def test_legacy_api_key_is_accepted_as_basic_user_with_empty_password(client: Client) -> None:
    # Given HTTP Basic credentials: the key as user name, no password
    basic = urllib3.make_headers(basic_auth=f"{API_KEY}:")["authorization"]

    # When they are sent
    status, _ = client.json("GET", "/v1/inboxes", authorization=basic)

    # Then they are accepted
    assert status == 200


def test_wrong_api_key_is_rejected(client: Client) -> None:
    # When an unknown key is sent
    status, body = client.json("GET", "/v1/inboxes", authorization=bearer("not-the-key"))

    # Then the answer is 401
    assert status == 401
    assert body["error_code"] == "unauthorized"


def test_missing_credentials_are_rejected(client: Client) -> None:
    # When a request comes without an Authorization header
    status, body = client.json("GET", "/v1/inboxes", authorization=None)

    # Then it is refused as missing credentials
    assert status == 401
    assert "missing" in body["message"]


# v2 bulk contacts ---------------------------------------------------------------------------------------


def test_bulk_create_gives_sequential_integer_ids_and_a_uuid(sandbox: HeymarketSandbox, client: Client) -> None:
    # When two contacts are created, one by contact channel and one by the phone field
    answer = client.create(contact(ALICE, first="Alice", last="Smith"), {"phone": BOB})

    # Then each has an integer id from 98765 on, a uuid, and every documented Contact field
    assert answer["failed_contacts"] == []
    assert [(item["id"], item["phone"]) for item in answer["contacts"]] == [(98765, ALICE), (98766, BOB)]
    assert [item["uuid"] for item in answer["contacts"]] == [item["uuid"] for item in sandbox.contacts()]
    assert all(item.keys() == CONTACT_KEYS | {"uuid"} for item in answer["contacts"])


def test_a_created_contact_has_revision_1_op_create_and_a_default_display_name(client: Client) -> None:
    # When a contact with a first and a last name is created
    [created] = client.create(contact(ALICE, first="Alice", last="Smith"))["contacts"]

    # Then it is at revision 1, made by a create, named "first last"
    assert (created["rev"], created["op"], created["display_name"]) == (1, "create", "Alice Smith")
    assert (created["email"], created["assigned_user_id"], created["is_opted_out"]) == ("", 0, False)


def test_an_update_by_contact_id_raises_the_revision_and_says_update(client: Client) -> None:
    # Given a stored contact
    [created] = client.create(contact(ALICE, first="Alice"))["contacts"]

    # When it is updated twice by its UUID
    client.create({"contact_id": created["uuid"], "last": "Smith"})
    [updated] = client.create({"contact_id": created["uuid"], "last": "Jones"})["contacts"]

    # Then it is the same contact at revision 3, made by an update
    assert (updated["id"], updated["rev"], updated["op"], updated["last"]) == (created["id"], 3, "update", "Jones")


def test_update_keeps_the_fields_it_does_not_send(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a contact with a name and an email
    [created] = client.create(contact(ALICE, first="Alice", last="Smith", email="a@example.com"))["contacts"]

    # When an update sends only a new last name
    answer = client.create({"contact_id": created["uuid"], "last": "Jones"})

    # Then the last name changes and the other fields stay
    assert answer["failed_contacts"] == []
    (after,) = sandbox.contacts()
    assert (after["first"], after["last"], after["email"], after["phone"]) == ("Alice", "Jones", "a@example.com", ALICE)
    assert after["display_name"] == "Alice Jones"


def test_an_update_of_an_unknown_contact_id_is_a_failed_contact_exactly_as_sent(client: Client) -> None:
    # When an update names a contact that does not exist
    sent = {
        "contact_id": UNKNOWN_UUID,
        "first": "Ghost",
        "contact_channels": [{"channel_type": "phone", "channel_id": ALICE}],
    }
    answer = client.create(sent)

    # Then it fails (nothing created), the contact given back as sent, with a human error text
    assert answer["contacts"] == []
    [failed] = answer["failed_contacts"]
    assert failed["contact"] == sent
    assert isinstance(failed["error"], str)
    assert failed["error"]


def test_an_invalid_phone_fails_only_that_contact(sandbox: HeymarketSandbox, client: Client) -> None:
    # When a batch holds one phone with a leading + and one valid phone
    answer = client.create({"phone": "+15105551234"}, {"phone": BOB})

    # Then only the bad one fails
    assert [item["contact"] for item in answer["failed_contacts"]] == [{"phone": "+15105551234"}]
    assert [item["phone"] for item in sandbox.contacts()] == [BOB]


@pytest.mark.parametrize("item", ["15105551234", 7, None, ["x"]], ids=["string", "number", "null", "array"])
def test_an_item_that_is_not_an_object_is_a_failed_contact(client: Client, item: Any) -> None:
    answer = client.create(item)

    assert [failed["contact"] for failed in answer["failed_contacts"]] == [item]


def test_a_create_with_neither_phone_nor_email_is_a_failed_contact(client: Client) -> None:
    answer = client.create({"first": "Nobody"})

    assert [failed["contact"] for failed in answer["failed_contacts"]] == [{"first": "Nobody"}]


def test_an_email_channel_sets_the_email(client: Client) -> None:
    channels = [{"channel_type": "phone", "channel_id": ALICE}, {"channel_type": "email", "channel_id": "a@x.org"}]

    [created] = client.create({"contact_channels": channels})["contacts"]

    assert (created["phone"], created["email"]) == (ALICE, "a@x.org")


def test_a_field_of_the_wrong_type_fails_the_contact(client: Client) -> None:
    answer = client.create(contact(ALICE, first=None), contact(BOB, is_opted_out="yes"), contact(CAROL, custom=[1]))

    assert len(answer["failed_contacts"]) == 3


def test_the_assignee_and_opt_out_are_stored_and_minus_one_unassigns(client: Client) -> None:
    [created] = client.create(contact(ALICE, assignee_id=12, is_opted_out=True))["contacts"]
    [updated] = client.create({"contact_id": created["uuid"], "assignee_id": -1})["contacts"]

    assert (created["assigned_user_id"], created["is_opted_out"]) == (12, True)
    assert updated["assigned_user_id"] == 0


def test_an_avatar_appears_once_set(client: Client) -> None:
    [created] = client.create(contact(ALICE, avatar="https://example.com/a.png"))["contacts"]

    assert created["avatar"] == "https://example.com/a.png"


def test_a_v2_write_drops_custom_values_keyed_by_a_title_without_an_error(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a team whose field 101 is titled Campus
    sandbox.configure(custom_fields=((101, "Campus"),))

    # When a contact is written with one value keyed by id and one by title
    answer = client.create(contact(ALICE, custom={"102": "kept", "Campus": "North"}))

    # Then it is stored, with the id-keyed value only
    assert answer["failed_contacts"] == []
    assert [item["custom"] for item in sandbox.contacts()] == [{"102": "kept"}]


def test_bulk_write_over_the_maximum_answers_413(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 2 contacts per bulk request
    sandbox.configure(max_bulk_contacts=2)

    # When 3 contacts are sent
    status, body = client.json("POST", "/v2/contacts", {"contacts": [{"phone": f"1510555000{n}"} for n in range(3)]})

    # Then the whole request is refused as too large, and nothing is stored
    assert (status, body["error_code"]) == (413, "too_large")
    assert sandbox.contacts() == []


def test_malformed_json_answers_400_bad_data(client: Client) -> None:
    # When the body is not JSON
    response = client.pool.request(
        "POST",
        client.sandbox.url + "/v2/contacts",
        body=b'{"contacts": [',
        headers={"Authorization": bearer(sign_jwt()), "Content-Type": "application/json"},
        retries=False,
    )

    # Then the answer is 400 bad_data
    assert response.status == 400
    assert json.loads(response.data)["error_code"] == "bad_data"


def test_contacts_that_are_not_an_array_answer_400_naming_the_field(client: Client) -> None:
    status, body = client.json("POST", "/v2/contacts", {"contacts": {"phone": ALICE}})

    assert (status, body["error_code"]) == (400, "bad_data")
    assert body["message"].startswith("contacts")


# What a create does for a phone Heymarket already holds (duplicate_create) --------------------------------


def create_through(client: Client, endpoint: str, phone: str, first: str) -> int:
    """Create a contact through one of the three create endpoints; the HTTP status."""
    if endpoint == "POST /v2/contacts":
        status, answer = client.json("POST", "/v2/contacts", {"contacts": [contact(phone, first=first)]})
        return 400 if status == 200 and answer["failed_contacts"] else status
    if endpoint == "POST /v2/contact":
        return client.send("POST", "/v2/contact", contact(phone, first=first)).status
    return client.send("POST", "/v1/contact", {"phone": phone, "first": first}).status


CREATE_ENDPOINTS = ["POST /v2/contacts", "POST /v2/contact", "POST /v1/contact"]


@pytest.mark.parametrize("endpoint", CREATE_ENDPOINTS)
@pytest.mark.parametrize("mode", ["refuse", "fail"])
def test_refuse_mode_refuses_a_create_of_a_held_phone(
    sandbox: HeymarketSandbox, client: Client, endpoint: str, mode: str
) -> None:
    # Given a stored contact, and creates of a held phone refused ("fail" is the older name of "refuse")
    sandbox.configure(duplicate_create=mode)
    create_through(client, endpoint, ALICE, "Alice")

    # When the same phone is created again
    status = create_through(client, endpoint, ALICE, "Alicia")

    # Then it is refused (a failed contact in bulk, a 400 otherwise) and the stored one is unchanged
    assert status == 400
    assert stored(sandbox) == [(ALICE, "Alice")]
    assert sandbox.config.duplicate_create == "refuse"


def test_refuse_mode_gives_the_refused_create_back_as_sent(client: Client) -> None:
    client.create(contact(ALICE, first="Alice"))

    answer = client.create(contact(ALICE, first="Alicia"))

    assert answer["contacts"] == []
    assert [failed["contact"] for failed in answer["failed_contacts"]] == [contact(ALICE, first="Alicia")]


@pytest.mark.parametrize("endpoint", CREATE_ENDPOINTS)
def test_update_mode_updates_the_contact_holding_the_phone(
    sandbox: HeymarketSandbox, client: Client, endpoint: str
) -> None:
    # Given a sandbox whose creates update an existing phone, holding one contact
    sandbox.configure(duplicate_create="update")
    create_through(client, endpoint, ALICE, "Alice")
    [before] = sandbox.contacts()

    # When the same phone is created again with a new first name
    status = create_through(client, endpoint, ALICE, "Alicia")

    # Then the one stored contact is updated in place
    assert status == 200
    [after] = sandbox.contacts()
    assert (after["id"], after["first"], after["rev"], after["op"]) == (before["id"], "Alicia", 2, "update")


@pytest.mark.parametrize("endpoint", CREATE_ENDPOINTS)
def test_duplicate_mode_creates_a_second_contact_with_the_same_phone(
    sandbox: HeymarketSandbox, client: Client, endpoint: str
) -> None:
    # Given a sandbox whose creates of a held phone make a second contact
    sandbox.configure(duplicate_create="duplicate")
    create_through(client, endpoint, ALICE, "Alice")

    # When the same phone is created again
    status = create_through(client, endpoint, ALICE, "Alicia")

    # Then two contacts hold the phone, and a search lists both
    assert status == 200
    assert stored(sandbox) == [(ALICE, "Alice"), (ALICE, "Alicia")]
    assert [item["first"] for item in client.search(ALICE)] == ["Alice", "Alicia"]


def test_an_update_cannot_move_a_contact_to_a_held_phone_unless_duplicates_are_allowed(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given two contacts
    alice, _ = client.create({"phone": ALICE}, {"phone": BOB})["contacts"]

    # When Alice is moved to Bob's phone, refused, then allowed
    refused = client.create({"contact_id": alice["uuid"], "phone": BOB})
    sandbox.configure(duplicate_create="duplicate")
    allowed = client.create({"contact_id": alice["uuid"], "phone": BOB})

    # Then the first fails and the second moves her
    assert len(refused["failed_contacts"]) == 1
    assert allowed["failed_contacts"] == []
    assert [item["phone"] for item in client.search(BOB)] == [BOB, BOB]


# Which identifiers answers carry (identifiers) -------------------------------------------------------------


def test_uuid_mode_puts_the_uuid_next_to_the_integer_id_in_every_contact_answer(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given the default mode and a contact
    [created] = client.create({"phone": ALICE})["contacts"]
    uuid = sandbox.contacts()[0]["uuid"]

    # When the contact is read every way
    answers = [
        created,
        client.search(ALICE)[0],
        client.ok("GET", f"/v2/contact/{uuid}"),
        client.ok("GET", f"/v1/contact/{created['id']}"),
        client.ok("POST", "/v1/contact/get", {"phone": ALICE}),
    ]

    # Then each carries both identifiers
    assert {(answer["id"], answer["uuid"]) for answer in answers} == {(98765, uuid)}


def test_integer_mode_leaves_the_uuid_out_of_every_contact_object(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given Contact objects with the integer id only
    sandbox.configure(identifiers="integer")
    [created] = client.create({"phone": ALICE})["contacts"]
    single = client.ok("POST", "/v2/contact", contact(BOB))
    uuid = sandbox.contacts()[0]["uuid"]

    # When the contacts are read every way
    answers = [
        created,
        single,
        *client.search(ALICE, BOB),
        client.ok("GET", f"/v2/contact/{uuid}"),
        client.ok("GET", f"/v1/contact/{created['id']}"),
        client.ok("POST", "/v1/contact/get", {"id": created["id"]}),
        client.ok("PUT", f"/v2/contact/{uuid}", {"first": "A"}),
    ]

    # Then none carries a uuid, each its integer id
    assert all("uuid" not in answer and isinstance(answer["id"], int) for answer in answers)
    assert all(answer.keys() == CONTACT_KEYS for answer in answers)


def test_integer_mode_still_gives_the_uuid_in_the_v1_create_and_update_answers(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given Contact objects with the integer id only
    sandbox.configure(identifiers="integer")

    # When a contact is created and updated through v1
    created = client.ok("POST", "/v1/contact", {"phone": ALICE, "first": "Alice"})
    updated = client.ok("PUT", f"/v1/contact/{created['id']}", {"phone": ALICE, "first": "Alicia"})

    # Then both answers give its id, revision and uuid, and the uuid works with the v2 endpoints
    assert created.keys() == updated.keys() == {"id", "rev", "uuid"}
    assert (created["rev"], updated["rev"], updated["uuid"]) == (1, 2, created["uuid"])
    assert client.ok("GET", f"/v2/contact/{created['uuid']}")["first"] == "Alicia"


# Search ---------------------------------------------------------------------------------------------------


def test_search_answers_a_bare_array_of_the_contacts_by_phone_and_by_email(client: Client) -> None:
    # Given three stored contacts
    client.create(
        {"phone": ALICE, "email": "alice@example.com"}, {"phone": BOB, "email": "bob@example.com"}, {"phone": CAROL}
    )

    # When searching by one phone (typed) and one email (type left out, and in another case)
    status, answer = client.json(
        "POST",
        "/v2/contacts/search",
        {
            "contact_channels": [
                {"channel_type": "phone", "channel_ids": [ALICE]},
                {"channel_ids": ["Bob@Example.com"]},
            ]
        },
    )

    # Then a bare array of exactly those two contacts comes back
    assert status == 200
    assert isinstance(answer, list)
    assert [item["phone"] for item in answer] == [ALICE, BOB]


def test_a_search_without_a_type_reads_digits_as_a_phone(client: Client) -> None:
    client.create({"phone": ALICE})

    assert [item["phone"] for item in client.search(ALICE)] == [ALICE]


def test_a_search_that_matches_nothing_answers_an_empty_array(client: Client) -> None:
    assert client.search(ALICE, "nobody@example.com") == []


@pytest.mark.parametrize(
    "body",
    [{}, {"contact_channels": []}, {"contact_channels": [{"channel_type": "sms", "channel_ids": [ALICE]}]}],
    ids=["no channels", "empty", "unknown type"],
)
def test_a_badly_shaped_search_answers_400_naming_the_field(client: Client, body: Any) -> None:
    status, answer = client.json("POST", "/v2/contacts/search", body)

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith("contact_channels")


def test_a_search_for_more_ids_than_the_maximum_answers_413(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(max_bulk_contacts=2)

    status, _ = client.json("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE, BOB, CAROL]}]})

    assert status == 413


# Deletes and what they do with unknown contacts (delete_unknown) -------------------------------------------


def test_delete_by_uuid_answers_ok_and_deletes(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given two stored contacts
    alice, bob = client.create({"phone": ALICE}, {"phone": BOB})["contacts"]

    # When Alice is deleted by her uuid
    status, answer = client.json("DELETE", "/v2/contacts", delete_body(alice["uuid"]))

    # Then the answer is the JSON string "ok" and only Bob remains
    assert (status, answer) == (200, "ok")
    assert [item["id"] for item in sandbox.contacts()] == [bob["id"]]


def test_delete_unknown_ok_deletes_the_known_contacts_and_answers_ok(sandbox: HeymarketSandbox, client: Client) -> None:
    alice, bob = client.create({"phone": ALICE}, {"phone": BOB})["contacts"]

    status, answer = client.json("DELETE", "/v2/contacts", delete_body(alice["uuid"], UNKNOWN_UUID))

    assert (status, answer) == (200, "ok")
    assert [item["id"] for item in sandbox.contacts()] == [bob["id"]]


@pytest.mark.parametrize(("mode", "status", "code"), [("bad_data", 400, "bad_data"), ("not_found", 404, "not_found")])
def test_delete_unknown_errors_delete_nothing(
    sandbox: HeymarketSandbox, client: Client, mode: str, status: int, code: str
) -> None:
    # Given a stored contact and deletes of unknown contacts refused
    sandbox.configure(delete_unknown=mode)
    [alice] = client.create({"phone": ALICE})["contacts"]

    # When Alice and an unknown uuid are deleted together
    answer_status, answer = client.json("DELETE", "/v2/contacts", delete_body(alice["uuid"], UNKNOWN_UUID))

    # Then the answer is the error, in JSON, and Alice is still there
    assert (answer_status, answer["error_code"]) == (status, code)
    assert len(sandbox.contacts()) == 1


@pytest.mark.parametrize(
    ("mode", "expected"), [("ok", (200, "ok")), ("bad_data", (400, "bad_data")), ("not_found", (404, "not_found"))]
)
@pytest.mark.parametrize("path", [f"/v2/contact/{UNKNOWN_UUID}", "/v1/contact/12345"])
def test_a_single_delete_of_an_unknown_contact_answers_as_set(
    sandbox: HeymarketSandbox, client: Client, mode: str, expected: tuple[int, str], path: str
) -> None:
    sandbox.configure(delete_unknown=mode)

    status, answer = client.json("DELETE", path)

    assert (status, answer if status == 200 else answer["error_code"]) == expected


@pytest.mark.parametrize(
    "body",
    [{"ids": ["x"]}, {"contact_channels": [{"channel_type": "phone", "channel_ids": [ALICE]}]}],
    ids=["no channels", "by phone"],
)
def test_a_delete_not_by_uuid_answers_400(sandbox: HeymarketSandbox, client: Client, body: Any) -> None:
    client.create({"phone": ALICE})

    status, answer = client.json("DELETE", "/v2/contacts", body)

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert len(sandbox.contacts()) == 1


# v2 single contact ----------------------------------------------------------------------------------------


def test_single_create_answers_the_stored_contact(client: Client) -> None:
    status, answer = client.json("POST", "/v2/contact", contact(ALICE, first="Alice"))

    assert status == 200
    assert (answer["id"], answer["phone"], answer["first"], answer["op"]) == (98765, ALICE, "Alice", "create")


@pytest.mark.parametrize("body", [{"first": "Nobody"}, {"phone": ALICE}, {"phone": ALICE, "contact_channels": []}])
def test_single_create_without_a_contact_channel_answers_400(
    sandbox: HeymarketSandbox, client: Client, body: Any
) -> None:
    status, answer = client.json("POST", "/v2/contact", body)

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith("contact_channels")
    assert sandbox.contacts() == []


def test_get_put_and_delete_one_contact_by_uuid(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact
    uuid = client.ok("POST", "/v2/contact", contact(ALICE, first="Alice"))["uuid"]

    # When it is read, updated, deleted, then read again
    read = client.ok("GET", f"/v2/contact/{uuid}")
    updated = client.ok("PUT", f"/v2/contact/{uuid}", {"last": "Smith"})
    deleted = client.ok("DELETE", f"/v2/contact/{uuid}")
    status, gone = client.json("GET", f"/v2/contact/{uuid}")

    # Then each step answers as documented
    assert (read["first"], updated["first"], updated["last"], updated["rev"]) == ("Alice", "Alice", "Smith", 2)
    assert deleted == "ok"
    assert (status, gone["error_code"]) == (404, "not_found")


def test_put_of_an_unknown_uuid_answers_404(client: Client) -> None:
    status, answer = client.json("PUT", f"/v2/contact/{UNKNOWN_UUID}", {"first": "Ghost"})

    assert (status, answer["error_code"]) == (404, "not_found")


def test_a_refused_single_update_answers_400_naming_the_field(client: Client) -> None:
    uuid = client.ok("POST", "/v2/contact", contact(ALICE))["uuid"]

    status, answer = client.json("PUT", f"/v2/contact/{uuid}", {"phone": "+1"})

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith("phone")


# v1 contacts ----------------------------------------------------------------------------------------------


def test_v1_create_answers_id_rev_and_uuid(sandbox: HeymarketSandbox, client: Client) -> None:
    answer = client.ok("POST", "/v1/contact", {"phone": ALICE, "first": "Alice"})

    assert answer == {"id": 98765, "rev": 1, "uuid": sandbox.contacts()[0]["uuid"]}


@pytest.mark.parametrize("method_path", ["POST /v1/contact", "PUT /v1/contact/98765"])
def test_v1_writes_require_the_phone(client: Client, method_path: str) -> None:
    client.ok("POST", "/v1/contact", {"phone": ALICE})
    method, path = method_path.split(" ")

    status, answer = client.json(method, path, {"first": "Alice"})

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith("phone")


def test_v1_update_without_overwrite_merges_the_custom_map_and_overwrites_names(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a contact with two custom values
    created = client.ok("POST", "/v1/contact", {"phone": ALICE, "first": "Alice", "custom": {"1": "a", "2": "b"}})

    # When it is updated with overwrite=false, a new name and one custom value
    answer = client.ok(
        "PUT", f"/v1/contact/{created['id']}?overwrite=false", {"phone": ALICE, "first": "Al", "custom": {"2": "B"}}
    )

    # Then the custom values are merged, the name replaced
    assert answer == {"id": created["id"], "rev": 2, "uuid": created["uuid"]}
    [after] = sandbox.contacts()
    assert (after["first"], after["custom"]) == ("Al", {"1": "a", "2": "B"})


def test_v1_update_with_overwrite_replaces_the_custom_map(sandbox: HeymarketSandbox, client: Client) -> None:
    created = client.ok("POST", "/v1/contact", {"phone": ALICE, "custom": {"1": "a", "2": "b"}})

    client.ok("PUT", f"/v1/contact/{created['id']}?overwrite=true", {"phone": ALICE, "custom": {"2": "B"}})

    assert [item["custom"] for item in sandbox.contacts()] == [{"2": "B"}]


@pytest.mark.parametrize("path", ["/v1/contact/12345", "/v1/contact/abc"])
def test_v1_read_and_update_of_an_unknown_id_answer_404(client: Client, path: str) -> None:
    assert client.send("GET", path).status == 404
    assert client.send("PUT", path, {"phone": ALICE}).status == 404


def test_v1_get_by_id_and_by_phone_where_the_phone_wins(client: Client) -> None:
    # Given two contacts
    alice = client.ok("POST", "/v1/contact", {"phone": ALICE, "first": "Alice"})
    client.ok("POST", "/v1/contact", {"phone": BOB, "first": "Bob"})

    # When each is fetched by id, by phone, and by Bob's phone with Alice's id
    by_id = client.ok("POST", "/v1/contact/get", {"id": alice["id"]})
    by_phone = client.ok("POST", "/v1/contact/get", {"phone": BOB})
    both = client.ok("POST", "/v1/contact/get", {"phone": BOB, "id": alice["id"]})
    by_path = client.ok("GET", f"/v1/contact/{alice['id']}")

    # Then each is the one Contact named, the phone winning over the id
    assert [answer["first"] for answer in (by_id, by_phone, both, by_path)] == ["Alice", "Bob", "Bob", "Alice"]


@pytest.mark.parametrize(
    ("body", "status"), [({"phone": ALICE}, 404), ({"id": 1}, 404), ({}, 400), ({"id": "98765"}, 400)]
)
def test_v1_get_of_nobody_answers_404_and_of_nothing_400(client: Client, body: Any, status: int) -> None:
    assert client.send("POST", "/v1/contact/get", body).status == status


def test_v1_delete_by_id_answers_ok(sandbox: HeymarketSandbox, client: Client) -> None:
    created = client.ok("POST", "/v1/contact", {"phone": ALICE})

    assert client.ok("DELETE", f"/v1/contact/{created['id']}") == "ok"
    assert sandbox.contacts() == []


# v1 batch -------------------------------------------------------------------------------------------------


def test_v1_batch_answers_ok_when_every_contact_is_created(sandbox: HeymarketSandbox, client: Client) -> None:
    # When two valid contacts are sent to the legacy batch endpoint
    status, body = client.json("POST", "/v1/batch/contacts", [{"phone": ALICE}, {"phone": BOB}])

    # Then the answer is the string "ok" and both are stored
    assert (status, body) == (200, "ok")
    assert len(sandbox.contacts()) == 2


def test_v1_batch_answers_the_contacts_that_failed(client: Client) -> None:
    # When one of two contacts has no valid phone
    status, body = client.json("POST", "/v1/batch/contacts", [{"phone": ALICE}, {"phone": "12", "first": "X"}])

    # Then the answer lists that contact, as sent
    assert (status, body) == (200, [{"phone": "12", "first": "X"}])


def test_v1_batch_skips_existing_phones_without_overwrite(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact
    client.json("POST", "/v1/batch/contacts", [{"phone": ALICE, "first": "Alice"}])

    # When the same phone is sent again with overwrite=false
    status, body = client.json("POST", "/v1/batch/contacts?overwrite=false", [{"phone": ALICE, "first": "Alicia"}])

    # Then it is skipped, not failed
    assert (status, body) == (200, "ok")
    assert stored(sandbox) == [(ALICE, "Alice")]


def test_v1_batch_overwrites_existing_phones_with_overwrite_true(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact
    client.json("POST", "/v1/batch/contacts", [{"phone": ALICE, "first": "Alice"}])

    # When the same phone is sent again with overwrite=true
    status, body = client.json("POST", "/v1/batch/contacts?overwrite=true", [{"phone": ALICE, "first": "Alicia"}])

    # Then the one stored contact is updated
    assert (status, body) == (200, "ok")
    assert stored(sandbox) == [(ALICE, "Alicia")]


def test_v1_batch_with_a_bad_overwrite_flag_answers_400(client: Client) -> None:
    assert client.send("POST", "/v1/batch/contacts?overwrite=maybe", [{"phone": ALICE}]).status == 400


# STOP and START texted to the account (texts), and an opt-in written over a STOP (opt_in_over_stop) -----------


def test_a_stop_texted_through_the_faults_endpoint_opts_the_contact_out_without_an_api_request(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a contact opted in
    [created] = client.create(contact(ALICE, first="Alice"))["contacts"]
    requests = sandbox.stats()["requests"]

    # When the person texts STOP (set through the faults endpoint)
    status, _ = client.control("POST", "faults", {"texts": [f"{ALICE}:stop"]})

    # Then the contact is opted out, later changed, with no API request counted and its other fields kept
    [after] = sandbox.contacts()
    assert status == 200
    assert (after["is_opted_out"], after["first"], after["rev"]) == (True, "Alice", created["rev"] + 1)
    assert after["updated"] > created["updated"]
    assert sandbox.stats()["requests"] == requests


def test_a_start_texted_after_a_stop_opts_the_contact_back_in(sandbox: HeymarketSandbox, client: Client) -> None:
    client.create(contact(ALICE, first="Alice"))
    sandbox.text(ALICE, "STOP")

    changed = sandbox.text(ALICE, "UNSTOP")

    assert changed == 1
    assert [item["is_opted_out"] for item in sandbox.contacts()] == [False]


def test_a_text_with_a_keyword_that_is_neither_stop_nor_start_is_refused_by_the_faults_endpoint(
    client: Client,
) -> None:
    status, answer = client.control("POST", "faults", {"texts": [f"{ALICE}:hello"]})

    assert status == 400
    assert "texts" in json.dumps(answer)


def test_a_text_is_seen_by_write_listeners_as_a_text_not_an_api_write(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    client.create(contact(ALICE))
    changes: list[ContactWrite] = []
    remove = sandbox.add_write_listener(changes.append)

    sandbox.text(ALICE, "STOP")
    remove()

    assert [(change.op, change.sent, change.contact["is_opted_out"]) for change in changes] == [
        ("text", {"is_opted_out": True}, True)
    ]


@pytest.mark.parametrize(("answer", "opted_out"), [("accept", False), ("ignore", True)])
def test_an_opt_in_written_over_a_stop_is_accepted_or_ignored_and_the_other_fields_change(
    sandbox: HeymarketSandbox, client: Client, answer: str, opted_out: bool
) -> None:
    # Given a contact that texted STOP, and the setting for an opt-in written over it
    sandbox.configure(opt_in_over_stop=answer)
    [created] = client.create(contact(ALICE, first="Alice"))["contacts"]
    sandbox.text(ALICE, "STOP")

    # When an update writes is_opted_out false with a new last name
    reply = client.create({"contact_id": created["uuid"], "last": "Lee", "is_opted_out": False})

    # Then the answer shows the contact as stored, its opt-out as the setting says, its last name changed
    [shown] = reply["contacts"]
    assert (shown["is_opted_out"], shown["last"]) == (opted_out, "Lee")
    assert [(item["is_opted_out"], item["last"]) for item in sandbox.contacts()] == [(opted_out, "Lee")]


def test_an_opt_in_written_over_a_stop_is_refused_as_a_failed_contact_in_bulk_and_400_alone(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    sandbox.configure(opt_in_over_stop="refuse")
    [created] = client.create(contact(ALICE, first="Alice"))["contacts"]
    sandbox.text(ALICE, "STOP")

    bulk = client.create({"contact_id": created["uuid"], "last": "Lee", "is_opted_out": False})
    alone = client.send("PUT", f"/v1/contact/{created['id']}", {"phone": ALICE, "is_opted_out": False})

    assert [item["error"].split(":")[0] for item in bulk["failed_contacts"]] == ["is_opted_out"]
    assert alone.status == 400
    assert [(item["is_opted_out"], item["last"]) for item in sandbox.contacts()] == [(True, "")]


# An update by contact_id to a phone another contact holds (update_phone_held) ---------------------------------------
@pytest.mark.parametrize(
    ("way", "expected"),
    [
        ("refuse", {("Alice", "ALICE"), ("Bob", "BOB")}),
        ("keep", {("Alicia", "ALICE"), ("Bob", "BOB")}),
        ("holder", {("Alice", "ALICE"), ("Alicia", "BOB")}),
        ("share", {("Alicia", "BOB"), ("Bob", "BOB")}),
    ],
)
def test_an_update_by_contact_id_to_a_phone_another_contact_holds_is_played_as_the_setting_says(
    sandbox: HeymarketSandbox, client: Client, way: str, expected: set[tuple[str, str]]
) -> None:
    # Given Alice's and Bob's contacts, and the setting for such an update
    sandbox.configure(update_phone_held=way)
    [alice] = client.create(contact(ALICE, first="Alice"))["contacts"]
    client.create(contact(BOB, first="Bob"))

    # When Alice's contact is updated by its id to Bob's phone
    client.create({"contact_id": alice["uuid"], "phone": BOB, "first": "Alicia"})

    # Then the contacts are as the setting says
    names = {ALICE: "ALICE", BOB: "BOB"}
    assert {(item["first"], names[item["phone"]]) for item in sandbox.contacts()} == expected


def test_an_opt_in_of_a_contact_opted_in_is_stored_whatever_the_setting(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    sandbox.configure(opt_in_over_stop="refuse")
    [created] = client.create(contact(ALICE))["contacts"]

    reply = client.create({"contact_id": created["uuid"], "is_opted_out": False})

    assert reply["failed_contacts"] == []


# What an update does with what it leaves out (update_omitted, update_custom) ------------------------------


def test_update_omitted_clear_replaces_the_whole_contact(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given updates that replace the whole contact, and a contact with a name, email and custom value
    sandbox.configure(update_omitted="clear")
    [created] = client.create(contact(ALICE, first="Alice", email="a@example.com", custom={"1": "a"}))["contacts"]

    # When an update sends only a last name
    client.create({"contact_id": created["uuid"], "last": "Smith"})

    # Then what it left out is cleared, the phone kept
    [after] = sandbox.contacts()
    assert (after["phone"], after["first"], after["last"], after["email"], after["custom"]) == (
        ALICE,
        "",
        "Smith",
        "",
        {},
    )
    assert after["display_name"] == "Smith"


@pytest.mark.parametrize(("mode", "expected"), [("replace", {"2": "B"}), ("merge", {"1": "a", "2": "B"})])
def test_update_custom_replaces_or_merges_the_custom_map(
    sandbox: HeymarketSandbox, client: Client, mode: str, expected: dict[str, str]
) -> None:
    sandbox.configure(update_custom=mode)
    [created] = client.create(contact(ALICE, custom={"1": "a", "2": "b"}))["contacts"]

    client.create({"contact_id": created["uuid"], "custom": {"2": "B"}})

    assert [item["custom"] for item in sandbox.contacts()] == [expected]


# Custom fields --------------------------------------------------------------------------------------------


def test_contact_fields_lists_the_configured_custom_fields(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a team with two custom fields
    sandbox.configure(custom_fields=((101, "Campus"), (102, "Lead source")))

    # When the fields are listed
    status, body = client.json("POST", "/v1/contact-fields", {})

    # Then each comes with its id and title
    assert (status, body) == (200, [{"id": 101, "title": "Campus"}, {"id": 102, "title": "Lead source"}])


def test_custom_fields_can_be_set_through_the_faults_endpoint(client: Client) -> None:
    # When the fields are set as JSON pairs through the control endpoint
    control_status, settings = client.control("POST", "faults", {"custom_fields": [[7, "Shoe size"]]})

    # Then the API lists them
    assert (control_status, settings["custom_fields"]) == (200, [[7, "Shoe size"]])
    assert client.json("POST", "/v1/contact-fields", {})[1] == [{"id": 7, "title": "Shoe size"}]


@pytest.mark.parametrize("fields", [[["7", "Size"]], [[7]], [[7, ""]], "7=Size"], ids=["id", "pair", "title", "str"])
def test_badly_shaped_custom_fields_are_refused(sandbox: HeymarketSandbox, fields: Any) -> None:
    with pytest.raises(ValueError, match="custom_fields"):
        sandbox.configure(custom_fields=fields)


# Tags -----------------------------------------------------------------------------------------------------


def test_a_tag_is_created_read_and_listed(client: Client) -> None:
    # When a tag is created, read by id, and the tags listed
    created = client.ok("POST", "/v1/tag", {"tag": "VIP", "color": "#FFD700"})
    read = client.ok("GET", f"/v1/tag/{created['id']}")
    listed = client.ok("POST", "/v1/tags", {})

    # Then the answers are the documented shapes
    assert created.keys() == {"id", "rev", "uuid"}
    assert (created["id"], created["rev"]) == (55, 1)
    assert read.keys() == {"id", "tag", "color", "team_id", "created", "updated", "rev"}
    assert (read["tag"], read["color"]) == ("VIP", "#FFD700")
    assert listed == [read]


def test_tags_are_listed_30_at_a_time_most_recent_first_then_older_by_date(client: Client) -> None:
    # Given 35 tags
    ids = [client.ok("POST", "/v1/tag", {"tag": f"T{n}", "color": "#000000"})["id"] for n in range(35)]

    # When the first page is listed, then the page before the last one seen
    first = client.ok("POST", "/v1/tags", {})
    second = client.ok("POST", "/v1/tags", {"date": first[-1]["updated"]})

    # Then the pages hold the 30 newest, then the 5 oldest, each newest first
    assert [tag["id"] for tag in first] == ids[::-1][:30]
    assert [tag["id"] for tag in second] == ids[::-1][30:]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/tag", {"color": "#000000"}, "tag"),
        ("/v1/tag", {"tag": ""}, "tag"),
        ("/v1/tags", {"date": "later"}, "date"),
    ],
    ids=["no tag", "empty tag", "bad date"],
)
def test_bad_tag_requests_answer_400_naming_the_field(client: Client, path: str, body: Any, field: str) -> None:
    status, answer = client.json("POST", path, body)

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith(f"{field}:")


def test_a_contact_holds_known_tags_as_written(client: Client) -> None:
    tag_ids = [client.ok("POST", "/v1/tag", {"tag": f"T{n}"})["id"] for n in range(5)]

    [created] = client.create(contact(ALICE, tags=[{"tag_id": tag_id} for tag_id in tag_ids]))["contacts"]

    assert created["tags"] == [{"tag_id": tag_id} for tag_id in tag_ids]


def test_more_than_five_tags_fails_the_contact(client: Client) -> None:
    tag_ids = [client.ok("POST", "/v1/tag", {"tag": f"T{n}"})["id"] for n in range(6)]

    answer = client.create(contact(ALICE, tags=[{"tag_id": tag_id} for tag_id in tag_ids]))

    assert len(answer["failed_contacts"]) == 1


def test_an_unknown_tag_id_fails_the_contact(client: Client) -> None:
    answer = client.create(contact(ALICE, tags=[{"tag_id": 999}]))

    assert [failed["contact"] for failed in answer["failed_contacts"]] == [contact(ALICE, tags=[{"tag_id": 999}])]


def test_the_default_account_holds_tags_1_and_2_which_the_sample_events_use() -> None:
    # Given a sandbox with the default settings
    with HeymarketSandbox(SandboxConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY)) as sandbox:
        pool = urllib3.PoolManager()
        client = Client(sandbox, pool)

        # When a contact is tagged 1 and 2 (as events/generic/mixed_contacts.json does), and a tag created
        answer = client.create(contact(ALICE, tags=[{"tag_id": 1}, {"tag_id": 2}]))
        created = client.ok("POST", "/v1/tag", {"tag": "New"})
        pool.clear()

    # Then the contact is stored, and the new tag's id comes after the account's
    assert answer["failed_contacts"] == []
    assert created["id"] == 55
    assert [(tag["id"], tag["tag"]) for tag in sandbox.tags()] == [(1, "VIP"), (2, "Newsletter"), (55, "New")]


def test_account_tags_come_back_after_a_reset_and_can_be_added_at_runtime(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given account tags set at runtime, above the first id the sandbox gives
    sandbox.configure(account_tags=((7, "Seven"), (60, "Sixty")))

    # When the sandbox is reset
    sandbox.reset()

    # Then the account holds them again, and the next tag id comes after them
    assert [(tag["id"], tag["tag"]) for tag in sandbox.tags()] == [(7, "Seven"), (60, "Sixty")]
    assert client.ok("POST", "/v1/tag", {"tag": "Next"})["id"] == 61


def test_a_deleted_tag_is_gone_and_off_every_contact(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a contact holding a tag
    tag_id = client.ok("POST", "/v1/tag", {"tag": "VIP"})["id"]
    client.create(contact(ALICE, tags=[{"tag_id": tag_id}]))

    # When the tag is deleted
    answer = client.ok("DELETE", f"/v1/tag/{tag_id}")

    # Then it cannot be read, and the contact no longer holds it
    assert answer == "ok"
    assert client.send("GET", f"/v1/tag/{tag_id}").status == 404
    assert client.send("DELETE", f"/v1/tag/{tag_id}").status == 404
    assert [item["tags"] for item in sandbox.contacts()] == [[]]


# Lists ----------------------------------------------------------------------------------------------------


def new_list(client: Client, local_id: str = "open-house", **members: Any) -> dict[str, Any]:
    answer: dict[str, Any] = client.ok("POST", "/v2/lists", {"title": "Open house", "local_id": local_id, **members})
    return answer


def test_a_list_holds_contacts_by_id_phone_and_email_and_unknown_ones_become_contacts(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given Alice (by id) and Bob (by email) stored
    alice, _ = client.create({"phone": ALICE}, {"phone": BOB, "email": "bob@example.com"})["contacts"]

    # When a list is created naming Alice, Bob's email and an unknown phone
    answer = new_list(client, contacts=[alice["id"]], emails=["bob@example.com"], phones=[CAROL], type="contacts")

    # Then the list holds the three (by id, by phone, by email), Carol created for it
    assert answer.keys() == {"id", "rev", "uuid"}
    assert (answer["id"], answer["rev"]) == (42, 1)
    [listed] = sandbox.lists()
    assert (listed["local_id"], listed["title"], listed["phones"]) == ("open-house", "Open house", [ALICE, CAROL, BOB])
    assert [(item["phone"], item["op"]) for item in sandbox.contacts()][2] == (CAROL, "create")


def test_an_unknown_email_becomes_a_contact_with_that_email(sandbox: HeymarketSandbox, client: Client) -> None:
    new_list(client, emails=["new@example.com"])

    assert [(item["phone"], item["email"]) for item in sandbox.contacts()] == [("", "new@example.com")]
    assert sandbox.lists()[0]["emails"] == ["new@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "T"}, "local_id"),
        ({"title": "T", "local_id": ""}, "local_id"),
        ({"local_id": "k"}, "title"),
        ({"title": "T", "local_id": "k", "type": "phones"}, "type"),
        ({"title": "T", "local_id": "k", "contacts": [1]}, "contacts"),
        ({"title": "T", "local_id": "k", "phones": ["+15105551234"]}, "phones"),
        ({"title": "T", "local_id": "k", "contacts": ["98765"]}, "contacts"),
    ],
    ids=["no local_id", "empty local_id", "no title", "type", "unknown contact", "bad phone", "string id"],
)
def test_a_bad_list_create_answers_400_naming_the_field(
    sandbox: HeymarketSandbox, client: Client, body: Any, field: str
) -> None:
    status, answer = client.json("POST", "/v2/lists", body)

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith(field)
    assert sandbox.lists() == []


def test_a_repeated_local_id_answers_the_existing_list_by_default(sandbox: HeymarketSandbox, client: Client) -> None:
    first = new_list(client, phones=[ALICE])

    again = new_list(client, phones=[BOB])

    assert again == first
    assert [item["phones"] for item in sandbox.lists()] == [[ALICE]]
    assert [item["phone"] for item in sandbox.contacts()] == [ALICE]  # Bob was not created for nothing


def test_a_repeated_local_id_is_refused_in_refuse_mode(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(list_local_id_repeat="refuse")
    new_list(client)

    status, answer = client.json("POST", "/v2/lists", {"title": "Again", "local_id": "open-house"})

    assert (status, answer["error_code"]) == (400, "bad_data")
    assert answer["message"].startswith("local_id")
    assert len(sandbox.lists()) == 1


def test_a_repeated_local_id_creates_a_second_list_in_duplicate_mode(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(list_local_id_repeat="duplicate")
    first = new_list(client)

    second = new_list(client)

    assert second["id"] != first["id"]
    assert [item["local_id"] for item in sandbox.lists()] == ["open-house", "open-house"]


def test_a_list_update_retitles_replaces_adds_and_removes_members(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a list of Alice and Bob, and Carol stored
    list_id = new_list(client, phones=[ALICE, BOB])["id"]
    ids = {item["phone"]: item["id"] for item in sandbox.contacts()}

    # When it is retitled with Carol replacing everyone, then Alice added by phone and Carol removed by id
    first = client.ok("PUT", f"/v2/lists/{list_id}", {"title": "Spring", "contacts": [ids[BOB]]})
    second = client.ok("PUT", f"/v2/lists/{list_id}", {"add_phones": [ALICE, CAROL], "remove_contacts": [ids[BOB]]})

    # Then each answer gives the new revision, and the list holds Alice and Carol
    assert (first, second) == ({"id": list_id, "rev": 2}, {"id": list_id, "rev": 3})
    [listed] = sandbox.lists()
    assert (listed["title"], listed["phones"]) == ("Spring", [ALICE, CAROL])


def test_a_list_update_adds_and_removes_by_email_and_by_phone(sandbox: HeymarketSandbox, client: Client) -> None:
    list_id = new_list(client, phones=[ALICE])["id"]

    client.ok("PUT", f"/v2/lists/{list_id}", {"add_emails": ["x@example.com"], "add_contacts": []})
    client.ok("PUT", f"/v2/lists/{list_id}", {"remove_phones": [ALICE]})
    after_phone = sandbox.lists()[0]["emails"], sandbox.lists()[0]["phones"]
    client.ok("PUT", f"/v2/lists/{list_id}", {"remove_emails": ["x@example.com"]})

    assert after_phone == (["x@example.com"], [])
    assert sandbox.lists()[0]["contacts"] == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_a_list_that_does_not_exist_answers_404(client: Client, method: str) -> None:
    status, answer = client.json(method, "/v2/lists/4242", {"title": "x"})

    assert (status, answer["error_code"]) == (404, "not_found")


def test_a_deleted_list_is_gone_and_a_deleted_contact_leaves_its_lists(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given two lists holding Alice and Bob
    first = new_list(client, "one", phones=[ALICE, BOB])
    new_list(client, "two", phones=[ALICE])

    # When the first list is deleted, then Alice
    answer = client.ok("DELETE", f"/v2/lists/{first['id']}")
    client.ok("DELETE", "/v2/contacts", delete_body(sandbox.contacts()[0]["uuid"]))

    # Then one list remains, without Alice
    assert answer == "ok"
    assert [(item["local_id"], item["phones"]) for item in sandbox.lists()] == [("two", [])]


def test_a_list_with_more_members_than_the_maximum_answers_413(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(max_bulk_contacts=2)

    status, _ = client.json("POST", "/v2/lists", {"title": "T", "local_id": "k", "phones": [ALICE, BOB, CAROL]})

    assert status == 413
    assert sandbox.contacts() == []


# Errors and limits ----------------------------------------------------------------------------------------


def test_rate_limit_answers_429_past_the_limit(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 3 requests a minute
    sandbox.configure(rate_limit_per_minute=3)

    # When 4 requests are made
    statuses = [client.send("GET", "/v1/inboxes").status for _ in range(4)]

    # Then the fourth is throttled
    assert statuses == [200, 200, 200, 429]


def test_a_429_names_the_error_and_carries_no_retry_after_by_default(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 1 request a minute, already used
    sandbox.configure(rate_limit_per_minute=1)
    client.send("GET", "/v1/inboxes")

    # When another request is made
    response = client.send("GET", "/v1/inboxes")

    # Then it is a JSON rate_limited error without Retry-After (Heymarket documents none)
    assert (response.status, json.loads(response.data)["error_code"]) == (429, "rate_limited")
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize("settings", [{"rate_limit_per_minute": 1}, {"throttle_burst": 2}], ids=["limit", "burst"])
def test_retry_after_s_adds_the_header_to_every_429(
    sandbox: HeymarketSandbox, client: Client, settings: dict[str, int]
) -> None:
    sandbox.configure(retry_after_s=7, **settings)

    responses = [client.send("GET", "/v1/inboxes") for _ in range(2)]

    assert [(response.status, response.headers.get("Retry-After")) for response in responses][-1] == (429, "7")


def test_throttle_burst_answers_429_then_recovers(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a burst of 2 throttled requests
    sandbox.configure(throttle_burst=2)

    # When 3 requests are made
    statuses = [client.send("GET", "/v1/inboxes").status for _ in range(3)]

    # Then the first two are throttled and the third succeeds
    assert statuses == [429, 429, 200]


def test_fail_rate_one_answers_500_without_writing(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given every request fails
    sandbox.configure(fail_rate=1.0)

    # When a contact is written
    status, body = client.json("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})

    # Then the answer is 500 and nothing was stored
    assert (status, body["error_code"]) == (500, "internal_error")
    assert sandbox.contacts() == []


def test_contact_error_rate_one_fails_every_contact(client: Client, sandbox: HeymarketSandbox) -> None:
    # Given every contact of a bulk write fails
    sandbox.configure(contact_error_rate=1.0)

    # When two contacts are written
    body = client.create({"phone": ALICE}, {"phone": BOB})

    # Then both are in failed_contacts with the injected error
    assert [item["error"] for item in body["failed_contacts"]] == ["injected contact error"] * 2


def test_a_forbidden_endpoint_answers_403_to_valid_credentials_and_does_nothing(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given credentials without access to list creation
    sandbox.configure(forbidden_endpoints=["POST /v2/lists"])

    # When a list and a contact are created
    status, answer = client.json("POST", "/v2/lists", {"title": "T", "local_id": "k", "phones": [ALICE]})
    client.create({"phone": BOB})

    # Then only the list is refused, with 403
    assert (status, answer["error_code"]) == (403, "forbidden")
    assert (sandbox.lists(), [item["phone"] for item in sandbox.contacts()]) == ([], [BOB])


def test_a_body_over_max_body_bytes_answers_413_and_is_counted(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(max_body_bytes=100)

    status, answer = client.json("POST", "/v2/contacts", {"contacts": [{"phone": ALICE, "first": "x" * 200}]})

    assert (status, answer["error_code"]) == (413, "too_large")
    assert sandbox.stats()["by_status"] == {"413": 1}
    assert sandbox.contacts() == []


def test_latency_delays_each_api_request(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given 150 ms of added latency
    sandbox.configure(latency_ms=150)

    # When a request is made
    started = time.monotonic()
    client.send("GET", "/v1/inboxes")

    # Then it takes at least that long
    assert time.monotonic() - started >= 0.15


def test_reset_rate_one_drops_the_connection_after_the_write(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given every answer lost to a connection reset
    sandbox.configure(reset_rate=1.0)

    # When a contact is written
    with pytest.raises(urllib3.exceptions.ProtocolError):
        client.send("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})

    # Then no answer came, but the contact is stored
    assert [item["phone"] for item in sandbox.contacts()] == [ALICE]
    assert sandbox.stats()["connections_reset"] == 1


def test_every_response_carries_a_unique_request_id(sandbox: HeymarketSandbox, client: Client) -> None:
    # When a success, an auth failure, an unknown path and a mangled answer are requested
    responses = [
        client.send("GET", "/v1/inboxes"),
        client.send("GET", "/v1/inboxes", authorization=None),
        client.send("GET", "/v9/nothing"),
    ]
    sandbox.configure(answer_fault="not_found")
    responses.append(client.send("GET", "/v1/inboxes"))

    # Then each carries its own X-Request-Id
    request_ids = [response.headers.get("X-Request-Id") for response in responses]
    assert all(request_ids)
    assert len(set(request_ids)) == 4


def test_unknown_path_and_wrong_method_answer_json_404_and_405(client: Client) -> None:
    # When an unknown path and a known path with a wrong method are requested
    missing_status, missing = client.json("GET", "/v9/nothing")
    wrong = client.send("GET", "/v2/contacts")

    # Then both answer in JSON with the right status, the 405 naming the allowed methods
    assert (missing_status, missing["error_code"]) == (404, "not_found")
    assert (wrong.status, json.loads(wrong.data)["error_code"]) == (405, "method_not_allowed")
    assert wrong.headers["Allow"] == "DELETE, POST"


def test_the_literal_v1_contact_get_path_wins_over_the_id_template(client: Client) -> None:
    # GET /v1/contact/get is the read by id "get" (not an id), POST the documented lookup
    assert client.send("GET", "/v1/contact/get").status == 404
    assert client.send("POST", "/v1/contact/get", {"id": 1}).status == 404
    assert client.send("PATCH", "/v1/contact/get").status == 405


# Answer faults --------------------------------------------------------------------------------------------


def fault(sandbox: HeymarketSandbox, name: str, **settings: Any) -> None:
    sandbox.configure(answer_fault=name, **settings)


@pytest.mark.parametrize("name", ["non_json", "empty", "truncated", "other_shape", "non_object_items"])
def test_a_200_fault_mangles_the_answer_after_the_write_took_effect(
    sandbox: HeymarketSandbox, client: Client, name: str
) -> None:
    # Given answers mangled as a proxy would
    fault(sandbox, name)

    # When a contact is written
    response = client.send("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})

    # Then the answer is a 200 that is not the documented one, and the contact is stored
    assert response.status == 200
    assert [item["phone"] for item in sandbox.contacts()] == [ALICE]
    try:
        answer = json.loads(response.data)
    except ValueError:
        answer = None
    assert answer is None or not (
        isinstance(answer, dict)
        and isinstance(answer.get("contacts"), list)
        and all(isinstance(item, dict) for item in answer["contacts"])
    )
    assert sandbox.stats()["answer_faults"] == 1


def test_non_json_is_an_html_page(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "non_json")

    response = client.send("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]})

    assert (response.status, response.headers["Content-Type"]) == (200, "text/html; charset=utf-8")
    assert response.data.lstrip().startswith(b"<!DOCTYPE html>")


def test_empty_is_a_200_without_a_body(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "empty")

    response = client.send("GET", "/v1/inboxes")

    assert (response.status, response.data, response.headers["Content-Length"]) == (200, b"", "0")


def test_truncated_is_the_documented_answer_cut_in_the_middle(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact, and answers cut in half
    client.create({"phone": ALICE})
    whole = client.send("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]}).data
    fault(sandbox, "truncated")

    # When it is searched again
    response = client.send("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]})

    # Then the body is the first half of the same answer, with its own Content-Length
    assert response.data == whole[: len(whole) // 2]
    assert response.headers["Content-Length"] == str(len(response.data))


@pytest.mark.parametrize(
    ("path", "body", "expected_type"),
    [
        ("/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]}, dict),
        ("/v2/contacts", {"contacts": [{"phone": BOB}]}, list),
        ("/v1/batch/contacts", [{"phone": CAROL}], dict),
    ],
    ids=["array becomes object", "object becomes array", "string becomes object"],
)
def test_other_shape_swaps_arrays_and_objects(
    sandbox: HeymarketSandbox, client: Client, path: str, body: Any, expected_type: type
) -> None:
    fault(sandbox, "other_shape")

    status, answer = client.json("POST", path, body)

    assert status == 200
    assert isinstance(answer, expected_type)


def test_non_object_items_keeps_the_containers_with_strings_inside(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given answers whose items are not objects
    fault(sandbox, "non_object_items")

    # When a contact is written, then searched
    written = client.ok("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})
    found = client.ok("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]})

    # Then the documented containers hold strings
    assert written == {"contacts": ["98765"], "failed_contacts": ["oops"]}
    assert found == ["98765"]


@pytest.mark.parametrize("status", [301, 302, 307])
def test_redirect_answers_a_3xx_with_a_location_and_does_nothing(
    sandbox: HeymarketSandbox, client: Client, status: int
) -> None:
    # Given a moved endpoint
    fault(sandbox, "redirect", redirect_status=status)

    # When a contact is written (even without credentials)
    response = client.send("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]}, authorization=None)

    # Then the answer is the redirect, and nothing was stored
    assert response.status == status
    assert response.headers["Location"] == f"{sandbox.url}/moved/v2/contacts"
    assert sandbox.contacts() == []


def test_not_found_answers_an_html_404_and_does_nothing(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a wrong base URL
    fault(sandbox, "not_found")

    # When a contact is written
    response = client.send("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})

    # Then a web server's HTML 404 comes back, and nothing was stored
    assert (response.status, response.headers["Content-Type"]) == (404, "text/html; charset=utf-8")
    assert b"404 Not Found" in response.data
    assert sandbox.contacts() == []


def test_trickle_sends_the_documented_answer_over_trickle_seconds(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given answers trickling in over 0.6 s
    client.create({"phone": ALICE})
    fault(sandbox, "trickle", trickle_seconds=0.6)

    # When the contact is searched
    started = time.monotonic()
    response = client.pool.request(
        "POST",
        sandbox.url + "/v2/contacts/search",
        json={"contact_channels": [{"channel_ids": [ALICE]}]},
        headers={"Authorization": bearer(API_KEY)},
        preload_content=False,
        retries=False,
    )
    headers_after = time.monotonic() - started
    body = response.read()
    body_after = time.monotonic() - started

    # Then the headers come at once, and the whole documented answer only after about that long
    assert [item["phone"] for item in json.loads(body)] == [ALICE]
    assert headers_after < 0.3
    assert body_after >= 0.5


def test_stop_ends_a_trickling_answer_at_once(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given an answer trickling over a minute
    fault(sandbox, "trickle", trickle_seconds=60)
    response = client.pool.request(
        "GET", sandbox.url + "/v1/inboxes", headers={"Authorization": bearer(API_KEY)}, preload_content=False
    )

    # When the sandbox is stopped
    started = time.monotonic()
    sandbox.stop()

    # Then it stops within seconds, the answer cut short
    assert time.monotonic() - started < 5
    with pytest.raises(urllib3.exceptions.HTTPError):
        response.read()


def test_answer_fault_endpoints_limits_the_fault_to_those_endpoints(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "not_found", answer_fault_endpoints=["POST /v2/contacts/search"])

    written = client.send("POST", "/v2/contacts", {"contacts": [{"phone": ALICE}]})
    searched = client.send("POST", "/v2/contacts/search", {"contact_channels": [{"channel_ids": [ALICE]}]})

    assert (written.status, searched.status) == (200, 404)


def test_answer_fault_rate_mangles_that_fraction_of_requests(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "not_found", answer_fault_rate=0.5, seed=1)

    statuses = [client.send("GET", "/v1/inboxes").status for _ in range(40)]

    assert 5 < statuses.count(404) < 35
    assert statuses.count(404) + statuses.count(200) == 40


def test_answer_fault_rate_zero_mangles_nothing(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "empty", answer_fault_rate=0.0)

    assert client.ok("GET", "/v1/inboxes") == [{"id": 1, "name": "Sandbox inbox"}]


def test_a_200_fault_leaves_error_answers_as_they_are(sandbox: HeymarketSandbox, client: Client) -> None:
    fault(sandbox, "non_json")

    status, answer = client.json("GET", "/v1/inboxes", authorization=None)

    assert (status, answer["error_code"]) == (401, "unauthorized")


# Control endpoints ----------------------------------------------------------------------------------------


def test_control_contacts_lists_every_contact_with_its_id_and_uuid_oldest_first(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given two contacts, in integer mode
    sandbox.configure(identifiers="integer")
    client.create({"phone": ALICE}, {"phone": BOB})

    # When the stored contacts are read over HTTP
    status, contacts = client.control("GET", "contacts")

    # Then both come, oldest first, with both identifiers
    assert status == 200
    assert [(item["id"], item["phone"]) for item in contacts] == [(98765, ALICE), (98766, BOB)]
    assert all(isinstance(item["uuid"], str) for item in contacts)
    assert contacts == sandbox.contacts()


def test_control_lists_and_tags_show_what_the_account_holds(sandbox: HeymarketSandbox, client: Client) -> None:
    new_list(client, phones=[ALICE])
    client.ok("POST", "/v1/tag", {"tag": "VIP"})

    lists_status, lists = client.control("GET", "lists")
    tags_status, tags = client.control("GET", "tags")

    assert (lists_status, [item["phones"] for item in lists]) == (200, [[ALICE]])
    assert (tags_status, [(item["tag"], item["id"]) for item in tags]) == (200, [("VIP", 55)])
    assert (lists, tags) == (sandbox.lists(), sandbox.tags())


def test_stats_and_log_count_api_requests_by_endpoint_and_status(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given one write and one refused request
    client.create({"phone": ALICE})
    client.send("GET", "/v1/inboxes", authorization=None)

    # When the stats are read (through the control endpoint, which is not counted)
    status, stats = client.control("GET", "stats")

    # Then they count both API requests and the contact written
    assert status == 200
    assert stats["requests"] == 2
    assert stats["by_endpoint"] == {"POST /v2/contacts": 1, "GET /v1/inboxes": 1}
    assert stats["by_status"] == {"200": 1, "401": 1}
    assert (stats["contacts_written"], stats["contacts_stored"]) == (1, 1)
    assert sandbox.requests_log == [("POST", "/v2/contacts", 200), ("GET", "/v1/inboxes", 401)]


def test_stats_name_templated_endpoints_by_their_template(sandbox: HeymarketSandbox, client: Client) -> None:
    client.send("GET", "/v1/contact/98765")
    client.send("DELETE", f"/v2/contact/{UNKNOWN_UUID}")

    assert sandbox.stats()["by_endpoint"] == {"GET /v1/contact/{id}": 1, "DELETE /v2/contact/{id}": 1}


def test_reset_clears_contacts_tags_lists_and_counters(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given stored contacts, a tag, a list and counted requests
    new_list(client, phones=[ALICE])
    client.ok("POST", "/v1/tag", {"tag": "VIP"})

    # When the sandbox is reset over HTTP
    status, _ = client.control("POST", "reset")

    # Then everything is empty, and ids start over
    assert status == 200
    assert (sandbox.contacts(), sandbox.lists(), sandbox.tags()) == ([], [], [])
    assert (sandbox.stats()["requests"], sandbox.requests_log) == (0, [])
    assert client.create({"phone": BOB})["contacts"][0]["id"] == 98765


def test_faults_endpoint_shows_and_changes_every_setting(client: Client) -> None:
    # When a setting is changed through the control endpoint
    control_status, settings = client.control("POST", "faults", {"fail_rate": 1.0, "duplicate_create": "fail"})

    # Then the answer lists every setting, and API requests fail
    assert control_status == 200
    assert settings.keys() == {field.name for field in dataclasses.fields(SandboxConfig)}
    assert (settings["fail_rate"], settings["duplicate_create"]) == (1.0, "refuse")
    assert client.send("GET", "/v1/inboxes").status == 500
    assert client.control("GET", "faults") == (200, settings)


@pytest.mark.parametrize(
    "body", [{"explode": True}, {"identifiers": "both"}, {"answer_fault_endpoints": ["GET /nowhere"]}, ["x"]]
)
def test_faults_endpoint_refuses_unknown_and_invalid_settings(client: Client, body: Any) -> None:
    status, answer = client.control("POST", "faults", body)

    assert (status, answer["error_code"]) == (400, "bad_data")


def test_control_endpoints_need_no_auth_and_answer_404_and_405_in_json(client: Client) -> None:
    assert client.control("GET", "nothing")[0] == 404
    assert client.control("POST", "contacts")[0] == 405
    assert client.sandbox.stats()["requests"] == 0


# Settings: construction, faults endpoint, command line ----------------------------------------------------

# For each setting, a value other than its default, and that value on the command line.
NON_DEFAULT: dict[str, tuple[Any, list[str]]] = {
    "secret_id": ("other-id", ["other-id"]),
    "secret_key": ("other-key", ["other-key"]),
    "api_key": ("other-api-key", ["other-api-key"]),
    "rate_limit_per_minute": (10, ["10"]),
    "max_bulk_contacts": (5, ["5"]),
    "max_body_bytes": (1000, ["1000"]),
    "retry_after_s": (3, ["3"]),
    "duplicate_create": ("duplicate", ["duplicate"]),
    "identifiers": ("integer", ["integer"]),
    "answer_deviations": (("id_as_uuid", "extra_fields"), ["id_as_uuid", "extra_fields"]),
    "delete_unknown": ("not_found", ["not_found"]),
    "list_local_id_repeat": ("refuse", ["refuse"]),
    "update_omitted": ("clear", ["clear"]),
    "update_custom": ("merge", ["merge"]),
    "opt_in_over_stop": ("refuse", ["refuse"]),
    "update_phone_held": ("holder", ["holder"]),
    "texts": (("15105551234:STOP",), ["15105551234:stop"]),
    "custom_fields": (((7, "Size"), (8, "Colour")), ["7=Size", "8=Colour"]),
    "account_tags": (((3, "Gold"),), ["3=Gold"]),
    "fail_rate": (0.25, ["0.25"]),
    "throttle_burst": (2, ["2"]),
    "contact_error_rate": (0.5, ["0.5"]),
    "forbidden_endpoints": (("POST /v2/lists",), ["POST /v2/lists"]),
    "answer_fault": ("trickle", ["trickle"]),
    "answer_fault_rate": (0.5, ["0.5"]),
    "answer_fault_endpoints": (("POST /v2/contacts", "GET /v1/inboxes"), ["POST /v2/contacts", "GET /v1/inboxes"]),
    "trickle_seconds": (2.5, ["2.5"]),
    "redirect_status": (307, ["307"]),
    "latency_ms": (20, ["20"]),
    "latency_endpoints": (("POST /v2/contacts",), ["POST /v2/contacts"]),
    "reset_rate": (0.1, ["0.1"]),
    "seed": (11, ["11"]),
}


def parse_options(*argv: str) -> SandboxConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args(list(argv)))


def test_every_setting_has_help_and_choices_metadata_and_a_test_value() -> None:
    fields = dataclasses.fields(SandboxConfig)

    assert all(field.metadata["help"] and "choices" in field.metadata for field in fields)
    assert {field.name for field in fields} == NON_DEFAULT.keys()
    assert all(getattr(SandboxConfig(), name) != value for name, (value, _) in NON_DEFAULT.items())


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_every_setting_is_set_by_construction_configure_faults_endpoint_and_flag(
    sandbox: HeymarketSandbox, client: Client, name: str
) -> None:
    # Given a value other than the default, and its command-line spelling
    value, argv = NON_DEFAULT[name]
    flag = "--" + name.replace("_", "-")

    # When it is set each way
    constructed = getattr(SandboxConfig(**{name: value}), name)
    from_flag = getattr(parse_options(*(item for arg in argv for item in (flag, arg))), name)
    _, over_http = client.control("POST", "faults", {name: json.loads(json.dumps(value))})
    sandbox.configure(**{name: value})

    # Then each holds it
    assert constructed == from_flag == value
    assert over_http[name] == json.loads(json.dumps(value))
    assert getattr(sandbox.config, name) == value


def test_without_options_the_command_line_gives_the_defaults() -> None:
    assert parse_options() == SandboxConfig()


def test_the_older_flag_spellings_still_work() -> None:
    config = parse_options(
        "--rate-limit", "5", "--max-bulk", "3", "--custom-field", "101=Campus", "--duplicate-create", "fail"
    )

    assert (config.rate_limit_per_minute, config.max_bulk_contacts) == (5, 3)
    assert (config.custom_fields, config.duplicate_create) == (((101, "Campus"),), "refuse")


def test_an_empty_api_key_option_disables_the_legacy_key() -> None:
    assert parse_options("--api-key", "").api_key is None


def test_the_options_come_from_the_dataclass_fields() -> None:
    options = {option.name: option for option in setting_options()}

    assert list(options) == [field.name for field in dataclasses.fields(SandboxConfig)]
    assert options["duplicate_create"].choices == ("refuse", "update", "duplicate", "fail")
    assert options["answer_fault_endpoints"].multiple
    assert options["answer_fault_endpoints"].choices == API_ENDPOINTS


@pytest.mark.parametrize(
    "settings",
    [
        {"fail_rate": 1.5},
        {"answer_fault_rate": -0.1},
        {"duplicate_create": "merge"},
        {"identifiers": "both"},
        {"delete_unknown": "ignore"},
        {"list_local_id_repeat": "reuse"},
        {"answer_fault": "slow"},
        {"answer_fault_endpoints": ("POST /v3/contacts",)},
        {"answer_fault_endpoints": "POST /v2/contacts"},
        {"forbidden_endpoints": ("GET /",)},
        {"redirect_status": 200},
        {"redirect_status": True},
        {"retry_after_s": -1},
        {"trickle_seconds": 0},
        {"max_body_bytes": 0},
        {"seed": "7"},
    ],
)
def test_invalid_settings_are_refused_naming_the_setting(sandbox: HeymarketSandbox, settings: dict[str, Any]) -> None:
    [name] = settings
    with pytest.raises(ValueError, match=name):
        sandbox.configure(**settings)


def test_configure_rejects_unknown_settings(sandbox: HeymarketSandbox) -> None:
    with pytest.raises(ValueError, match="unknown"):
        sandbox.configure(explode=True)


# The write hook -------------------------------------------------------------------------------------------


def test_a_write_listener_sees_every_create_update_and_delete_until_removed(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a listener
    changes: list[ContactWrite] = []
    remove = sandbox.add_write_listener(changes.append)

    # When a contact is created, updated through v1, refused, deleted, then written after the listener is removed
    created = client.ok("POST", "/v1/contact", {"phone": ALICE, "first": "Alice"})
    client.ok("PUT", f"/v1/contact/{created['id']}", {"phone": ALICE, "first": "Alicia"})
    client.create(contact(ALICE))
    client.ok("DELETE", "/v2/contacts", delete_body(created["uuid"]))
    remove()
    client.create(contact(BOB))

    # Then it saw the create, the update and the delete, in order, with what was sent and both identifiers
    assert [(change.op, change.contact["first"]) for change in changes] == [
        ("create", "Alice"),
        ("update", "Alicia"),
        ("delete", "Alicia"),
    ]
    assert changes[1].sent == {"phone": ALICE, "first": "Alicia"}
    assert changes[2].sent == created["uuid"]
    assert {(change.contact["id"], change.contact["uuid"]) for change in changes} == {(created["id"], created["uuid"])}


def test_write_recorder_records_each_stored_write_by_phone_without_its_addressing(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a recorder over the sandbox
    with WriteRecorder(sandbox) as recorder:
        # When contacts are written through v2 bulk (one refused), v1 batch, then one deleted
        [alice] = client.create(contact(ALICE, first="Alice"), {"phone": "+1"})["contacts"]
        client.create({"contact_id": alice["uuid"], "last": "Smith"})
        client.ok("POST", "/v1/batch/contacts", [{"phone": BOB, "first": "Bob"}])
        client.ok("DELETE", f"/v2/contact/{alice['uuid']}")
    client.create(contact(CAROL))

    # Then each stored write is there by phone, with the fields it set
    writes = recorder.by_phone()
    assert {phone: [write.fields for write in phone_writes] for phone, phone_writes in writes.items()} == {
        ALICE: [{"first": "Alice"}, {"last": "Smith"}],
        BOB: [{"first": "Bob"}],
    }


# Lifecycle ------------------------------------------------------------------------------------------------


def test_stop_frees_the_port_for_a_new_server(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a running sandbox with an open keep-alive connection
    assert client.send("GET", "/v1/inboxes").status == 200
    port = int(sandbox.url.rsplit(":", 1)[1])

    # When it is stopped (twice, which is harmless) and a new sandbox binds the same port
    sandbox.stop()
    sandbox.stop()
    with HeymarketSandbox(SandboxConfig(), port=port) as replacement:
        pool = urllib3.PoolManager()
        status = pool.request("GET", replacement.url + "/_sandbox/stats", retries=False).status
        pool.clear()

    # Then the new one serves on it
    assert replacement.url.endswith(f":{port}")
    assert status == 200


def test_a_request_the_server_cannot_serve_is_answered_in_json(sandbox: HeymarketSandbox) -> None:
    host, port = sandbox.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(b"GET /v1/inboxes HTTP/1.1\r\n" + b"X-Many: yes\r\n" * 101 + b"\r\n")
        answer = b"".join(iter(lambda: connection.recv(4096), b""))  # until the server closes

    assert answer.startswith(b"HTTP/1.1 431")
    assert b'"error_code":"http_error"' in answer


def test_concurrent_writes_are_all_stored_with_distinct_ids(sandbox: HeymarketSandbox) -> None:
    # When 4 threads each create 25 contacts
    def write(offset: int) -> None:
        pool = urllib3.PoolManager()
        for n in range(25):
            pool.request(
                "POST",
                sandbox.url + "/v2/contacts",
                json={"contacts": [{"phone": f"1415555{offset:02d}{n:02d}"}]},
                headers={"Authorization": bearer(API_KEY)},
            )

    threads = [threading.Thread(target=write, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then all 100 are stored with ids 98765..98864
    assert sorted(item["id"] for item in sandbox.contacts()) == list(range(98765, 98865))


def test_main_prints_ready_and_stops_cleanly_on_sigterm() -> None:
    # Given the sandbox started as a program, with settings given as options
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOOLS_DIR), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "heymarket_sandbox",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--identifiers",
            "integer",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 10)
        assert ready, "the sandbox printed nothing within 10 s"
        line = process.stdout.readline().decode()

        # When it is called and then sent SIGTERM
        assert line.startswith("READY ")
        url = json.loads(line.removeprefix("READY "))["url"]
        pool = urllib3.PoolManager()
        status = pool.request("GET", url + "/v1/inboxes", headers={"Authorization": bearer(API_KEY)}).status
        settings = json.loads(pool.request("GET", url + "/_sandbox/faults").data)
        pool.clear()
        process.send_signal(signal.SIGTERM)

        # Then it had answered with its settings, and it exits with status 0
        assert (status, settings["identifiers"]) == (200, "integer")
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_bad_option_value_exits_with_a_usage_error() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOOLS_DIR), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-m", "heymarket_sandbox", "--fail-rate", "2"],
        capture_output=True,
        env=env,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    assert b"fail_rate" in result.stderr


# ---------------------------------------------------------------------- a number changed in Heymarket's app


def test_a_phone_changed_as_in_heymarkets_app_is_what_searches_and_answers_show_from_then_on(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given Ann stored for her first number
    [ann] = client.create(contact("15105551234", first="Ann"))["contacts"]
    requests = sandbox.stats()["requests"]

    # When her number is changed as a person does in Heymarket's app
    status, changed = client.control("POST", "app-phone-change", {"contact": ann["id"], "phone": "15105550177"})

    # Then no API request was counted, and the search finds her by the new number only
    assert (status, changed["phone"], changed["uuid"]) == (200, "15105550177", ann["uuid"])
    assert sandbox.stats()["requests"] == requests
    assert client.search("15105551234") == []
    assert [found["first"] for found in client.search("15105550177")] == ["Ann"]


def test_a_phone_changed_as_in_heymarkets_app_calls_no_write_listener(sandbox: HeymarketSandbox) -> None:
    heard: list[object] = []
    sandbox.add_write_listener(heard.append)
    created = sandbox_create(sandbox, "15105551234")
    heard.clear()

    sandbox.change_phone_in_app(created["uuid"], "15105550177")

    assert heard == []


def test_a_phone_change_as_in_the_app_to_a_number_another_contact_holds_is_refused(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    [ann, bob] = client.create(contact("15105551234", first="Ann"), contact("15105550000", first="Bob"))["contacts"]

    status, answer = client.control("POST", "app-phone-change", {"contact": ann["uuid"], "phone": bob["phone"]})

    assert status == 400
    assert "another contact" in answer["message"]


def test_a_phone_change_as_in_the_app_of_an_unknown_contact_is_a_404(client: Client) -> None:
    status, _ = client.control("POST", "app-phone-change", {"contact": 1, "phone": "15105550177"})

    assert status == 404


def sandbox_create(sandbox: HeymarketSandbox, phone: str) -> dict[str, Any]:
    pool = urllib3.PoolManager()
    try:
        [created] = Client(sandbox, pool).create(contact(phone, first="Ann"))["contacts"]
    finally:
        pool.clear()
    return dict(created)


# Answer deviations (answer_deviations) ------------------------------------------------------------------------


def test_id_as_uuid_gives_the_uuid_as_id_and_no_integer_id(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(answer_deviations=("id_as_uuid",))

    [created] = client.create(contact(ALICE, first="Alice"))["contacts"]

    assert created["id"] == sandbox.contacts()[0]["uuid"]
    assert "uuid" not in created
    assert client.search(ALICE)[0]["id"] == created["id"]


def test_id_as_text_gives_the_integer_id_as_a_string(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(answer_deviations=("id_as_text",))

    [created] = client.create(contact(ALICE))["contacts"]

    assert created["id"] == "98765"


def test_phone_with_plus_and_extra_fields_change_only_what_they_name(sandbox: HeymarketSandbox, client: Client) -> None:
    client.create(contact(ALICE, first="Alice"))
    sandbox.configure(answer_deviations=("phone_with_plus", "extra_fields"))

    [found] = client.search(ALICE)

    assert found["phone"] == f"+{ALICE}"
    assert set(found) - CONTACT_KEYS - {"uuid"} == {"channels", "score"}


def test_no_contacts_when_all_failed_leaves_contacts_out_only_then(sandbox: HeymarketSandbox, client: Client) -> None:
    sandbox.configure(answer_deviations=("no_contacts_when_all_failed",))

    all_failed = client.create({"contact_id": "a1b2c3d4-e5f6-4a90-abcd-ef1234567890", "last": "King"})
    some_stored = client.create(contact(ALICE), {"contact_id": "a1b2c3d4-e5f6-4a90-abcd-ef1234567890"})

    assert set(all_failed) == {"failed_contacts"}
    assert len(some_stored["contacts"]) == 1
