"""Deletes, delete/upsert ordering, v1 mode and custom fields by title: both handlers against moto and the sandbox."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.observability import logger
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import NO_TIME_TO_WAIT, Bridge, running_bridge
from tests.support import load_event

# Short invocations keep the retry tests quick: the handler keeps SYNC_DEADLINE_RESERVE of them back.
FAST_RETRIES = {"SYNC_DEADLINE_RESERVE": "0.5"}
ALICE, CAROL, DAN = "15105551234", "442079460958", "14155550100"  # the phones of generic/mixed_contacts


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    with HeymarketSandbox(SandboxConfig(seed=7, custom_fields=((101, "Campus"), (102, "Lead source")))) as sandbox:
        yield sandbox


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    with running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, FAST_RETRIES) as bridge:
        yield bridge


@pytest.fixture
def v1_bridge(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    """The bridge in v1 mode, with the legacy team API key in its Heymarket secret."""
    with running_bridge(monkeypatch, sandbox, {"HeymarketApiMode": "v1"}, FAST_RETRIES) as bridge:
        bridge.secretsmanager.put_secret_value(
            SecretId=bridge.resources.heymarket_secret_arn,
            SecretString=json.dumps({"api_key": sandbox.config.api_key}),
        )
        yield bridge


def delete_event(body: Any, *, method: str = "POST") -> dict[str, Any]:
    """generic/delete_contacts with another body, on POST /contacts/delete or DELETE /contacts."""
    event = load_event("generic/delete_contacts")
    event["body"] = json.dumps(body)
    if method == "DELETE":
        event["routeKey"] = event["requestContext"]["routeKey"] = "DELETE /contacts"
        event["rawPath"] = event["requestContext"]["http"]["path"] = "/contacts"
        event["requestContext"]["http"]["method"] = "DELETE"
    return event


def contacts_event(body: Any) -> dict[str, Any]:
    event = load_event("generic/single_contact")
    event["body"] = json.dumps(body)
    return event


def post_in_order(bridge: Bridge, *events: dict[str, Any]) -> None:
    """Post each event, a few milliseconds apart so that each is received after the one before."""
    for event in events:
        assert bridge.post(event)[0] == 202
        time.sleep(0.005)


def ids_by_phone(sandbox: HeymarketSandbox) -> dict[str, str]:
    return {str(contact["phone"]): str(contact["uuid"]) for contact in sandbox.contacts()}


def requests_to(sandbox: HeymarketSandbox, path: str) -> list[tuple[str, str, int]]:
    return [entry for entry in sandbox.requests_log if entry[1] == path]


def seed_mixed_contacts(bridge: Bridge) -> dict[str, str]:
    """Alice, Carol and Dan stored in the sandbox through the bridge; their ids by phone."""
    bridge.post(load_event("generic/mixed_contacts"))
    assert bridge.sync(bridge.receive_event()) == []
    bridge.sandbox.requests_log.clear()
    return ids_by_phone(bridge.sandbox)


# ---------------------------------------------------------------- deletes


def test_deletes_by_id_and_by_phone_reach_heymarket(bridge: Bridge) -> None:
    ids = seed_mixed_contacts(bridge)

    status, body = bridge.post(delete_event({"contact_ids": [ids[ALICE]], "phones": ["+44 20 7946 0958"]}))
    failed = bridge.sync(bridge.receive_event())

    assert (status, body["accepted"], body["rejected"]) == (202, 2, [])
    assert failed == []
    assert sorted(ids_by_phone(bridge.sandbox)) == [DAN]
    assert requests_to(bridge.sandbox, "/v2/contacts/search") == [("POST", "/v2/contacts/search", 200)]
    assert requests_to(bridge.sandbox, "/v2/contacts") == [("DELETE", "/v2/contacts", 200)]
    assert bridge.dead_letters() == []


def test_delete_contacts_by_the_delete_method_works_like_the_post(bridge: Bridge) -> None:
    ids = seed_mixed_contacts(bridge)

    status, _ = bridge.post(delete_event({"contact_ids": [ids[DAN]]}, method="DELETE"))
    failed = bridge.sync(bridge.receive_event())

    assert (status, failed) == (202, [])
    assert sorted(ids_by_phone(bridge.sandbox)) == [ALICE, CAROL]


def test_the_sample_delete_request_is_accepted_with_its_bad_id_refused_by_position(bridge: Bridge) -> None:
    status, body = bridge.post(load_event("generic/delete_contacts"))

    assert status == 202
    assert body["accepted"] == 2
    assert body["rejected"] == [{"field": "contact_ids", "index": 1, "errors": ["contact_id must be a UUID"]}]
    assert body["request_id"] == "req-generic-delete"
    queued = bridge.queued_bodies()
    assert sorted(json.dumps(m["contact"]) for m in queued) == [
        json.dumps({"contact_id": "6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60"}),
        json.dumps({"phone": "14155550132"}),
    ]
    assert {m["op"] for m in queued} == {"delete"}


def test_a_delete_request_with_nothing_valid_is_refused_with_each_reason(bridge: Bridge) -> None:
    status, body = bridge.post(delete_event({"contact_ids": ["123"], "phones": ["12"]}))

    assert status == 422
    assert body["error"]["code"] == "no_valid_contacts"
    assert [(r["field"], r["index"]) for r in body["rejected"]] == [("contact_ids", 0), ("phones", 0)]
    assert bridge.queue_depth() == 0


def test_a_delete_request_needs_the_generic_token(bridge: Bridge) -> None:
    event = delete_event({"phones": ["5105551234"]})
    event["headers"]["authorization"] = "Bearer not-the-token"

    status, body = bridge.post(event)

    assert (status, body["error"]["code"]) == (401, "unauthorized")
    assert bridge.queue_depth() == 0


def test_a_repeated_delete_request_is_queued_again_not_taken_for_a_retry(bridge: Bridge) -> None:
    event = delete_event({"phones": ["5105551234"]})

    first = bridge.post(event)
    second = bridge.post(event)

    assert first[0] == second[0] == 202
    assert "duplicate" not in second[1]
    assert bridge.queue_depth() == 2


def test_a_phone_no_contact_holds_is_a_delete_with_nothing_to_do_not_a_dead_letter(bridge: Bridge) -> None:
    bridge.post(delete_event({"phones": ["(510) 555-0177"]}))

    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    assert bridge.queue_depth() == 0
    assert requests_to(bridge.sandbox, "/v2/contacts") == []  # nothing to delete: no delete request
    assert bridge.dead_letters() == []


@pytest.fixture
def bridge_at_retention(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    with running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {**FAST_RETRIES, **NO_TIME_TO_WAIT}) as bridge:
        yield bridge


def test_a_delete_is_retried_on_500_then_dead_lettered_on_the_last_receive(bridge_at_retention: Bridge) -> None:
    bridge = bridge_at_retention
    ids = seed_mixed_contacts(bridge)
    bridge.post(delete_event({"contact_ids": [ids[ALICE]]}))
    bridge.sandbox.configure(fail_rate=1.0)

    first = bridge.receive_event()
    failed = bridge.sync(first, timeout_s=2.5)

    assert failed == [first["Records"][0]["messageId"]]
    assert len(requests_to(bridge.sandbox, "/v2/contacts")) >= 2  # retried with backoff inside the invocation
    assert {status for *_, status in requests_to(bridge.sandbox, "/v2/contacts")} == {500}
    assert bridge.dead_letters() == []
    bridge.make_visible(first)

    last = bridge.receive_event()  # ApproximateReceiveCount 2 == MaxReceiveCount
    failed = bridge.sync(last, timeout_s=2.5)

    assert failed == []
    assert bridge.queue_depth() == 0
    [letter] = bridge.dead_letters()
    assert letter["contact"] == {"contact_id": ids[ALICE]}
    assert "500" in letter["error"]
    assert letter["attempts"] == 2
    assert ALICE in ids_by_phone(bridge.sandbox)


# ---------------------------------------------------------------- ordering


def test_an_upsert_then_a_delete_in_one_batch_leaves_no_contact(bridge: Bridge) -> None:
    seed_mixed_contacts(bridge)
    post_in_order(
        bridge,
        contacts_event({"phone": "(510) 555-1234", "first": "Alicia"}),
        delete_event({"phones": ["510-555-1234"]}),
    )

    event = bridge.receive_event()
    failed = bridge.sync(event)

    assert len(event["Records"]) == 2
    assert failed == []
    assert ALICE not in ids_by_phone(bridge.sandbox)
    assert [method for method, *_ in requests_to(bridge.sandbox, "/v2/contacts")] == ["DELETE"]  # the upsert is moot
    assert bridge.dead_letters() == []


def test_a_delete_then_an_upsert_in_one_batch_leaves_a_new_contact_with_only_the_new_values(bridge: Bridge) -> None:
    old_id = seed_mixed_contacts(bridge)[ALICE]
    post_in_order(
        bridge,
        delete_event({"phones": ["510-555-1234"]}),
        contacts_event({"phone": "(510) 555-1234", "first": "Alicia"}),
    )

    event = bridge.receive_event()
    failed = bridge.sync(event)

    assert len(event["Records"]) == 2
    assert failed == []
    assert [method for method, *_ in requests_to(bridge.sandbox, "/v2/contacts")] == ["DELETE", "POST"]
    [alice] = [contact for contact in bridge.sandbox.contacts() if contact["phone"] == ALICE]
    assert alice["id"] != old_id
    # A text field never set reads "" in the sandbox, as Heymarket's Contact object keeps its JSON types.
    assert (alice["first"], alice["last"], alice["email"], alice["custom"]) == ("Alicia", "", "", {})
    assert bridge.dead_letters() == []


# ---------------------------------------------------------------- v1 mode


def test_v1_mode_sends_contacts_to_the_v1_batch_endpoint_with_overwrite(v1_bridge: Bridge) -> None:
    v1_bridge.post(contacts_event({"phone": "(510) 555-1234", "first": "Ann", "email": "ann@example.com"}))
    assert v1_bridge.sync(v1_bridge.receive_event()) == []
    v1_bridge.post(contacts_event({"phone": "(510) 555-1234", "first": "Anna"}))

    failed = v1_bridge.sync(v1_bridge.receive_event())

    assert failed == []
    assert [entry for entry in v1_bridge.sandbox.requests_log if entry[1].startswith("/v1/batch")] == [
        ("POST", "/v1/batch/contacts", 200)
    ] * 2
    [contact] = v1_bridge.sandbox.contacts()
    assert (contact["phone"], contact["first"], contact["email"]) == (ALICE, "Anna", "ann@example.com")
    assert requests_to(v1_bridge.sandbox, "/v2/contacts") == []
    assert v1_bridge.dead_letters() == []


def test_v1_mode_dead_letters_the_contacts_heymarket_lists_as_failed(v1_bridge: Bridge) -> None:
    v1_bridge.sandbox.configure(contact_error_rate=0.5, seed=3)  # the sandbox refuses about half the contacts
    phones = ["(510) 555-1234", "+44 20 7946 0958", "415-555-0100"]
    v1_bridge.post(contacts_event([{"phone": phone, "first": "Test"} for phone in phones]))

    failed = v1_bridge.sync(v1_bridge.receive_event())

    assert failed == []
    delivered = set(ids_by_phone(v1_bridge.sandbox))
    letters = v1_bridge.dead_letters()
    refused = {letter["contact"]["phone"] for letter in letters}
    assert delivered
    assert refused
    assert delivered | refused == {ALICE, CAROL, DAN}
    assert not delivered & refused
    assert all("v1 batch endpoint" in letter["error"] for letter in letters)


def test_v1_mode_still_deletes_with_the_v2_delete(v1_bridge: Bridge) -> None:
    v1_bridge.post(contacts_event({"phone": "(510) 555-1234", "first": "Ann"}))
    v1_bridge.sync(v1_bridge.receive_event())
    v1_bridge.post(delete_event({"phones": ["5105551234"]}))

    failed = v1_bridge.sync(v1_bridge.receive_event())

    assert failed == []
    assert v1_bridge.sandbox.contacts() == []
    assert requests_to(v1_bridge.sandbox, "/v2/contacts") == [("DELETE", "/v2/contacts", 200)]


# ---------------------------------------------------------------- custom fields by title


def test_custom_values_keyed_by_title_are_stored_under_the_field_ids(bridge: Bridge) -> None:
    bridge.post(contacts_event({"phone": "5105551234", "custom": {"Campus": "North", "lead source": "fair"}}))
    bridge.post(contacts_event({"phone": "4155550100", "custom": {"Campus": "South", "103": "kept"}}))

    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    stored = {contact["phone"]: contact["custom"] for contact in bridge.sandbox.contacts()}
    assert stored == {ALICE: {"101": "North", "102": "fair"}, DAN: {"101": "South", "103": "kept"}}
    assert requests_to(bridge.sandbox, "/v1/contact-fields") == [("POST", "/v1/contact-fields", 200)]


def test_an_unknown_title_dead_letters_the_contact_with_an_error_naming_it(bridge: Bridge) -> None:
    log_stream = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(log_stream)
    try:
        bridge.post(contacts_event({"phone": "5105551234", "custom": {"Shoe size": "9"}}))
        bridge.post(contacts_event({"phone": "4155550100", "custom": {"Campus": "North"}}))
        failed = bridge.sync(bridge.receive_event())
    finally:
        handler.setStream(previous)

    assert failed == []
    [letter] = bridge.dead_letters()
    assert letter["contact"]["phone"] == ALICE
    assert "'Shoe size'" in letter["error"]
    assert sorted(ids_by_phone(bridge.sandbox)) == [DAN]
    # Read once, by this invocation: a fresh list, so not read again for the unknown title.
    assert len(requests_to(bridge.sandbox, "/v1/contact-fields")) == 1
    errors = [json.loads(line) for line in log_stream.getvalue().splitlines() if '"ERROR"' in line]
    assert any("Shoe size" in line["titles"] for line in errors if "titles" in line)


def test_a_field_created_after_the_list_was_cached_is_found_by_a_later_invocation(bridge: Bridge) -> None:
    bridge.post(contacts_event({"phone": "4155550100", "custom": {"Campus": "North"}}))
    assert bridge.sync(bridge.receive_event()) == []  # reads and caches the field list
    bridge.sandbox.configure(custom_fields=((101, "Campus"), (102, "Lead source"), (103, "Shoe size")))
    bridge.post(contacts_event({"phone": "5105551234", "custom": {"Shoe size": "9"}}))

    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    assert {contact["phone"]: contact["custom"] for contact in bridge.sandbox.contacts()}[ALICE] == {"103": "9"}
    assert len(requests_to(bridge.sandbox, "/v1/contact-fields")) == 2
