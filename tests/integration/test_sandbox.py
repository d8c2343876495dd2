"""The Heymarket sandbox over real HTTP on 127.0.0.1: auth, contact semantics, limits and faults."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import urllib3

from heymarket_bridge_tools.sandbox import HeymarketSandbox, SandboxConfig

SECRET_ID = "test-secret-id-0123456789"
SECRET_KEY = "test-secret-key-0123456789"
API_KEY = "test-api-key"
TOOLS_DIR = Path(__file__).resolve().parents[2] / "tools"


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
        self, method: str, path: str, body: Any = None, *, authorization: str | None = "jwt"
    ) -> urllib3.BaseHTTPResponse:
        headers = {}
        if authorization == "jwt":
            headers["Authorization"] = bearer(sign_jwt())
        elif authorization is not None:
            headers["Authorization"] = authorization
        return self.pool.request(
            method, self.sandbox.url + path, headers=headers, json=body, retries=False, timeout=5.0
        )

    def json(self, method: str, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
        response = self.send(method, path, body, **kwargs)
        return response.status, json.loads(response.data)


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    config = SandboxConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY, api_key=API_KEY, seed=7)
    with HeymarketSandbox(config) as running:
        yield running


@pytest.fixture
def client(sandbox: HeymarketSandbox) -> Iterator[Client]:
    pool = urllib3.PoolManager()
    yield Client(sandbox, pool)
    pool.clear()


def contact(phone: str, **fields: Any) -> dict[str, Any]:
    return {"contact_channels": [{"channel_type": "phone", "channel_id": phone}], **fields}


def create(client: Client, *contacts: dict[str, Any]) -> dict[str, Any]:
    status, body = client.json("POST", "/v2/contacts", {"contacts": list(contacts)})
    assert status == 200
    return body  # type: ignore[no-any-return]


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


# v2 contacts --------------------------------------------------------------------------------------


def test_bulk_create_stores_contacts_with_a_default_display_name(sandbox: HeymarketSandbox, client: Client) -> None:
    # When two contacts are created, one by contact channel and one by phone field
    body = create(client, contact("15105551234", first="Alice", last="Smith"), {"phone": "15105555678"})

    # Then both are stored with ids, and display_name defaults to first + last
    assert body["failed_contacts"] == []
    stored = {item["phone"]: item for item in sandbox.contacts()}
    assert stored.keys() == {"15105551234", "15105555678"}
    assert stored["15105551234"]["display_name"] == "Alice Smith"
    assert [item["id"] for item in body["contacts"]] == [item["id"] for item in sandbox.contacts()]


def test_duplicate_create_fails_in_fail_mode(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact and a sandbox whose creates fail on an existing phone
    create(client, contact("15105551234", first="Alice"))

    # When the same phone is created again
    body = create(client, contact("15105551234", first="Alicia"))

    # Then that contact fails and the stored one is unchanged
    assert body["contacts"] == []
    assert body["failed_contacts"] == [
        {"contact": contact("15105551234", first="Alicia"), "error": "contact already exists"}
    ]
    assert [item["first"] for item in sandbox.contacts()] == ["Alice"]


def test_duplicate_create_updates_in_update_mode() -> None:
    # Given a sandbox whose creates update an existing phone, holding one contact
    config = SandboxConfig(secret_id=SECRET_ID, secret_key=SECRET_KEY, duplicate_create="update")
    with HeymarketSandbox(config) as sandbox:
        pool = urllib3.PoolManager()
        client = Client(sandbox, pool)
        first = create(client, contact("15105551234", first="Alice"))["contacts"][0]

        # When the same phone is created again with a new first name
        body = create(client, contact("15105551234", first="Alicia"))
        pool.clear()

        # Then the one stored contact is updated in place
        assert body["failed_contacts"] == []
        assert [(item["id"], item["first"]) for item in sandbox.contacts()] == [(first["id"], "Alicia")]


def test_update_keeps_the_fields_it_does_not_send(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a contact with a name and an email
    stored = create(client, contact("15105551234", first="Alice", last="Smith", email="a@example.com"))
    contact_id = stored["contacts"][0]["id"]

    # When an update sends only a new last name
    body = create(client, {"contact_id": contact_id, "last": "Jones"})

    # Then the last name changes and the other fields stay
    assert body["failed_contacts"] == []
    (after,) = sandbox.contacts()
    assert (after["first"], after["last"], after["email"]) == ("Alice", "Jones", "a@example.com")
    assert after["phone"] == "15105551234"
    assert after["display_name"] == "Alice Jones"


def test_update_of_an_unknown_contact_id_fails(client: Client) -> None:
    # When an update names a contact that does not exist
    body = create(client, {"contact_id": "00000000-0000-4000-8000-000000000000", "first": "Ghost"})

    # Then it is reported as not found
    assert [item["error"] for item in body["failed_contacts"]] == ["contact not found"]


def test_invalid_phone_fails_only_that_contact(sandbox: HeymarketSandbox, client: Client) -> None:
    # When a batch holds one phone with a leading + and one valid phone
    body = create(client, {"phone": "+15105551234"}, {"phone": "15105555678"})

    # Then only the bad one fails
    assert [item["error"] for item in body["failed_contacts"]] == ["invalid phone"]
    assert [item["phone"] for item in sandbox.contacts()] == ["15105555678"]


def test_more_than_five_tags_fails_the_contact(client: Client) -> None:
    # When a contact carries six tags
    tags = [{"tag_id": n} for n in range(6)]
    body = create(client, contact("15105551234", tags=tags))

    # Then it fails with too many tags
    assert [item["error"] for item in body["failed_contacts"]] == ["too many tags"]


def test_bulk_write_over_the_maximum_answers_413(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 2 contacts per bulk request
    sandbox.configure(max_bulk_contacts=2)

    # When 3 contacts are sent
    status, body = client.json("POST", "/v2/contacts", {"contacts": [{"phone": f"1510555000{n}"} for n in range(3)]})

    # Then the whole request is refused as too large, and nothing is stored
    assert status == 413
    assert body["error_code"] == "too_large"
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


def test_single_create_answers_the_stored_contact(client: Client) -> None:
    # When one contact is created through POST /v2/contact
    status, body = client.json("POST", "/v2/contact", contact("15105551234", first="Alice"))

    # Then the stored contact comes back
    assert status == 200
    assert (body["phone"], body["first"]) == ("15105551234", "Alice")


def test_single_create_without_a_phone_answers_400(client: Client) -> None:
    # When a contact without any phone channel is created through POST /v2/contact
    status, body = client.json("POST", "/v2/contact", {"first": "Nobody"})

    # Then it is refused as bad data
    assert status == 400
    assert body["error_code"] == "bad_data"


def test_delete_removes_contacts_and_reports_unknown_ids(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given two stored contacts
    ids = [item["id"] for item in create(client, {"phone": "15105551234"}, {"phone": "15105555678"})["contacts"]]
    unknown_id = "00000000-0000-4000-8000-000000000000"

    # When the first and an unknown id are deleted
    status, body = client.json(
        "DELETE", "/v2/contacts", {"contact_channels": [{"channel_type": "id", "channel_ids": [ids[0], unknown_id]}]}
    )

    # Then only the second contact remains
    assert status == 200
    assert body == {"deleted": [ids[0]], "not_found": [unknown_id]}
    assert [item["id"] for item in sandbox.contacts()] == [ids[1]]


def test_delete_with_a_bad_shape_answers_400(client: Client) -> None:
    # When the delete body has no contact_channels
    status, body = client.json("DELETE", "/v2/contacts", {"ids": ["x"]})

    # Then it is refused as bad data
    assert (status, body["error_code"]) == (400, "bad_data")


def test_search_finds_contacts_by_phone_and_by_email(client: Client) -> None:
    # Given three stored contacts
    create(
        client,
        {"phone": "15105551234", "email": "alice@example.com"},
        {"phone": "15105555678", "email": "bob@example.com"},
        {"phone": "15105559999"},
    )

    # When searching by one phone (typed) and one email (type left out)
    status, body = client.json(
        "POST",
        "/v2/contacts/search",
        {
            "contact_channels": [
                {"channel_type": "phone", "channel_ids": ["15105551234"]},
                {"channel_ids": ["bob@example.com"]},
            ]
        },
    )

    # Then exactly those two contacts come back
    assert status == 200
    assert sorted(item["phone"] for item in body["contacts"]) == ["15105551234", "15105555678"]


def test_get_contact_answers_the_contact_or_404(client: Client) -> None:
    # Given a stored contact
    contact_id = create(client, {"phone": "15105551234"})["contacts"][0]["id"]

    # When it and an unknown id are fetched
    found_status, found = client.json("GET", f"/v2/contact/{contact_id}")
    missing_status, missing = client.json("GET", "/v2/contact/00000000-0000-4000-8000-000000000000")

    # Then the first is found and the second is a JSON 404
    assert (found_status, found["id"]) == (200, contact_id)
    assert (missing_status, missing["error_code"]) == (404, "not_found")


# v1 batch -----------------------------------------------------------------------------------------


def test_v1_batch_answers_ok_when_every_contact_is_created(sandbox: HeymarketSandbox, client: Client) -> None:
    # When two valid contacts are sent to the legacy batch endpoint
    status, body = client.json("POST", "/v1/batch/contacts", [{"phone": "15105551234"}, {"phone": "15105555678"}])

    # Then the answer is the string "ok" and both are stored
    assert (status, body) == (200, "ok")
    assert len(sandbox.contacts()) == 2


def test_v1_batch_answers_the_contacts_that_failed(client: Client) -> None:
    # When one of two contacts has no valid phone
    status, body = client.json("POST", "/v1/batch/contacts", [{"phone": "15105551234"}, {"phone": "12"}])

    # Then the answer lists that contact, as sent
    assert (status, body) == (200, [{"phone": "12"}])


def test_v1_batch_skips_existing_phones_without_overwrite(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact
    client.json("POST", "/v1/batch/contacts", [{"phone": "15105551234", "first": "Alice"}])

    # When the same phone is sent again with overwrite=false
    status, body = client.json(
        "POST", "/v1/batch/contacts?overwrite=false", [{"phone": "15105551234", "first": "Alicia"}]
    )

    # Then it is skipped, not failed
    assert (status, body) == (200, "ok")
    assert [item["first"] for item in sandbox.contacts()] == ["Alice"]


def test_v1_batch_overwrites_existing_phones_with_overwrite_true(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact
    client.json("POST", "/v1/batch/contacts", [{"phone": "15105551234", "first": "Alice"}])

    # When the same phone is sent again with overwrite=true
    status, body = client.json(
        "POST", "/v1/batch/contacts?overwrite=true", [{"phone": "15105551234", "first": "Alicia"}]
    )

    # Then the one stored contact is updated
    assert (status, body) == (200, "ok")
    assert [item["first"] for item in sandbox.contacts()] == ["Alicia"]


# Custom fields ---------------------------------------------------------------------------------------


def test_contact_fields_lists_the_configured_custom_fields(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a team with two custom fields
    sandbox.configure(custom_fields=((101, "Campus"), (102, "Lead source")))

    # When the fields are listed
    status, body = client.json("POST", "/v1/contact-fields", {})

    # Then each comes with its id and title
    assert (status, body) == (200, [{"id": 101, "title": "Campus"}, {"id": 102, "title": "Lead source"}])


def test_a_v2_write_drops_custom_values_keyed_by_a_title_without_an_error(
    sandbox: HeymarketSandbox, client: Client
) -> None:
    # Given a team whose field 101 is titled Campus
    sandbox.configure(custom_fields=((101, "Campus"),))

    # When a contact is written with one value keyed by id and one by title
    body = create(client, contact("15105551234", custom={"102": "kept", "Campus": "North"}))

    # Then it is stored, with the id-keyed value only
    assert body["failed_contacts"] == []
    assert [item["custom"] for item in sandbox.contacts()] == [{"102": "kept"}]


def test_custom_fields_can_be_set_through_the_faults_endpoint(client: Client) -> None:
    # When the fields are set as JSON pairs through the control endpoint
    control_status, settings = client.json(
        "POST", "/_sandbox/faults", {"custom_fields": [[7, "Shoe size"]]}, authorization=None
    )

    # Then the API lists them
    assert (control_status, settings["custom_fields"]) == (200, [[7, "Shoe size"]])
    assert client.json("POST", "/v1/contact-fields", {})[1] == [{"id": 7, "title": "Shoe size"}]


@pytest.mark.parametrize("fields", [[["7", "Size"]], [[7]], [[7, ""]], "7=Size"], ids=["id", "pair", "title", "str"])
def test_badly_shaped_custom_fields_are_refused(sandbox: HeymarketSandbox, fields: Any) -> None:
    with pytest.raises(ValueError, match="custom_fields"):
        sandbox.configure(custom_fields=fields)


# Limits and faults ----------------------------------------------------------------------------------


def test_rate_limit_answers_429_past_the_limit(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 3 requests a minute
    sandbox.configure(rate_limit_per_minute=3)

    # When 4 requests are made
    statuses = [client.send("GET", "/v1/inboxes").status for _ in range(4)]

    # Then the fourth is throttled
    assert statuses == [200, 200, 200, 429]


def test_rate_limited_answer_names_the_error(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a limit of 1 request a minute, already used
    sandbox.configure(rate_limit_per_minute=1)
    client.send("GET", "/v1/inboxes")

    # When another request is made
    status, body = client.json("GET", "/v1/inboxes")

    # Then it is a JSON rate_limited error
    assert (status, body["error_code"]) == (429, "rate_limited")


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
    status, body = client.json("POST", "/v2/contacts", {"contacts": [{"phone": "15105551234"}]})

    # Then the answer is 500 and nothing was stored
    assert (status, body["error_code"]) == (500, "internal_error")
    assert sandbox.contacts() == []


def test_contact_error_rate_one_fails_every_contact(client: Client, sandbox: HeymarketSandbox) -> None:
    # Given every contact of a bulk write fails
    sandbox.configure(contact_error_rate=1.0)

    # When two contacts are written
    body = create(client, {"phone": "15105551234"}, {"phone": "15105555678"})

    # Then both are in failed_contacts with the injected error
    assert [item["error"] for item in body["failed_contacts"]] == ["injected contact error"] * 2


def test_latency_delays_each_api_request(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given 150 ms of added latency
    sandbox.configure(latency_ms=150)

    # When a request is made
    started = time.monotonic()
    client.send("GET", "/v1/inboxes")

    # Then it takes at least that long
    assert time.monotonic() - started >= 0.15


def test_faults_endpoint_changes_settings_at_runtime(client: Client) -> None:
    # Given fail_rate set to 1 through the sandbox control endpoint
    control_status, _ = client.json("POST", "/_sandbox/faults", {"fail_rate": 1.0}, authorization=None)

    # When an API request is made
    status, _ = client.json("GET", "/v1/inboxes")

    # Then it fails
    assert (control_status, status) == (200, 500)


def test_faults_endpoint_rejects_unknown_settings(client: Client) -> None:
    # When an unknown setting is sent
    status, body = client.json("POST", "/_sandbox/faults", {"explode": True}, authorization=None)

    # Then it is refused as bad data
    assert (status, body["error_code"]) == (400, "bad_data")


# Protocol and bookkeeping --------------------------------------------------------------------------


def test_every_response_carries_a_unique_request_id(client: Client) -> None:
    # When a success, an auth failure and an unknown path are requested
    responses = [
        client.send("GET", "/v1/inboxes"),
        client.send("GET", "/v1/inboxes", authorization=None),
        client.send("GET", "/v9/nothing"),
    ]

    # Then each carries its own X-Request-Id
    request_ids = [response.headers.get("X-Request-Id") for response in responses]
    assert all(request_ids)
    assert len(set(request_ids)) == 3


def test_unknown_path_and_wrong_method_answer_json_404_and_405(client: Client) -> None:
    # When an unknown path and a known path with a wrong method are requested
    missing_status, missing = client.json("GET", "/v9/nothing")
    wrong_status, wrong = client.json("GET", "/v2/contacts")

    # Then both answer in JSON with the right status
    assert (missing_status, missing["error_code"]) == (404, "not_found")
    assert (wrong_status, wrong["error_code"]) == (405, "method_not_allowed")


def test_stats_and_log_count_api_requests_by_endpoint_and_status(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given one write and one refused request
    create(client, {"phone": "15105551234"})
    client.send("GET", "/v1/inboxes", authorization=None)

    # When the stats are read (through the control endpoint, which is not counted)
    status, stats = client.json("GET", "/_sandbox/stats", authorization=None)

    # Then they count both API requests and the contact written
    assert status == 200
    assert stats["requests"] == 2
    assert stats["by_endpoint"] == {"POST /v2/contacts": 1, "GET /v1/inboxes": 1}
    assert stats["by_status"] == {"200": 1, "401": 1}
    assert stats["contacts_written"] == 1
    assert sandbox.requests_log == [("POST", "/v2/contacts", 200), ("GET", "/v1/inboxes", 401)]


def test_reset_clears_contacts_and_counters(sandbox: HeymarketSandbox, client: Client) -> None:
    # Given a stored contact and counted requests
    create(client, {"phone": "15105551234"})

    # When the sandbox is reset over HTTP
    status, _ = client.json("POST", "/_sandbox/reset", authorization=None)

    # Then contacts and counters are empty
    assert status == 200
    assert sandbox.contacts() == []
    assert sandbox.stats()["requests"] == 0
    assert sandbox.requests_log == []


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


def test_configure_rejects_unknown_and_invalid_settings(sandbox: HeymarketSandbox) -> None:
    # When settings are changed with an unknown name, then with an out-of-range rate
    # Then both are refused
    with pytest.raises(ValueError, match="unknown"):
        sandbox.configure(explode=True)
    with pytest.raises(ValueError, match="fail_rate"):
        sandbox.configure(fail_rate=1.5)


def test_main_prints_ready_and_stops_cleanly_on_sigterm() -> None:
    # Given the sandbox started as a program
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TOOLS_DIR), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "heymarket_bridge_tools.sandbox", "--port", "0", "--api-key", API_KEY],
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
        pool.clear()
        process.send_signal(signal.SIGTERM)

        # Then it had answered, and it exits with status 0
        assert status == 200
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
