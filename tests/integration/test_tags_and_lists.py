"""Tags by name and lists through both handlers, moto (the managed-lists table as template.yaml defines it) and the
sandbox, in each of the behaviours Heymarket leaves undocumented for a repeated list `local_id` (existing, refuse,
duplicate): contacts end on one list per name, with their tags, whatever answers are lost on the way."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.app import sync as sync_app
from heymarket_bridge.sync.model import QueueRecord
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.integration.test_heymarket_behaviours import drain, post

REPEATS = ("existing", "refuse", "duplicate")
SPRING = "Spring open house"
PHONES = [f"1510555030{n}" for n in range(4)]


@pytest.fixture
def bridge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    """The bridge against a sandbox that plays `request.param` for a repeated local_id (by default "refuse", where a
    list created twice would show as a refusal); tests where the behaviour matters run in all three."""
    repeat = getattr(request, "param", "refuse")
    config = SandboxConfig(list_local_id_repeat=repeat, account_tags=((1, "VIP"), (2, "Newsletter")), seed=3)
    extra = {"SYNC_DEADLINE_RESERVE": "0.5", "LIST_RETRY_DELAY_SECONDS": "0", "CREATE_MISSING_TAGS": "true"}
    with HeymarketSandbox(config) as sandbox, running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 10}, extra) as b:
        yield b


def lists_titled(bridge: Bridge, title: str) -> list[dict[str, Any]]:
    return [item for item in bridge.sandbox.lists() if item["title"] == title]


def writes(bridge: Bridge, endpoint: str) -> int:
    return int(bridge.sandbox.stats()["by_endpoint"].get(endpoint, 0))


def test_contacts_go_on_their_lists_with_their_tags_by_name_whatever_a_repeated_local_id_does(bridge: Bridge) -> None:
    # Given a first contact on a list given by name: the bridge creates it
    post(bridge, {"phone": "15105550399", "lists": [SPRING]})
    drain(bridge)
    spring_id = lists_titled(bridge, SPRING)[0]["id"]

    # When more contacts arrive over several batches, naming the list by name or by its id, with tags by name (one new)
    post(bridge, {"contacts": [{"phone": p, "tags": ["vip", "Newsletter"], "lists": SPRING} for p in PHONES[:2]]})
    drain(bridge)
    post(bridge, {"contacts": [{"phone": p, "tags": "VIP, Autumn fair", "lists": [spring_id]} for p in PHONES[2:]]})
    drain(bridge)

    # Then one list holds them all, created once; tags are by id, the new one created once
    [spring] = lists_titled(bridge, SPRING)
    assert sorted(spring["phones"]) == sorted(["15105550399", *PHONES])
    assert writes(bridge, "POST /v2/lists") == 1
    autumn = [tag["id"] for tag in bridge.sandbox.tags() if tag["tag"] == "Autumn fair"]
    assert len(autumn) == 1
    tags = {c["phone"]: sorted(t["tag_id"] for t in c["tags"]) for c in bridge.sandbox.contacts()}
    assert [tags[p] for p in PHONES] == [[1, 2], [1, 2], sorted([1, autumn[0]]), sorted([1, autumn[0]])]
    assert bridge.dead_letters() == []


def lose_the_next_list_create(sandbox: HeymarketSandbox) -> None:
    """POST /v2/lists takes effect, and its answer arrives empty (a proxy lost it)."""
    sandbox.configure(answer_fault="empty", answer_fault_rate=1.0, answer_fault_endpoints=("POST /v2/lists",))


@pytest.mark.parametrize("bridge", REPEATS, indirect=True)
def test_a_list_create_whose_answer_was_lost_leaves_every_contact_on_one_list(bridge: Bridge) -> None:
    # Given the answer of the first list create is lost after the list was created
    lose_the_next_list_create(bridge.sandbox)
    post(bridge, {"contacts": [{"phone": p, "lists": [SPRING]} for p in PHONES[:2]]})
    event = bridge.receive_event()
    assert bridge.sync(event, timeout_s=20) == []  # the contacts are stored; their lists follow
    bridge.sandbox.configure(answer_fault="none")

    # When the follow-up and later contacts are synced
    post(bridge, {"phone": PHONES[2], "lists": [SPRING]})
    drain(bridge)

    # Then every contact is on one list; where Heymarket refuses or duplicates a repeated local_id, the list the lost
    # answer created cannot be found again (no endpoint lists lists) and stays empty, unused
    used = [item for item in lists_titled(bridge, SPRING) if item["phones"]]
    assert len(used) == 1
    assert sorted(used[0]["phones"]) == sorted(PHONES[:3])
    stray = len(lists_titled(bridge, SPRING)) - 1
    assert stray == (0 if bridge.sandbox.config.list_local_id_repeat == "existing" else 1)
    assert writes(bridge, "POST /v2/contacts") == 2  # no contact was written twice
    assert bridge.dead_letters() == []


def test_a_failed_list_write_is_retried_without_writing_the_contact_again(bridge: Bridge) -> None:
    # Given every list write's answer is lost for the whole invocation
    bridge.sandbox.configure(
        answer_fault="truncated", answer_fault_rate=1.0, answer_fault_endpoints=("PUT /v2/lists/{id}",)
    )
    post(bridge, {"phone": PHONES[0], "first": "Ann", "lists": [SPRING]})
    event = bridge.receive_event()
    assert bridge.sync(event, timeout_s=3) == []
    bridge.sandbox.configure(answer_fault="none")

    # When the follow-up is received
    drain(bridge)

    # Then the contact is on its list, and was written once
    assert lists_titled(bridge, SPRING)[0]["phones"] == [PHONES[0]]
    assert writes(bridge, "POST /v2/contacts") == 1
    assert bridge.dead_letters() == []


def test_an_opted_out_contact_is_taken_off_the_lists_its_source_puts_it_on(bridge: Bridge) -> None:
    post(bridge, {"contacts": [{"phone": p, "lists": [SPRING]} for p in PHONES[:2]]})
    drain(bridge)

    post(bridge, {"phone": PHONES[0], "is_opted_out": "yes", "lists": [SPRING]})
    drain(bridge)

    assert lists_titled(bridge, SPRING)[0]["phones"] == [PHONES[1]]


@pytest.mark.parametrize("bridge", REPEATS, indirect=True)
def test_list_creation_racing_between_two_consumers_makes_one_list(bridge: Bridge) -> None:
    # Given two execution environments of the sync function, and a list create that takes a while
    bridge.sandbox.configure(latency_ms=400, latency_endpoints=("POST /v2/lists",))
    post(bridge, {"contacts": [{"phone": p, "lists": [SPRING]} for p in PHONES]})
    received = bridge.receive_event()["Records"]
    records = [QueueRecord(r["messageId"], r["body"], 1, int(r["attributes"]["SentTimestamp"])) for r in received]
    consumers = [sync_app.compose_sync(dict(os.environ)) for _ in range(2)]

    # When each receives half of the contacts at the same moment
    reports: list[Any] = [None, None]

    def consume(n: int) -> None:
        reports[n] = consumers[n].service.process(records[n * 2 : n * 2 + 2], lambda: 20.0)

    threads = [threading.Thread(target=consume, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for report in reports:
        assert report.failed_message_ids == []
    for record in received:  # settled: deleted, as the event source mapping does
        bridge.sqs.delete_message(QueueUrl=bridge.resources.queue_url, ReceiptHandle=record["receiptHandle"])
    drain(bridge)  # the follow-up of a consumer that found the list being created

    # Then one list was created, and holds every contact
    assert writes(bridge, "POST /v2/lists") == 1
    [spring] = lists_titled(bridge, SPRING)
    assert sorted(spring["phones"]) == sorted(PHONES)


def test_a_tag_name_is_found_on_a_later_page_of_the_teams_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a team with 45 tags (two pages): "Spring lead" is the oldest
    tags = ((1, "Spring lead"), *((n, f"Tag {n}") for n in range(2, 46)))
    with (
        HeymarketSandbox(SandboxConfig(account_tags=tags)) as sandbox,
        running_bridge(monkeypatch, sandbox, extra_env={"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        # When a contact names it
        post(bridge, {"phone": PHONES[0], "tags": ["spring lead", "Tag 45"]})
        drain(bridge)

        # Then it holds both tags, read in two pages
        [contact] = bridge.sandbox.contacts()
        assert sorted(tag["tag_id"] for tag in contact["tags"]) == [1, 45]
        assert writes(bridge, "POST /v1/tags") == 2
        assert bridge.dead_letters() == []
