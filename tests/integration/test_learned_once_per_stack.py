"""Learned once per stack: the sync handler's execution environments share what one of them learned of Heymarket
(kept in the contact state table), and a sender that sends every field teaches it. Both handlers against moto and the
sandbox, each sync execution environment a fresh load of functions/sync/app.py."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

ANN, BOB = "15105550199", "15105550142"


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with HeymarketSandbox(SandboxConfig()) as sandbox, running_bridge(monkeypatch, sandbox) as running:
        yield running


def post(bridge: Bridge, body: Any) -> None:
    event = copy.deepcopy(load_event("generic/single_contact"))
    event["body"], event["isBase64Encoded"] = json.dumps(body), False
    status, answer = bridge.post(event)
    assert status == 202, answer


def synced(bridge: Bridge) -> list[str]:
    """One batch through the sync handler; the Heymarket routes it requested."""
    before = len(bridge.sandbox.requests_log)
    assert bridge.sync(bridge.receive_event()) == []
    return [f"{method} {path}" for method, path, _ in bridge.sandbox.requests_log[before:]]


def every_field(phone: str, last: str) -> dict[str, str]:
    return {"phone": phone, "first": "Erin", "last": last, "email": f"{phone}@example.org"}


def test_an_execution_environment_started_after_another_learned_writes_known_contacts_in_one_request(
    bridge: Bridge,
) -> None:
    # Given two contacts the bridge created, from a sender that sends every field every time
    for phone in (ANN, BOB):
        post(bridge, every_field(phone, "Lee"))
    synced(bridge)
    # and a first change that one execution environment handled (it looked the contact up, and learned)
    post(bridge, every_field(ANN, "Ray"))
    first = synced(bridge)

    # When a new execution environment takes the next change of a known contact
    bridge.restart_sync()
    post(bridge, every_field(BOB, "Ray"))
    second = synced(bridge)

    # Then it starts from what the stack learned: one request, no look-up, and nothing lost
    assert first == ["POST /v2/contacts/search", "POST /v2/contacts"]
    assert second == ["POST /v2/contacts"]
    held = {c["phone"]: c for c in bridge.sandbox.contacts()}
    assert (held[BOB]["last"], held[BOB]["email"], held[ANN]["last"]) == ("Ray", f"{BOB}@example.org", "Ray")
