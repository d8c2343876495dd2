"""The bulk delete request body: valid ids and phones become targets, the rest are refused one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.ingest.deletes import InvalidTarget, parse_delete_request
from heymarket_bridge.ingest.failures import BadRequest, PayloadTooLarge, UnsupportedMediaType
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import deliver

ANN_ID = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"


def parse(body: object, content_type: str = "application/json", max_items: int = 500) -> tuple[list, list]:
    return parse_delete_request(json.dumps(body).encode(), content_type, "US", max_items)


def test_ids_are_normalised_and_phones_are_made_e164() -> None:
    targets, invalid = parse({"contact_ids": [ANN_ID.upper()], "phones": ["(510) 555-1234"]})

    assert targets == [DeleteTarget(contact_id=ANN_ID), DeleteTarget(phone="15105551234")]
    assert invalid == []


def test_invalid_items_are_refused_by_list_and_position() -> None:
    targets, invalid = parse({"contact_ids": [ANN_ID, "nope", 7], "phones": ["12"]})

    assert targets == [DeleteTarget(contact_id=ANN_ID)]
    assert [(item.field, item.index) for item in invalid] == [("contact_ids", 1), ("contact_ids", 2), ("phones", 0)]
    assert invalid[0] == InvalidTarget("contact_ids", 1, ["contact_id must be a UUID"])
    assert invalid[2].errors[0].startswith("phone")


@pytest.mark.parametrize(
    "body", [[ANN_ID], {"ids": [ANN_ID]}, {"contact_ids": ANN_ID}], ids=["list", "no-known-key", "not-a-list"]
)
def test_a_body_of_another_shape_is_a_bad_request(body: object) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_more_items_than_allowed_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        parse({"contact_ids": [ANN_ID] * 3, "phones": ["5105551234"]}, max_items=3)


def test_a_form_post_is_not_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse({"contact_ids": [ANN_ID]}, content_type="application/x-www-form-urlencoded")


# ---------------------------------------------------------------- deletes authenticate with their own credential


def delete_event(token: str | None) -> dict[str, Any]:
    event = load_event("generic/delete_contacts")
    if token is None:
        del event["headers"]["authorization"]
    else:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def test_the_deletes_token_deletes() -> None:
    assert deliver(delete_event("demo-deletes-token")).status == 202


def test_the_generic_token_cannot_delete() -> None:
    delivered = deliver(delete_event("demo-generic-token"))

    assert (delivered.status, delivered.queued) == (401, [])


def test_deletes_authenticate_even_when_generic_is_allowed_without_a_token() -> None:
    secrets = {k: v for k, v in demo_webhook_secrets().items() if k != "generic"}

    delivered = deliver(delete_event(None), secrets=secrets, allow_unauthenticated=frozenset({"generic", "deletes"}))

    assert (delivered.status, delivered.queued) == (401, [])


def test_a_stack_without_the_delete_credential_refuses_deletes_naming_what_to_add() -> None:
    secrets = {k: v for k, v in demo_webhook_secrets().items() if k != "deletes"}

    delivered = deliver(delete_event("demo-generic-token"), secrets=secrets)

    assert (delivered.status, delivered.json["error"]["code"]) == (403, "deletes_not_configured")
    assert '"deletes"' in delivered.json["error"]["message"]


def test_a_number_of_thousands_of_digits_in_a_delete_is_400_not_500() -> None:
    with pytest.raises(BadRequest):
        parse_delete_request(b'{"phones": [' + b"1" * 5000 + b"]}", "application/json", "US", 500)


def test_phones_written_as_numbers_are_deleted_by_their_digits() -> None:
    targets, invalid = parse({"phones": [5105551234.0, 5105551235]})

    assert (targets, invalid) == ([DeleteTarget(phone="15105551234"), DeleteTarget(phone="15105551235")], [])


@pytest.mark.parametrize("other", ["generic", "jotform", "salesforce", "salesforce_org_id"])
def test_while_the_deletes_token_is_another_entrys_deletes_are_refused_naming_both(other: str) -> None:
    # Given a secret whose deletes token is the same as another entry (spaces around it do not make it differ)
    secrets = demo_webhook_secrets()
    secrets["deletes"] = f" {secrets[other]} "

    # When a delete presents that token
    delivered = deliver(delete_event(secrets[other]), secrets=secrets)

    # Then it is refused, saying which entry to change, and nothing is queued
    assert (delivered.status, delivered.json["error"]["code"]) == (403, "deletes_not_configured")
    assert f'"{other}"' in delivered.json["error"]["message"]
    assert '"deletes"' in delivered.json["error"]["message"]
    assert delivered.queued == []


@pytest.mark.parametrize(
    "entry",
    [
        ["backend-token", "the-deletes-token"],
        [{"token": "the-deletes-token", "scopes": {}}],
        {"token": "the-deletes-token", "scopes": {"contacts_per_minute": 5}},
    ],
)
def test_the_deletes_token_shared_with_a_scoped_or_list_entry_also_turns_deletes_off(entry: object) -> None:
    # Given the deletes token also in a list or a scoped entry (a public form's token, say)
    secrets: dict[str, object] = {**demo_webhook_secrets(), "deletes": "the-deletes-token", "generic": entry}

    # When a delete presents it
    delivered = deliver(delete_event("the-deletes-token"), secrets=secrets)

    # Then it is refused, naming the entry
    assert (delivered.status, delivered.json["error"]["code"]) == (403, "deletes_not_configured")
    assert '"generic"' in delivered.json["error"]["message"]
    assert delivered.queued == []


def test_a_phone_that_could_be_a_mistyped_national_number_is_not_deleted() -> None:
    targets, invalid = parse({"phones": ["31255504034", "+31255504034"]})

    assert targets == [DeleteTarget(phone="31255504034")]
    assert [(item.field, item.index) for item in invalid] == [("phones", 0)]
    assert "nothing was deleted" in invalid[0].errors[0]
