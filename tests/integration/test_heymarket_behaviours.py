"""The bridge is correct whichever way Heymarket behaves where its documentation is silent.

Both handlers against moto and the sandbox, the sandbox playing each undocumented behaviour in turn (a create of a
phone it holds; whether answers carry UUIDs; whether an update keeps what it leaves out; whether a custom map
replaces or merges; what a delete of an unknown id answers; what a list create with a local_id already used does),
with transient faults on top. After every scenario: exactly one contact per phone, holding the latest value of every
field sent and the old value of every field not sent; deletes done; every contact that names a list on that one list
(opted-out contacts off it); nothing in the DLQ. And with the contact state, in every behaviour: an operation older
than the newest applied to its contact is skipped (the opt-out scenario, a delete then a late upsert), a contact
deleted in Heymarket's app is stored again, and two invocations racing on one phone end with the newer operation.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import urllib3

from heymarket_bridge.app import sync as sync_app
from heymarket_bridge.sync.model import QueueRecord
from heymarket_bridge_tools.signing import resign_event
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import demo_webhook_secrets, load_event

DUPLICATE_CREATE = ("refuse", "update", "duplicate")
IDENTIFIERS = ("uuid", "integer")
UPDATE_OMITTED = ("keep", "clear")
UPDATE_CUSTOM = ("replace", "merge")
DELETE_UNKNOWN = ("ok", "bad_data", "not_found")
LIST_LOCAL_ID_REPEAT = ("existing", "refuse", "duplicate")
# Deviations from the reference that mean one thing only (SandboxConfig.answer_deviations): each in some behaviour.
ANSWER_DEVIATIONS = (
    (),
    ("id_as_uuid", "phone_with_plus"),
    ("id_as_text", "extra_fields"),
    ("no_contacts_when_all_failed", "id_as_uuid"),
    ("id_as_text", "phone_with_plus", "extra_fields", "no_contacts_when_all_failed"),
)

# Every duplicate_create x identifiers x update_omitted combination, the other settings cycling through theirs.
BEHAVIOURS = [
    {
        "duplicate_create": create,
        "identifiers": identifiers,
        "update_omitted": omitted,
        "update_custom": UPDATE_CUSTOM[n % 2],
        "delete_unknown": DELETE_UNKNOWN[n % 3],
        "list_local_id_repeat": LIST_LOCAL_ID_REPEAT[(n // 2) % 3],
        "answer_deviations": ANSWER_DEVIATIONS[n % 5],
    }
    for n, (create, identifiers, omitted) in enumerate(itertools.product(DUPLICATE_CREATE, IDENTIFIERS, UPDATE_OMITTED))
]
# How long a contact stays leased after a request whose outcome is unknown (CONTACT_LEASE_MARGIN_SECONDS): 30 s as
# deployed, where SQS redelivers after its visibility timeout; here messages are made visible again at once.
LEASE_MARGIN_S = 0.5
PRE_1, PRE_2 = "15105550101", "15105550102"  # in Heymarket before the bridge sees them
NEW = [f"1510555020{n}" for n in range(5)]


def behaviour_id(behaviour: dict[str, Any]) -> str:
    return "-".join(
        value if isinstance(value, str) else "+".join(value) or "documented" for value in behaviour.values()
    )


@pytest.fixture(params=BEHAVIOURS, ids=behaviour_id)
def bridge(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    config = SandboxConfig(custom_fields=((101, "Campus"), (102, "Lead source")), seed=11, **request.param)
    with (
        HeymarketSandbox(config) as sandbox,
        # A contact whose request failed with an unknown outcome stays leased for the margin: 0.5 s here, not 30.
        running_bridge(
            monkeypatch,
            sandbox,
            {"MaxReceiveCount": 10},
            {
                "SYNC_DEADLINE_RESERVE": "0.5",
                "LIST_RETRY_DELAY_SECONDS": "0",
                "CONTACT_LEASE_MARGIN_SECONDS": str(LEASE_MARGIN_S),
            },
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
        if failed:
            time.sleep(LEASE_MARGIN_S + 0.1)  # as SQS's visibility timeout outlasts the lease kept after a 5xx
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


def test_an_update_of_the_contact_a_sender_names_by_contact_id_keeps_every_field_it_leaves_out(bridge: Bridge) -> None:
    # Given a contact in Heymarket, opted out, with a name, an email and a custom field
    seed_contact(bridge.sandbox, {"phone": PRE_1, "first": "Pre", "email": "pre@example.com", "is_opted_out": True,
                                  "custom": {"101": "North"}})  # fmt: skip
    [uuid] = [c["uuid"] for c in bridge.sandbox.contacts() if c["phone"] == PRE_1]

    # When a sender updates it by its contact_id with one field and one custom value
    post(bridge, {"phone": PRE_1, "contact_id": uuid, "last": "Named", "custom": {"102": "web"}})
    drain(bridge)

    # Then it holds the new values and still every one the update left out, whatever an update does with those
    [contact] = held(bridge)[PRE_1]
    assert (contact["first"], contact["last"], contact["email"]) == ("Pre", "Named", "pre@example.com")
    assert contact["is_opted_out"] is True
    assert contact["custom"] == {"101": "North", "102": "web"}
    assert bridge.dead_letters() == []


def test_a_delete_of_an_id_heymarket_no_longer_holds_is_done_not_dead_lettered(bridge: Bridge) -> None:
    post(bridge, {"phone": NEW[0], "first": "Kept"})
    drain(bridge)
    held_id = bridge.sandbox.contacts()[0]["uuid"]

    post(bridge, {"contact_ids": ["6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60", held_id]}, "generic/delete_contacts")
    drain(bridge)

    assert bridge.sandbox.contacts() == []
    assert bridge.dead_letters() == []


# ---------------------------------------------------------------------- the newest operation wins across batches


def sync_failing(bridge: Bridge) -> dict[str, Any]:
    """Receive what is queued and sync it while Heymarket answers 5xx: the messages wait for SQS to redeliver them
    (invisible until `make_visible`)."""
    bridge.sandbox.configure(fail_rate=1.0)
    event = bridge.receive_event()
    assert len(bridge.sync(event, timeout_s=2)) == len(event["Records"])
    bridge.sandbox.configure(fail_rate=0.0)
    time.sleep(LEASE_MARGIN_S + 0.1)  # the lease kept after requests whose outcome is unknown
    return event


def sync_visible(bridge: Bridge) -> None:
    """Sync what is visible now (messages waiting for their redelivery stay where they are)."""
    while (event := bridge.receive_event())["Records"]:
        assert bridge.sync(event, timeout_s=20) == []


def test_an_opt_in_redelivered_after_a_newer_stop_was_delivered_leaves_the_contact_opted_out(bridge: Bridge) -> None:
    # Given a contact subscribes, and Heymarket answers 5xx: the subscription waits for SQS to redeliver it
    seed_contact(bridge.sandbox, {"phone": PRE_1, "first": "Pat"})
    post(bridge, {"phone": PRE_1, "is_opted_out": False})
    subscription = sync_failing(bridge)
    # And the person then texts STOP: the source sends the opt-out, which is delivered
    post(bridge, {"phone": PRE_1, "is_opted_out": True})
    sync_visible(bridge)

    # When the subscription comes back
    bridge.make_visible(subscription)
    drain(bridge)

    # Then it was older than what was applied: skipped, not dead-lettered; the contact stays opted out
    [contact] = held(bridge)[PRE_1]
    assert (contact["first"], contact["is_opted_out"]) == ("Pat", True)
    assert bridge.dead_letters() == []


def test_an_upsert_older_than_a_delete_stays_out_and_a_newer_one_brings_the_contact_back(bridge: Bridge) -> None:
    seed_contact(bridge.sandbox, {"phone": PRE_2, "first": "Kim"})
    post(bridge, {"phone": PRE_2, "first": "Late"})
    late = sync_failing(bridge)
    post(bridge, {"phones": [PRE_2]}, "generic/delete_contacts")
    sync_visible(bridge)

    bridge.make_visible(late)
    drain(bridge)
    after_late = held(bridge)
    post(bridge, {"phone": PRE_2, "first": "Back"})
    drain(bridge)

    assert PRE_2 not in after_late
    assert [c["first"] for c in held(bridge)[PRE_2]] == ["Back"]
    assert bridge.dead_letters() == []


def test_a_contact_deleted_in_heymarkets_app_since_the_bridge_stored_it_is_stored_again_by_its_phone(
    bridge: Bridge,
) -> None:
    post(bridge, {"phone": NEW[0], "first": "Gone", "email": "gone@example.com"})
    drain(bridge)
    [contact] = held(bridge)[NEW[0]]
    answer = urllib3.request(
        "DELETE",
        f"{bridge.sandbox.url}/v1/contact/{contact['id']}",
        headers={"Authorization": f"Bearer {bridge.sandbox.config.api_key}"},
    )
    assert answer.status == 200, answer.data

    post(bridge, {"phone": NEW[0], "last": "Again"})
    drain(bridge)

    [again] = held(bridge)[NEW[0]]
    assert (again["last"], again["id"] != contact["id"]) == ("Again", True)
    assert bridge.dead_letters() == []


def test_two_invocations_racing_on_one_phone_with_operations_of_different_ages_end_with_the_newer_one(
    bridge: Bridge,
) -> None:
    # Given an older and a newer change of each of two contacts, each change handed to its own invocation at the
    # same moment, against a Heymarket slow enough (150 ms a request) for the two to overlap
    for phone in NEW[1:3]:
        seed_contact(bridge.sandbox, {"phone": phone, "first": "Start"})
        post(bridge, {"phone": phone, "first": "Older"})
        post(bridge, {"phone": phone, "first": "Newer"})
    queued = sorted(bridge.receive_event()["Records"], key=lambda r: json.loads(r["body"])["received_at"])
    by_phone = {phone: [r for r in queued if json.loads(r["body"])["contact"]["phone"] == phone] for phone in NEW[1:3]}
    bridge.sandbox.configure(latency_ms=150)

    # When both run at once, each trying again whenever its message would be redelivered: for one contact the older
    # change starts 50 ms ahead, for the other the newer one
    reports = race(by_phone[NEW[1]], head_start=0) + race(by_phone[NEW[2]], head_start=1)

    # Then each contact holds the newer value: the older change never overwrote it
    assert reports == [[], [], [], []]
    assert {phone: [c["first"] for c in held(bridge)[phone]] for phone in NEW[1:3]} == {
        NEW[1]: ["Newer"],
        NEW[2]: ["Newer"],
    }
    assert bridge.dead_letters() == []


def race(records: list[dict[str, Any]], *, head_start: int) -> list[list[str]]:
    """Process each record in an invocation of its own (its own execution environment), all at once; each is
    processed again (as SQS would redeliver it) until it is settled. The last report of each."""
    runtimes = [sync_app.compose_sync(os.environ) for _ in records]
    start = threading.Barrier(len(records))
    results: list[list[str]] = [[] for _ in records]

    def consume(n: int) -> None:
        start.wait()
        if n != head_start:
            time.sleep(0.05)
        record = records[n]
        for receive in range(1, 40):
            queued = QueueRecord(record["messageId"], record["body"], receive)
            results[n] = runtimes[n].service.process([queued], lambda: 20.0).failed_message_ids
            if not results[n]:
                return
            time.sleep(0.1)

    threads = [threading.Thread(target=consume, args=(n,)) for n in range(len(records))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


# ---------------------------------------------------------------------- consent: a STOP is final until START


def shopify_customer(bridge: Bridge, phone: str, *, state: str, consented_at: datetime, last: str) -> None:
    """Post a Shopify customers/update for `phone`, signed now, whose SMS consent says `state` as of `consented_at`."""
    now = datetime.now(UTC)
    event = copy.deepcopy(load_event("shopify/customers_update"))
    customer = {
        "id": int(phone),
        "phone": f"+{phone}",
        "first_name": "Sam",
        "last_name": last,
        "created_at": (now - timedelta(hours=1)).isoformat(),
        "updated_at": now.isoformat(),
        "sms_marketing_consent": {
            "state": state,
            "opt_in_level": "confirmed_opt_in",
            "consent_updated_at": consented_at.isoformat(),
        },
    }
    event["body"], event["isBase64Encoded"] = json.dumps(customer), False
    event["headers"]["x-shopify-webhook-id"] = str(uuid.uuid4())
    event["requestContext"]["timeEpoch"] = int(now.timestamp() * 1000)
    status, answer = bridge.post(resign_event(event, demo_webhook_secrets()["shopify"], now))
    assert status == 202, answer


def reconsent(bridge: Bridge, monkeypatch: pytest.MonkeyPatch, sources: str) -> None:
    monkeypatch.setenv("RECONSENT_SOURCES", sources)
    bridge.restart_sync()


@pytest.mark.parametrize("answer", ["accept", "ignore", "refuse"])
def test_an_opt_in_from_any_path_leaves_a_contact_that_texted_stop_opted_out_and_changes_its_other_fields(
    bridge: Bridge, answer: str
) -> None:
    # Given three contacts that texted STOP to Heymarket: one the bridge stored before (known: written without a
    # look-up once updates are known to keep what they leave out), one made in Heymarket's app (looked up), and one
    # a sender will name by its contact_id; whatever Heymarket does with an opt-in written over a STOP
    bridge.sandbox.configure(opt_in_over_stop=answer)
    post(bridge, {"phone": NEW[0], "first": "Known"})
    post(bridge, {"phone": NEW[1], "first": "Warm-up"})
    drain(bridge)
    post(bridge, {"phone": NEW[1], "last": "Probe"})  # an update: the instance learns what updates leave out
    drain(bridge)
    seed_contact(bridge.sandbox, {"phone": PRE_1, "first": "Seeded"})
    seed_contact(bridge.sandbox, {"phone": PRE_2, "first": "Named"})
    [named] = [c["uuid"] for c in bridge.sandbox.contacts() if c["phone"] == PRE_2]
    for phone in (NEW[0], PRE_1, PRE_2):
        bridge.sandbox.text(phone, "STOP")

    # When sources send an opt-in with a new last name, by phone and by contact_id, as a generic "no" and false
    post(bridge, {"phone": NEW[0], "last": "One", "is_opted_out": "no"})
    post(bridge, {"phone": PRE_1, "last": "Two", "is_opted_out": False})
    post(bridge, {"phone": PRE_2, "contact_id": named, "last": "Three", "is_opted_out": False})
    drain(bridge)

    # Then each stays opted out, its last name changed; nothing is dead-lettered
    contacts = held(bridge)
    assert {phone: [(c["is_opted_out"], c["last"]) for c in contacts[phone]] for phone in (NEW[0], PRE_1, PRE_2)} == {
        NEW[0]: [(True, "One")],
        PRE_1: [(True, "Two")],
        PRE_2: [(True, "Three")],
    }
    assert bridge.dead_letters() == []


def test_a_contact_that_texted_stop_then_start_stays_opted_in_through_an_update_without_consent(bridge: Bridge) -> None:
    post(bridge, {"phone": NEW[0], "first": "Pat"})
    drain(bridge)
    bridge.sandbox.text(NEW[0], "STOP")
    bridge.sandbox.text(NEW[0], "START")

    post(bridge, {"phone": NEW[0], "last": "Later"})
    drain(bridge)

    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(False, "Later")]
    assert bridge.dead_letters() == []


def test_a_source_opt_out_then_a_later_opt_in_from_it_leaves_the_contact_opted_out_by_default(bridge: Bridge) -> None:
    shopify_customer(bridge, NEW[0], state="unsubscribed", consented_at=datetime.now(UTC), last="Out")
    drain(bridge)

    shopify_customer(bridge, NEW[0], state="subscribed", consented_at=datetime.now(UTC), last="In")
    drain(bridge)

    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(True, "In")]
    assert bridge.dead_letters() == []


@pytest.mark.parametrize(("answer", "opted_out"), [("accept", False), ("ignore", True), ("refuse", True)])
def test_a_later_dated_opt_in_from_a_source_trusted_for_reconsent_opts_the_contact_back_in_where_heymarket_takes_it(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch, answer: str, opted_out: bool
) -> None:
    # Given re-consent turned on for Shopify's SMS consent, and a customer Shopify unsubscribed
    reconsent(bridge, monkeypatch, "shopify=sms_marketing_consent.state")
    bridge.sandbox.configure(opt_in_over_stop=answer)
    shopify_customer(bridge, NEW[0], state="unsubscribed", consented_at=datetime.now(UTC), last="Out")
    drain(bridge)

    # When the customer subscribes again, the consent dated after the opt-out was stored
    time.sleep(0.01)
    shopify_customer(bridge, NEW[0], state="subscribed", consented_at=datetime.now(UTC), last="In")
    drain(bridge)

    # Then the contact is opted back in where Heymarket takes the opt-in; its last name changes either way
    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(opted_out, "In")]
    assert bridge.dead_letters() == []


def test_an_opt_in_from_a_source_trusted_for_reconsent_dated_before_the_opt_out_leaves_the_contact_opted_out(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given re-consent for Shopify, and a contact that texted STOP to Heymarket after Shopify's consent was given
    reconsent(bridge, monkeypatch, "shopify=sms_marketing_consent.state")
    consented = datetime.now(UTC) - timedelta(minutes=5)
    post(bridge, {"phone": NEW[0], "first": "Sam"})
    drain(bridge)
    bridge.sandbox.text(NEW[0], "STOP")

    # When Shopify sends the customer, still subscribed as Shopify knows it, with the older consent time
    shopify_customer(bridge, NEW[0], state="subscribed", consented_at=consented, last="Changed")
    drain(bridge)

    # Then the STOP stands, the last name changes
    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(True, "Changed")]
    assert bridge.dead_letters() == []


def test_an_opt_in_redelivered_after_the_person_texted_stop_leaves_the_contact_opted_out(bridge: Bridge) -> None:
    # Given an opt-in of a known contact whose sync met a Heymarket answering 5xx (SQS redelivers it later)
    post(bridge, {"phone": NEW[0], "first": "Pat"})
    drain(bridge)
    post(bridge, {"phone": NEW[0], "last": "Again", "is_opted_out": False})
    waiting = sync_failing(bridge)
    # And the person texts STOP meanwhile
    bridge.sandbox.text(NEW[0], "STOP")

    # When the opt-in is redelivered
    bridge.make_visible(waiting)
    drain(bridge)

    # Then the STOP stands, the last name is written
    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(True, "Again")]
    assert bridge.dead_letters() == []


def test_an_opt_in_redriven_from_the_dlq_with_force_after_a_stop_leaves_the_contact_opted_out(bridge: Bridge) -> None:
    # Given an opt-in taken off the queue (as the DLQ holds it), and the person texting STOP since
    post(bridge, {"phone": NEW[0], "first": "Pat"})
    drain(bridge)
    post(bridge, {"phone": NEW[0], "last": "Forced", "is_opted_out": False})
    [record] = bridge.receive_event()["Records"]
    bridge.sqs.delete_message(QueueUrl=bridge.resources.queue_url, ReceiptHandle=record["receiptHandle"])
    bridge.sandbox.text(NEW[0], "STOP")

    # When an operator redrives it with --force (the original operation, forced past the order check)
    forced = {**json.loads(record["body"]), "force": True}
    bridge.sqs.send_message(QueueUrl=bridge.resources.queue_url, MessageBody=json.dumps(forced))
    drain(bridge)

    # Then the STOP stands, the last name is written
    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[NEW[0]]] == [(True, "Forced")]
    assert bridge.dead_letters() == []


def test_in_v1_mode_an_opt_in_leaves_a_contact_that_texted_stop_opted_out(
    bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEYMARKET_API_MODE", "v1")
    bridge.restart_sync()
    seed_contact(bridge.sandbox, {"phone": PRE_1, "first": "Seeded"})
    bridge.sandbox.text(PRE_1, "STOP")

    post(bridge, {"phone": PRE_1, "last": "V1", "is_opted_out": False})
    drain(bridge)

    assert [(c["is_opted_out"], c["last"]) for c in held(bridge)[PRE_1]] == [(True, "V1")]
    assert bridge.dead_letters() == []
