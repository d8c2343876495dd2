"""A Heymarket outage waited out: both handlers against moto and the sandbox, time compressed.

The sandbox answers 500 to everything for longer than MaxReceiveCount visibility timeouts (each "timeout" ends at
once: the failed messages are made visible again after every invocation, and the waiting ones are put back with no
delay), while webhooks keep changing some contacts. Then it is back: every contact is delivered with its newest
values, none reaches the DLQ, and no request is answered 429. The 1,000-contact version is `-m soak`.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from heymarket_local.audit import distinct_phones
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

# Compressed time: a contact put back to wait comes back at once, and the circuit probes again after 0.05 s.
COMPRESSED = {
    "OUTAGE_BASE_DELAY_SECONDS": "0",
    "OUTAGE_MAX_DELAY_SECONDS": "0",
    "HEYMARKET_CIRCUIT_OPEN_SECONDS": "0.05",
}
BATCH = 100  # the template's BatchSize


@dataclass
class OutageRun:
    """What an outage run measured: requests Heymarket got while down and after, and the statuses it answered."""

    requests_while_down: int
    requests_after: int
    by_status: dict[str, int]
    receives_while_down: int
    newest: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    with HeymarketSandbox() as sandbox:
        yield sandbox


def webhook(contacts: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    event = copy.deepcopy(load_event("generic/single_contact"))
    event["body"], event["isBase64Encoded"] = json.dumps({"contacts": contacts}), False
    event["requestContext"]["requestId"] = request_id
    return event


def post(bridge: Bridge, phones: list[str], first: str, newest: dict[str, str]) -> None:
    for start in range(0, len(phones), 250):
        chunk = phones[start : start + 250]
        status, body = bridge.post(webhook([{"phone": f"+{p}", "first": first} for p in chunk], f"{first}-{start}"))
        assert status == 202, body
        newest.update(dict.fromkeys(chunk, first))


def one_round(bridge: Bridge) -> int:
    """Each message visible now received once, batch by batch, as the event source would; the failed ones made
    visible again at once (their visibility timeout, compressed). Returns the messages received."""
    received = 0
    for _ in range(math.ceil(bridge.queue_depth() / BATCH)):
        event = bridge.receive_event(BATCH)
        if not event["Records"]:
            break
        received += len(event["Records"])
        failed = set(bridge.sync(event))
        bridge.make_visible({"Records": [r for r in event["Records"] if r["messageId"] in failed]})
    return received


def ride_out(bridge: Bridge, sandbox: HeymarketSandbox, contacts: int, rounds: int) -> OutageRun:
    """`contacts` posted, Heymarket down for `rounds` rounds with a change to a tenth of them in each, then back."""
    phones = distinct_phones(contacts)
    newest: dict[str, str] = {}
    post(bridge, phones, "first", newest)
    sandbox.configure(fail_rate=1.0)
    before = sandbox.stats()["requests"]
    receives = 0
    for n in range(rounds):
        post(bridge, phones[n :: max(1, rounds)][: max(1, contacts // 10)], f"round{n}", newest)
        receives += one_round(bridge)
    down = sandbox.stats()["requests"] - before
    sandbox.configure(fail_rate=0.0)
    time.sleep(0.1)  # the circuit's open time (compressed) passes
    for _ in range(20):
        if not bridge.queue_depth():
            break
        one_round(bridge)
    stats = sandbox.stats()
    return OutageRun(down, stats["requests"] - before - down, stats["by_status"], receives, newest)


def held_firsts(sandbox: HeymarketSandbox) -> dict[str, str]:
    return {contact["phone"].lstrip("+"): contact.get("first", "") for contact in sandbox.contacts()}


def check(bridge: Bridge, sandbox: HeymarketSandbox, run: OutageRun, contacts: int) -> None:
    assert bridge.queue_depth() == 0
    assert bridge.dead_letters() == []
    assert "429" not in run.by_status
    held = held_firsts(sandbox)
    assert len(held) == contacts
    assert held == run.newest


def outage_test(
    monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox, contacts: int, extra_rounds: int
) -> OutageRun:
    with running_bridge(monkeypatch, sandbox, extra_env=COMPRESSED) as bridge:
        max_receive_count = int(
            json.loads(
                bridge.sqs.get_queue_attributes(QueueUrl=bridge.resources.queue_url, AttributeNames=["RedrivePolicy"])[
                    "Attributes"
                ]["RedrivePolicy"]
            )["maxReceiveCount"]
        )
        # Longer than MaxReceiveCount visibility timeouts: each round is one.
        run = ride_out(bridge, sandbox, contacts, rounds=max_receive_count + extra_rounds)
        assert run.receives_while_down > contacts * max_receive_count
        check(bridge, sandbox, run, contacts)
        return run


def test_an_outage_longer_than_max_receive_count_timeouts_is_waited_out_and_the_newest_values_delivered(
    monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox
) -> None:
    run = outage_test(monkeypatch, sandbox, contacts=100, extra_rounds=1)

    # The circuit: a few requests per probe, not one per contact and round.
    assert run.requests_while_down < run.receives_while_down / 10


@pytest.mark.soak
def test_an_outage_of_1000_contacts_with_a_steady_inflow_is_waited_out(
    monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox
) -> None:
    outage_test(monkeypatch, sandbox, contacts=1000, extra_rounds=6)  # about twice MaxReceiveCount
