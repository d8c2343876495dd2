"""A sender's `contact_id` update to a phone another contact holds in Heymarket (issue 22, review 22b finding 3).

Heymarket does not document what such an update does (/work/shared/HEYMARKET_API.md is silent): the sandbox plays
each way (`SandboxConfig.update_phone_held`). In every one, the bridge refuses the update as a dead letter naming the
conflict, and neither contact ends with the other person's fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge_tools.sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

ALICE, DAVE = "15105550311", "15105550322"
WAYS = ["refuse", "keep", "holder", "share"]


@pytest.fixture(params=WAYS)
def bridge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    config = SandboxConfig(seed=7, update_phone_held=request.param)
    with (
        HeymarketSandbox(config) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


def post(bridge: Bridge, body: Any) -> None:
    event = {**load_event("generic/single_contact"), "body": json.dumps(body), "isBase64Encoded": False}
    status, answer = bridge.post(event)
    assert status == 202, answer
    bridge.sync(bridge.receive_event())


def alice_and_dave(bridge: Bridge) -> tuple[dict[str, Any], dict[str, Any]]:
    post(bridge, {"phone": f"+{ALICE}", "first": "Alice", "last": "Old", "email": "alice@example.com"})
    post(bridge, {"phone": f"+{DAVE}", "first": "Dave", "last": "Fourth", "is_opted_out": True})
    contacts = {str(c["phone"]): c for c in bridge.sandbox.contacts()}
    return contacts[ALICE], contacts[DAVE]


def test_each_contact_keeps_its_own_phone_and_person_whatever_heymarket_does(bridge: Bridge) -> None:
    alice, dave = alice_and_dave(bridge)

    post(bridge, {"contact_id": alice["uuid"], "phone": f"+{DAVE}", "first": "Alicia"})

    after = {str(c["uuid"]): c for c in bridge.sandbox.contacts()}
    assert (after[alice["uuid"]]["phone"], after[alice["uuid"]]["first"]) == (ALICE, "Alice")
    assert (after[dave["uuid"]]["phone"], after[dave["uuid"]]["first"]) == (DAVE, "Dave")


def test_the_refused_update_is_a_dead_letter_naming_the_conflict(bridge: Bridge) -> None:
    alice, _ = alice_and_dave(bridge)

    post(bridge, {"contact_id": alice["uuid"], "phone": f"+{DAVE}", "first": "Alicia"})

    [letter] = bridge.dead_letters()
    assert "the phone is held by another contact in Heymarket" in letter["error"]


def test_a_swap_of_two_contacts_numbers_in_one_delivery_mixes_no_two_people(bridge: Bridge) -> None:
    alice, dave = alice_and_dave(bridge)

    post(
        bridge,
        [
            {"contact_id": alice["uuid"], "phone": f"+{DAVE}", "first": "Alice"},
            {"contact_id": dave["uuid"], "phone": f"+{ALICE}", "first": "Dave"},
        ],
    )

    people = {(c["phone"], c["first"], c["last"]) for c in bridge.sandbox.contacts()}
    assert people == {(ALICE, "Alice", "Old"), (DAVE, "Dave", "Fourth")}
