"""Zero loss where the local stack cannot inject the fault: SQS refusing entries at ingest, a sync invocation killed
after Heymarket answered. Both handlers against moto and the sandbox, audited contact by contact."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from heymarket_local.audit import WriteRecorder, audit, distinct_phones, expected_fields, load_contact
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import Bridge, running_bridge
from tests.support import FakeLambdaContext, load_event

ApiCall = Callable[[Any, str, dict[str, Any]], Any]


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    with HeymarketSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    with running_bridge(monkeypatch, sandbox) as bridge:
        yield bridge


def webhook(contacts: list[dict[str, Any]], request_id: str = "req-zero-loss") -> dict[str, Any]:
    event = copy.deepcopy(load_event("generic/single_contact"))
    event["body"], event["isBase64Encoded"] = json.dumps({"contacts": contacts}), False
    event["requestContext"]["requestId"] = request_id
    return event


def people(count: int) -> list[dict[str, Any]]:
    return [load_contact(phone, index, "sqs") for index, phone in enumerate(distinct_phones(count))]


def refusing_sqs(monkeypatch: pytest.MonkeyPatch, refuse: Callable[[int, dict[str, Any]], bool]) -> list[int]:
    """Make SendMessageBatch refuse the entries for which refuse(call number, entry) is true, as SQS reports a
    partial failure (in "Failed", the rest stored); returns the number of entries of each call."""
    original: ApiCall = BaseClient._make_api_call
    calls: list[int] = []

    def partial_failure(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation != "SendMessageBatch":
            return original(client, operation, params)
        call = len(calls)
        calls.append(len(params["Entries"]))
        refused = [entry for entry in params["Entries"] if refuse(call, entry)]
        kept = [entry for entry in params["Entries"] if not refuse(call, entry)]
        answer = original(client, operation, {**params, "Entries": kept}) if kept else {"Successful": []}
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in refused]
        return {**answer, "Failed": failed}

    monkeypatch.setattr(BaseClient, "_make_api_call", partial_failure)
    return calls


def queued_phones(bridge: Bridge) -> list[str]:
    return sorted(body["contact"]["phone"] for body in bridge.queued_bodies())


def test_entries_sqs_refuses_once_are_retried_and_the_sender_gets_202_with_each_contact_queued_once(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = people(25)
    # Given SQS refusing every other entry of the first SendMessageBatch call
    calls = refusing_sqs(monkeypatch, lambda call, entry: call == 0 and int(entry["Id"]) % 2 == 1)

    status, reply = bridge.post(webhook(contacts))

    assert (status, reply["accepted"]) == (202, 25)
    assert len(calls) > 3  # three chunks of at most ten, plus the retry of the refused entries
    assert queued_phones(bridge) == sorted(c["phone"].lstrip("+") for c in contacts)


def test_when_sqs_keeps_refusing_the_sender_gets_503_and_its_retry_repeats_only_the_same_upserts(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox
) -> None:
    contacts = people(25)
    refused_phone = contacts[12]["phone"].lstrip("+")
    outage = {"on": True}
    # Given SQS refusing, on every try, the entry of one contact in the second chunk of ten
    refusing_sqs(monkeypatch, lambda _call, entry: outage["on"] and refused_phone in entry["MessageBody"])

    status, reply = bridge.post(webhook(contacts))

    # Then the sender is told to retry, though the chunks SQS took are queued (SQS cannot take messages back)
    assert (status, reply["error"]["code"]) == (503, "buffer_unavailable")
    partly_queued = queued_phones(bridge)
    assert refused_phone not in partly_queued
    assert len(partly_queued) == 24

    # When SQS recovers and the sender retries the same delivery
    outage["on"] = False
    status, reply = bridge.post(webhook(contacts, request_id="req-zero-loss-retry"))
    assert (status, reply["accepted"]) == (202, 25)

    # Then every contact reaches Heymarket once, with its values: the repeat was the same upsert
    with WriteRecorder(sandbox) as recorder:
        while event := bridge.receive_event()["Records"]:
            assert bridge.sync({"Records": event}) == []
    accepted = {c["phone"].lstrip("+"): expected_fields(c) for c in contacts}
    result = audit(
        accepted, sandbox.contacts(), bridge.dead_letters(), recorder.by_phone(), opted_back_in=recorder.opted_back_in()
    )
    assert result.ok, result.problems()
    assert len(result.delivered) == 25


def test_a_sync_invocation_killed_after_heymarket_answered_is_redelivered_and_sends_nothing_again(
    bridge: Bridge, sandbox: HeymarketSandbox
) -> None:
    contacts = people(30)
    assert bridge.post(webhook(contacts))[0] == 202
    event = bridge.receive_event()

    with WriteRecorder(sandbox) as recorder:
        # Given an invocation that delivered the batch but was stopped before reporting to SQS (timeout, crash):
        # nothing is deleted, and SQS makes the messages visible again
        bridge.sync_function.lambda_handler(copy.deepcopy(event), FakeLambdaContext(60, "SyncFunction"))
        bridge.make_visible(event)
        requests_before = sandbox.stats()["requests"]

        # When SQS delivers them again
        redelivered = bridge.receive_event()
        assert {r["attributes"]["ApproximateReceiveCount"] for r in redelivered["Records"]} == {"2"}
        assert bridge.sync(redelivered) == []

    # Then the contact state knows them stored with these values: nothing is sent again; one contact per phone
    accepted = {c["phone"].lstrip("+"): expected_fields(c) for c in contacts}
    result = audit(
        accepted, sandbox.contacts(), bridge.dead_letters(), recorder.by_phone(), opted_back_in=recorder.opted_back_in()
    )
    assert result.ok, result.problems()
    assert result.written_more_than_once == 0
    assert sandbox.stats()["requests"] == requests_before
    assert len(sandbox.contacts()) == 30
    assert bridge.queue_depth() == 0
