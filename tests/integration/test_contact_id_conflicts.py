"""A sender's `contact_id` update to a phone another contact holds in Heymarket (issue 22, review 22b finding 3).

Heymarket does not document what such an update does (/work/shared/HEYMARKET_API.md is silent): the sandbox plays
each way (`SandboxConfig.update_phone_held`). In every one, the bridge refuses the update as a dead letter naming the
conflict, and neither contact ends with the other person's fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
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


def test_an_answer_that_does_not_show_the_phone_sent_puts_the_named_contact_back_and_refuses_the_update(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a Heymarket that answers such an update 2xx keeping the contact's own phone, and a third contact moved
    # in its app onto the new phone while the bulk request runs (after the bridge's look-up found it free)
    free, other = "15105550333", "15105550344"
    with (
        HeymarketSandbox(SandboxConfig(seed=7, update_phone_held="keep")) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        alice, dave = alice_and_dave(bridge)
        post(bridge, {"phone": f"+{other}", "first": "Carol", "last": "Third"})
        store = sandbox._api.contacts  # the listener runs under the sandbox's lock: the store, not the sandbox
        carol = store.holding_phone(other)[0]

        def move_carol(change: Any) -> None:
            if change.op == "update" and change.contact["uuid"] == dave["uuid"]:
                store.change_phone_in_app(carol, free)

        sandbox.add_write_listener(move_carol)

        # When Dave's contact is updated by its id first, then Alice's to the phone that was free
        post(
            bridge,
            [
                {"contact_id": dave["uuid"], "phone": f"+{DAVE}", "last": "Fifth"},
                {"contact_id": alice["uuid"], "phone": f"+{free}", "first": "Alicia"},
            ],
        )

        # Then Alice's contact is put back as it was read, and the update is a letter naming the conflict
        after = {str(c["uuid"]): c for c in sandbox.contacts()}
        assert (after[alice["uuid"]]["phone"], after[alice["uuid"]]["first"]) == (ALICE, "Alice")
        [letter] = bridge.dead_letters()
        assert "the phone is held by another contact in Heymarket" in letter["error"]
