"""The bridge is correct whichever way Heymarket behaves where its documentation is silent.

Both handlers against moto and the sandbox, the sandbox playing each undocumented behaviour in turn (a create of a
phone it holds; whether answers carry UUIDs; whether an update keeps what it leaves out; whether a custom map
replaces or merges; what a delete of an unknown id answers; what a list create with a local_id already used does),
with transient faults on top. After every scenario: exactly one contact per phone, holding the latest value of every
field sent and the old value of every field not sent; deletes done; every contact that names a list on that one list
(opted-out contacts off it); nothing in the DLQ.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from heymarket_bridge_tools.sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

DUPLICATE_CREATE = ("refuse", "update", "duplicate")
IDENTIFIERS = ("uuid", "integer")
UPDATE_OMITTED = ("keep", "clear")
UPDATE_CUSTOM = ("replace", "merge")
DELETE_UNKNOWN = ("ok", "bad_data", "not_found")
LIST_LOCAL_ID_REPEAT = ("existing", "refuse", "duplicate")

# Every duplicate_create x identifiers x update_omitted combination, the other two settings cycling through theirs.
BEHAVIOURS = [
    {
        "duplicate_create": create,
        "identifiers": identifiers,
        "update_omitted": omitted,
        "update_custom": UPDATE_CUSTOM[n % 2],
        "delete_unknown": DELETE_UNKNOWN[n % 3],
        "list_local_id_repeat": LIST_LOCAL_ID_REPEAT[(n // 2) % 3],
    }
    for n, (create, identifiers, omitted) in enumerate(itertools.product(DUPLICATE_CREATE, IDENTIFIERS, UPDATE_OMITTED))
]
PRE_1, PRE_2 = "15105550101", "15105550102"  # in Heymarket before the bridge sees them
NEW = [f"1510555020{n}" for n in range(5)]


def behaviour_id(behaviour: dict[str, str]) -> str:
    return "-".join(behaviour.values())


@pytest.fixture(params=BEHAVIOURS, ids=behaviour_id)
def bridge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    config = SandboxConfig(custom_fields=((101, "Campus"), (102, "Lead source")), seed=11, **request.param)
    with (
        HeymarketSandbox(config) as sandbox,
        running_bridge(
            monkeypatch,
            sandbox,
            {"MaxReceiveCount": 10},
            {"SYNC_DEADLINE_RESERVE": "0.5", "LIST_RETRY_DELAY_SECONDS": "0"},
        ) as bridge,
    ):
        yield bridge


def seed_contact(sandbox: HeymarketSandbox, contact: dict[str, Any]) -> None:
    """A contact made in Heymarket's app (POST /v1/contact with the team API key)."""
    answer = urllib3.request(
        "POST",
        f"{sandbox.url}/v1/contact",
        json=contact,
        headers={"Authorization": f"Bearer {sandbox.config.api_key}"},
    )
    assert answer.status == 200, answer.data


def post(bridge: Bridge, body: Any, path: str = "generic/single_contact") -> None:
    event = copy.deepcopy(load_event(path))
    event["body"], event["isBase64Encoded"] = json.dumps(body), False
    status, answer = bridge.post(event)
    assert status == 202, answer


def drain(bridge: Bridge, rounds: int = 8) -> None:
    """Sync until the queue is empty, making redelivered messages visible at once (as the visibility timeout would)."""
    for _ in range(rounds):
        event = bridge.receive_event()
        if not event["Records"]:
            return
        failed = bridge.sync(event, timeout_s=20)
        bridge.make_visible({"Records": [r for r in event["Records"] if r["messageId"] in failed]})
    assert bridge.queue_depth() == 0


def held(bridge: Bridge) -> dict[str, list[dict[str, Any]]]:
    by_phone: dict[str, list[dict[str, Any]]] = {}
    for contact in bridge.sandbox.contacts():
        by_phone.setdefault(str(contact["phone"]), []).append(contact)
    return by_phone


def test_every_phone_ends_as_one_contact_with_the_latest_values_whatever_heymarket_leaves_undocumented(
    bridge: Bridge,
) -> None:
    # Given two contacts already in Heymarket, one opted out with a custom field, and transient faults
    seed_contact(bridge.sandbox, {"phone": PRE_1, "first": "Pre", "email": "pre@example.com", "is_opted_out": True,
                                  "custom": {"101": "North"}})  # fmt: skip
    seed_contact(bridge.sandbox, {"phone": PRE_2, "first": "Gone"})
    bridge.sandbox.configure(fail_rate=0.15, reset_rate=0.15)

    # When new contacts arrive on a list, an existing one is updated with one field, and another is deleted by phone
    post(
        bridge,
        {
            "contacts": [
                {"phone": p, "first": f"N{n}", "email": f"n{n}@example.com", "lists": ["Behaviours"]}
                for n, p in enumerate(NEW)
            ]
        },
    )
    post(
        bridge, {"phone": PRE_1, "last": "Updated", "custom": {"102": "web"}, "lists": ["Behaviours"], "tags": ["VIP"]}
    )
    post(bridge, {"phones": [PRE_2]}, "generic/delete_contacts")
    drain(bridge)
    n2_uuid = next(c["uuid"] for c in bridge.sandbox.contacts() if c["phone"] == NEW[2])
    # And later: more changes in new batches, a delete by id, and a deleted phone coming back
    post(bridge, {"phone": NEW[0], "first": "N0-changed"})
    post(bridge, {"phone": NEW[1], "custom": {"Campus": "South"}})
    post(bridge, {"contact_ids": [n2_uuid]}, "generic/delete_contacts")
    post(bridge, {"phone": PRE_2, "first": "Back"})
    drain(bridge)

    # Then every phone is held by exactly one contact, with the latest value of each field sent, the others kept
    contacts = held(bridge)
    assert {phone: len(found) for phone, found in contacts.items() if len(found) > 1} == {}
    assert sorted(contacts) == sorted([PRE_1, PRE_2, NEW[0], NEW[1], NEW[3], NEW[4]])
    [pre_1] = contacts[PRE_1]
    assert (pre_1["first"], pre_1["last"], pre_1["email"]) == ("Pre", "Updated", "pre@example.com")
    assert pre_1["is_opted_out"] is True
    assert pre_1["custom"] == {"101": "North", "102": "web"}
    assert pre_1["tags"] == [{"tag_id": 1}]  # VIP, given by name
    [pre_2] = contacts[PRE_2]
    assert pre_2["first"] == "Back"
    assert contacts[NEW[0]][0]["first"] == "N0-changed"
    assert (contacts[NEW[1]][0]["first"], contacts[NEW[1]][0]["custom"]) == ("N1", {"101": "South"})
    assert contacts[NEW[1]][0]["email"] == "n1@example.com"
    # And the list holds the contacts that named it, but the deleted one and the opted-out one; where a lost create
    # answer cannot be matched to its list (a repeated local_id refused or duplicated), that list stays empty
    [listed] = [item for item in bridge.sandbox.lists() if item["title"] == "Behaviours" and item["phones"]]
    assert sorted(listed["phones"]) == sorted([NEW[0], NEW[1], NEW[3], NEW[4]])
    assert bridge.dead_letters() == []


def test_a_delete_of_an_id_heymarket_no_longer_holds_is_done_not_dead_lettered(bridge: Bridge) -> None:
    post(bridge, {"phone": NEW[0], "first": "Kept"})
    drain(bridge)
    held_id = bridge.sandbox.contacts()[0]["uuid"]

    post(bridge, {"contact_ids": ["6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60", held_id]}, "generic/delete_contacts")
    drain(bridge)

    assert bridge.sandbox.contacts() == []
    assert bridge.dead_letters() == []
