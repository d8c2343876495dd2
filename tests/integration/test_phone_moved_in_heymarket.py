"""Bindings follow the person: a number changed in Heymarket's app, then its next owner opts out (issue 22 review).
Fails on the reviewed commit."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

PAT_OLD, PAT_NEW = "15105550201", "15105550299"


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(seed=7)) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


def post(bridge: Bridge, contact: dict[str, object]) -> None:
    event = load_event("generic/single_contact")
    event = {**event, "body": json.dumps(contact), "isBase64Encoded": False}
    status, body = bridge.post(event)
    assert status == 202, body
    assert bridge.sync(bridge.receive_event()) == []


def test_the_next_owner_of_a_number_changed_in_heymarkets_app_does_not_opt_out_its_previous_owner(
    bridge: Bridge,
) -> None:
    # Given Pat stored, then changed by a sender that sends only what changed (the instance learns that updates keep
    # what they leave out, and writes Pat's phone by the contact's id from then on)
    post(bridge, {"phone": f"+{PAT_OLD}", "first": "Pat", "last": "Person", "email": "pat@example.com"})
    post(bridge, {"phone": f"+{PAT_OLD}", "last": "Person2"})
    [pat] = bridge.sandbox.contacts()
    # When Pat's number is changed in Heymarket's app, and the old number's next owner opts out
    bridge.sandbox.change_phone_in_app(str(pat["uuid"]), PAT_NEW)
    post(bridge, {"phone": f"+{PAT_OLD}", "first": "Zed", "last": "Newowner", "is_opted_out": True})

    # Then Zed is opted out on a contact of his own, and Pat, who never opted out, is not
    stored = {str(contact["phone"]): contact for contact in bridge.sandbox.contacts()}
    assert stored[PAT_OLD]["first"] == "Zed"
    assert stored[PAT_OLD]["is_opted_out"] is True
    assert stored[PAT_NEW]["uuid"] == pat["uuid"]
    assert (stored[PAT_NEW]["first"], stored[PAT_NEW]["last"]) == ("Pat", "Person2")
    assert stored[PAT_NEW]["is_opted_out"] is False  # fails: Zed's opt-out was written onto Pat and kept


def test_a_contact_moved_by_contact_id_beside_its_old_numbers_next_owner_opting_out_is_not_opted_out(
    bridge: Bridge,
) -> None:
    # Given Mia stored and changed once (the instance writes her by her id from then on)
    post(bridge, {"phone": f"+{PAT_OLD}", "first": "Mia", "last": "Mover", "email": "mia@example.com"})
    post(bridge, {"phone": f"+{PAT_OLD}", "last": "Mover2"})
    [mia] = bridge.sandbox.contacts()
    # When one delivery moves Mia to a new number by her contact_id, and her old number's next owner opts out
    post(
        bridge,
        {
            "contacts": [
                {"contact_id": mia["uuid"], "phone": f"+{PAT_NEW}", "first": "Mia", "last": "Mover2"},
                {"phone": f"+{PAT_OLD}", "first": "Zoe", "last": "Next", "is_opted_out": True},
            ]
        },
    )

    # Then each is on their own contact, and only Zoe is opted out
    stored = {str(contact["phone"]): contact for contact in bridge.sandbox.contacts()}
    assert stored[PAT_NEW]["uuid"] == mia["uuid"]
    assert stored[PAT_OLD]["first"] == "Zoe"
    assert stored[PAT_NEW]["is_opted_out"] is False  # fails: Zoe's opt-out lands on Mia
