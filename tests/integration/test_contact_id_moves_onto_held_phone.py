"""Second review of issue 22 (bindings follow the person): a sender's contact_id update that moves a contact onto a
number another contact holds. Seen on the local stack (`heymarket-bridge local`, generic posts): Alice's contact_id
update to Dave's number wrote Alice's first name onto Dave's contact ("Alice Fourth", Dave's opt-out), left Alice's
contact as it was, and reported nothing (no dead letter, accepted 1, delivered 1). A swap of two contacts' numbers in
one delivery ended with each contact holding the other person's first name beside its own last name. Fails on the
reviewed commit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

ALICE, DAVE = "15105550311", "15105550322"


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(seed=7)) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


def post(bridge: Bridge, body: Any) -> list[Any]:
    event = load_event("generic/single_contact")
    event = {**event, "body": json.dumps(body), "isBase64Encoded": False}
    status, answer = bridge.post(event)
    assert status == 202, answer
    return list(bridge.sync(bridge.receive_event()))


def by_uuid(bridge: Bridge) -> dict[str, dict[str, Any]]:
    return {str(contact["uuid"]): contact for contact in bridge.sandbox.contacts()}


def test_a_contact_id_move_onto_a_number_another_contact_holds_never_writes_onto_that_contact(bridge: Bridge) -> None:
    post(bridge, {"phone": f"+{ALICE}", "first": "Alice", "last": "Old", "email": "alice@example.com"})
    post(bridge, {"phone": f"+{DAVE}", "first": "Dave", "last": "Fourth", "is_opted_out": True})
    contacts = {str(c["phone"]): c for c in bridge.sandbox.contacts()}
    alice, dave = contacts[ALICE], contacts[DAVE]

    post(bridge, {"contact_id": alice["uuid"], "phone": f"+{DAVE}", "first": "Alice"})

    after = by_uuid(bridge)
    # Dave's contact is Dave's: the sender named Alice's contact, never Dave's (a refusal the operator can see is
    # fine; writing Alice's name onto Dave's contact is not).
    assert after[str(dave["uuid"])]["first"] == "Dave", after[str(dave["uuid"])]


def test_two_contacts_swapping_numbers_by_contact_id_keep_their_own_names(bridge: Bridge) -> None:
    post(bridge, {"phone": f"+{ALICE}", "first": "Alice", "last": "Old"})
    post(bridge, {"phone": f"+{DAVE}", "first": "Dave", "last": "Fourth"})
    contacts = {str(c["phone"]): c for c in bridge.sandbox.contacts()}
    alice, dave = contacts[ALICE], contacts[DAVE]

    post(
        bridge,
        [
            {"contact_id": alice["uuid"], "phone": f"+{DAVE}", "first": "Alice"},
            {"contact_id": dave["uuid"], "phone": f"+{ALICE}", "first": "Dave"},
        ],
    )

    for contact in bridge.sandbox.contacts():
        name = (contact["first"], contact["last"])
        assert name in {("Alice", "Old"), ("Dave", "Fourth")}, f"a contact mixes two people: {name}"
