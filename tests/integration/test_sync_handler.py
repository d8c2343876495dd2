"""The sync Lambda end to end: moto queues built from the template, the sandbox checking every JWT."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator

import pytest

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp, V2Gateway
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.observability import logger
from heymarket_bridge.sync.model import Stored
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import NO_TIME_TO_WAIT, Bridge, running_bridge
from tests.support import FakeLambdaContext, load_event

# Short invocations keep the retry tests quick: the handler keeps SYNC_DEADLINE_RESERVE of them back.
FAST_RETRIES = {"SYNC_DEADLINE_RESERVE": "0.5"}
ROTATED_KEY = "rotated-secret-key-of-a-decent-length"


@pytest.fixture
def sandbox() -> Iterator[HeymarketSandbox]:
    with HeymarketSandbox(SandboxConfig(seed=7)) as sandbox:
        yield sandbox


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    with running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, FAST_RETRIES) as bridge:
        yield bridge


def stored(sandbox: HeymarketSandbox) -> dict[str, dict[str, object]]:
    return {str(contact["phone"]): contact for contact in sandbox.contacts()}


def bulk_requests(sandbox: HeymarketSandbox) -> list[tuple[str, str, int]]:
    return [entry for entry in sandbox.requests_log if entry[1] == "/v2/contacts"]


def test_posted_contacts_reach_heymarket_in_one_bulk_request_with_their_fields(bridge: Bridge) -> None:
    assert bridge.post(load_event("generic/mixed_contacts"))[0] == 202

    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    assert bridge.queue_depth() == 0
    assert bulk_requests(bridge.sandbox) == [("POST", "/v2/contacts", 200)]
    contacts = stored(bridge.sandbox)
    assert sorted(contacts) == ["14155550100", "15105551234", "442079460958"]
    alice = contacts["15105551234"]
    assert (alice["first"], alice["last"], alice["email"]) == ("Alice", "Smith", "alice@example.com")
    assert alice["custom"] == {"101": "Spring open day"}
    assert contacts["14155550100"]["display_name"] == "Dan at Acme"
    assert bridge.dead_letters() == []


def test_contacts_heymarket_fails_go_to_the_dlq_with_the_error_and_the_rest_are_delivered(bridge: Bridge) -> None:
    bridge.sandbox.configure(contact_error_rate=0.5, seed=3)  # the sandbox refuses about half the contacts
    bridge.post(load_event("generic/mixed_contacts"))

    failed = bridge.sync(bridge.receive_event())

    assert failed == []  # a permanent failure is settled (in the DLQ), not redelivered
    assert bridge.queue_depth() == 0
    delivered = set(stored(bridge.sandbox))
    letters = bridge.dead_letters()
    refused = {letter["contact"]["phone"] for letter in letters}
    assert delivered
    assert refused
    assert delivered | refused == {"14155550100", "15105551234", "442079460958"}
    assert not delivered & refused
    for letter in letters:
        assert letter["error"] == "injected contact error"
        assert letter["source"] == "generic"
        assert letter["received_at"]
        assert letter["attempts"] == 1
        assert letter["contact"]["contact_channels"] == [
            {"channel_type": "phone", "channel_id": letter["contact"]["phone"]}
        ]


@pytest.mark.parametrize("duplicate_create", ["refuse", "update", "duplicate"])
def test_after_any_sequence_of_posts_heymarket_holds_one_contact_with_the_latest_values(
    bridge: Bridge, duplicate_create: str
) -> None:
    bridge.sandbox.configure(duplicate_create=duplicate_create)
    posts = [
        {"phone": "(510) 555-1234", "first": "Ann", "email": "ann@example.com", "custom": {"101": "a"}},
        {"phone": "+1 510 555 1234", "last": "Lee"},
        [{"phone": "510-555-1234", "first": "Anna"}, {"phone": "5105551234", "custom": {"102": "b"}}],
    ]
    for body in posts:
        event = load_event("generic/single_contact")
        event["body"] = json.dumps(body)
        assert bridge.post(event)[0] == 202
        assert bridge.sync(bridge.receive_event()) == []

    [contact] = bridge.sandbox.contacts()
    assert contact["phone"] == "15105551234"
    assert (contact["first"], contact["last"], contact["email"]) == ("Anna", "Lee", "ann@example.com")
    # Custom field 101 was never sent again: it keeps its value, whether Heymarket replaces or merges a custom map.
    assert contact["custom"] == {"101": "a", "102": "b"}
    assert bridge.dead_letters() == []


@pytest.fixture
def bridge_at_retention(monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox) -> Iterator[Bridge]:
    with running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 2}, {**FAST_RETRIES, **NO_TIME_TO_WAIT}) as bridge:
        yield bridge


def test_a_500_is_retried_then_reported_for_redelivery_then_dead_lettered_on_the_last_receive(
    bridge_at_retention: Bridge,
) -> None:
    bridge = bridge_at_retention
    bridge.post(load_event("generic/mixed_contacts"))
    bridge.sandbox.configure(fail_rate=1.0)

    first = bridge.receive_event()
    failed = bridge.sync(first, timeout_s=2.5)

    assert sorted(failed) == sorted(r["messageId"] for r in first["Records"])
    assert len(bridge.sandbox.requests_log) >= 2  # retried with backoff inside the invocation
    assert {status for *_, status in bridge.sandbox.requests_log} == {500}
    assert bridge.dead_letters() == []
    bridge.make_visible(first)

    last = bridge.receive_event()  # ApproximateReceiveCount 2 == MaxReceiveCount
    assert {r["attributes"]["ApproximateReceiveCount"] for r in last["Records"]} == {"2"}
    failed = bridge.sync(last, timeout_s=2.5)

    assert failed == []
    assert bridge.queue_depth() == 0
    letters = bridge.dead_letters()
    assert sorted(letter["contact"]["phone"] for letter in letters) == ["14155550100", "15105551234", "442079460958"]
    for letter in letters:
        assert "500" in letter["error"]
        assert letter["attempts"] == 2
    assert bridge.sandbox.contacts() == []


def test_a_429_burst_is_waited_out_inside_the_invocation(bridge: Bridge) -> None:
    bridge.post(load_event("generic/mixed_contacts"))
    bridge.sandbox.configure(throttle_burst=2)

    failed = bridge.sync(bridge.receive_event(), timeout_s=10)

    assert failed == []
    # The look-up before the bulk write meets the burst: waited out, then both requests go through.
    assert [status for *_, status in bridge.sandbox.requests_log] == [429, 429, 200, 200]
    assert len(bridge.sandbox.contacts()) == 3


def test_a_429_that_outlasts_the_invocation_is_redelivered_not_lost(bridge: Bridge) -> None:
    bridge.post(load_event("generic/single_contact"))
    bridge.sandbox.configure(throttle_burst=1000)

    event = bridge.receive_event()
    failed = bridge.sync(event, timeout_s=2)

    assert failed == [event["Records"][0]["messageId"]]
    assert bridge.queue_depth() == 1
    assert bridge.dead_letters() == []


def test_duplicate_phones_in_a_batch_are_sent_once_with_merged_fields(
    sandbox: HeymarketSandbox, bridge: Bridge
) -> None:
    response = bridge.sync_function.lambda_handler(load_event("sync/batch"), FakeLambdaContext(30, "SyncFunction"))

    assert response == {"batchItemFailures": []}
    assert len(bulk_requests(sandbox)) == 1
    contacts = stored(sandbox)
    assert sorted(contacts) == ["15105551234", "442079460958"]
    alice = contacts["15105551234"]
    assert (alice["first"], alice["last"], alice["email"]) == ("Alice", "Smith-Jones", "alice@example.com")
    assert alice["custom"] == {"101": "Spring open day", "102": "VIP"}


def test_rotated_credentials_are_picked_up_on_the_first_401(bridge: Bridge) -> None:
    bridge.post(load_event("generic/single_contact"))
    bridge.sync(bridge.receive_event())  # warms the cached credentials and JWT
    bridge.sandbox.rotate_credentials("rotated-secret-id", ROTATED_KEY)
    bridge.secretsmanager.put_secret_value(
        SecretId=bridge.resources.heymarket_secret_arn,
        SecretString=json.dumps({"secret_id": "rotated-secret-id", "secret_key": ROTATED_KEY}),
    )

    bridge.post(load_event("generic/mixed_contacts"))
    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    statuses = [(path, status) for _, path, status in bridge.sandbox.requests_log]
    search, bulk = "/v2/contacts/search", "/v2/contacts"
    assert statuses == [(search, 200), (bulk, 200), (search, 401), (search, 200), (bulk, 200)]


def test_placeholder_credentials_keep_contacts_queued_without_using_up_their_receives(bridge: Bridge) -> None:
    bridge.secretsmanager.put_secret_value(
        SecretId=bridge.resources.heymarket_secret_arn,
        SecretString=json.dumps({"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"}),
    )
    bridge.post(load_event("generic/single_contact"))
    event = bridge.receive_event()

    failed = bridge.sync(event, timeout_s=5)

    assert failed == []  # settled: put back on the queue as a new message, not redelivered
    assert bridge.sandbox.requests_log == []
    assert bridge.dead_letters() == []
    waiting = bridge.sqs.get_queue_attributes(
        QueueUrl=bridge.resources.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    assert waiting["ApproximateNumberOfMessagesDelayed"] == "1"
    [put_back] = bridge.sqs.receive_message(QueueUrl=bridge.resources.queue_url, WaitTimeSeconds=0).get(
        "Messages", []
    ) or [None]
    assert put_back is None  # delayed: it comes back after WAIT_DELAY_SECONDS, with a fresh receive count


def test_a_jwt_the_server_rejects_as_expired_is_replaced(sandbox: HeymarketSandbox) -> None:
    # The bridge's clock is 10 minutes behind Heymarket's when it signs its first token, so Heymarket
    # finds that token expired; the clock is right again by the time the client refreshes.
    readings = iter([time.time() - 600])

    def clock() -> float:
        return next(readings, time.time())

    config = sandbox.config
    auth = Authenticator(lambda _refresh: Credentials(config.secret_id, config.secret_key), clock=clock)
    gateway = V2Gateway(HeymarketHttp(sandbox.url, auth, RequestBudget(600)), max_batch=100)

    [result] = gateway.upsert([Contact(phone="15105551234", first="Ann")], Deadline.after(30))

    assert isinstance(result, Stored)
    assert [status for *_, status in sandbox.requests_log] == [401, 200, 200]  # search refused, again, then create


def test_logs_never_hold_a_whole_phone_an_email_a_jwt_or_a_secret(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    # The JSON log lines exactly as Lambda would ship them, from the Powertools handler's own stream.
    log_stream = io.StringIO()
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(log_stream)
    bridge.sandbox.configure(contact_error_rate=0.5, throttle_burst=1)
    bridge.post(load_event("generic/mixed_contacts"))
    unauthorised = load_event("generic/mixed_contacts")
    unauthorised["headers"]["authorization"] = "Bearer demo-generic-token-guess"
    bridge.post(unauthorised)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.configure(fail_rate=1.0)
    bridge.post(load_event("generic/mixed_contacts"))
    bridge.sync(bridge.receive_event(), timeout_s=2)

    handler.setStream(previous)
    logs = log_stream.getvalue() + capsys.readouterr().out  # logs, then the metrics (EMF on stdout)
    assert "Webhook accepted" in logs
    assert "Batch synced" in logs
    assert "Contact dead-lettered" in logs  # the failures were logged, masked
    assert "Webhook refused" in logs
    for secret in (
        "5105551234",
        "2079460958",
        "4155550100",
        "alice@example.com",
        "carol@@example",
        "demo-generic-token",
        bridge.sandbox.config.secret_key,
        "eyJ",  # the start of every JWT
    ):
        assert secret not in logs


def test_a_dead_letter_redriven_to_the_queue_is_delivered_once_the_cause_is_fixed(bridge: Bridge) -> None:
    bridge.sandbox.configure(contact_error_rate=1.0)  # Heymarket refuses the contact
    bridge.post(load_event("generic/single_contact"))
    bridge.sync(bridge.receive_event())
    [letter] = bridge.dead_letters()
    bridge.sandbox.configure(contact_error_rate=0.0)  # the operator fixed the cause

    # What SQS's DLQ redrive (start-message-move-task) does: the dead letter's body goes back unchanged.
    bridge.sqs.send_message(QueueUrl=bridge.resources.queue_url, MessageBody=json.dumps(letter))
    failed = bridge.sync(bridge.receive_event())

    assert failed == []
    assert [status for *_, status in bulk_requests(bridge.sandbox)] == [200, 200]
    assert [c["phone"] for c in bridge.sandbox.contacts()] == ["15105550199"]


def test_a_heymarket_secret_that_cannot_be_read_keeps_contacts_waiting_and_says_why(
    monkeypatch: pytest.MonkeyPatch, sandbox: HeymarketSandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack whose HeymarketSecretArn names a secret that does not exist (a typo, another region)
    missing = {**FAST_RETRIES, "HEYMARKET_SECRET_ARN": "team/heymarket-typo"}
    with running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 1}, missing) as bridge:
        bridge.post(load_event("generic/single_contact"))

        # When the sync function receives the contact on its last allowed receive
        failed = bridge.sync(bridge.receive_event(), timeout_s=5)

        # Then it waits on the queue (put back, not dead-lettered), and the configuration alarm's metric says why
        assert failed == []
        assert bridge.dead_letters() == []
        delayed = bridge.sqs.get_queue_attributes(
            QueueUrl=bridge.resources.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
        )["Attributes"]["ApproximateNumberOfMessagesDelayed"]
        assert delayed == "1"
    assert '"HeymarketConfigurationErrors"' in capsys.readouterr().out
