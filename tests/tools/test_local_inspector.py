"""The local stack's public URL (signatures over the URL it serves, or a tunnel's) and its inspector's JSON."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge_tools.samples import authenticate, sample_payload
from heymarket_local.inspector.server import Inspector
from heymarket_local.stack import LocalStack, LocalStackConfig
from tests.support import demo_webhook_secrets

TUNNEL = "https://bridge-test.trycloudflare.com"
PHONE = "+14155550123"


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.loads(answer.read())


def start_stack(inspector: Inspector | None = None, **overrides: str | int) -> LocalStack:
    config = LocalStackConfig(
        webhook_secrets=demo_webhook_secrets(),
        retry_delay_s=1,
        parameter_overrides={"BatchingWindowSeconds": 1, **overrides},
    )
    if inspector is None:
        return LocalStack(config).start()
    return LocalStack(config, on_exchange=inspector.on_exchange, on_batch=inspector.on_batch).start()


def hubspot_delivery(stack: LocalStack, public_base_url: str) -> int:
    """Post the HubSpot sample signed over `public_base_url` (a sender calling that URL); the status answered."""
    url = stack.webhook_url("hubspot")
    payload = sample_payload("hubspot")
    posted, body, headers, _ = authenticate(
        "hubspot",
        url,
        payload.body,
        demo_webhook_secrets()["hubspot"],
        now=datetime.now(UTC),
        public_base_url=public_base_url,
    )
    return post(posted, body, {**headers, "Content-Type": payload.content_type})[0]


def test_without_a_public_url_hubspot_signatures_are_checked_against_the_http_url_served() -> None:
    with start_stack() as stack:
        api_url = stack.ready_info.api_url
        assert stack.template_parameters["PublicBaseUrl"] == api_url
        # A signature over the URL the stack serves (http) verifies; one over https://127.0.0.1 does not.
        assert hubspot_delivery(stack, api_url) == 202
        assert hubspot_delivery(stack, api_url.replace("http://", "https://")) == 401


def test_with_a_tunnel_s_public_url_signatures_over_that_url_verify() -> None:
    with start_stack(PublicBaseUrl=TUNNEL) as stack:
        assert stack.template_parameters["PublicBaseUrl"] == TUNNEL
        assert hubspot_delivery(stack, TUNNEL) == 202
        assert hubspot_delivery(stack, stack.ready_info.api_url) == 401


@pytest.fixture(scope="module")
def inspected() -> Iterator[tuple[LocalStack, Inspector]]:
    inspector = Inspector()
    with start_stack(inspector) as stack, inspector.start(stack.sandbox):
        yield stack, inspector


def wait_for(condition: Any, timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("not reached in time")


def activity(inspector: Inspector, after: int = 0) -> Any:
    return get_json(inspector.url + f"/api/activity?after={after}")


def test_the_inspector_json_shows_a_delivered_contact_masked_with_its_heymarket_write(
    inspected: tuple[LocalStack, Inspector],
) -> None:
    stack, inspector = inspected
    status, reply = post(
        stack.webhook_url("generic"),
        json.dumps({"phone": PHONE, "first": "Ada"}).encode(),
        {"Content-Type": "application/json", "X-Bridge-Token": demo_webhook_secrets()["generic"]},
    )
    assert status == 202

    def delivered() -> Any:
        found = [d for d in activity(inspector)["deliveries"] if d["request_id"] == reply["request_id"]]
        return found and found[0]["outcome"] == "delivered" and found[0]

    delivery = wait_for(delivered)
    assert (delivery["source"], delivery["status"], delivery["verdict"]) == ("generic", 202, "accepted")
    [contact] = delivery["contacts"]
    assert contact["phone"] == "14*****0123"  # as the handlers' logs mask it (mask_phone)
    assert contact["outcome"] == "delivered"
    assert contact["heymarket"]
    assert contact["heymarket"][0]["op"] == "create"
    text = json.dumps(activity(inspector))
    assert "4155550123" not in text
    assert "Ada" not in text
    paths = [request["path"] for request in activity(inspector)["heymarket_requests"]]
    assert any(path.startswith(("/v1/", "/v2/")) for path in paths)


def test_the_inspector_json_shows_a_refused_delivery_and_a_refusal_letter(
    inspected: tuple[LocalStack, Inspector],
) -> None:
    stack, inspector = inspected
    headers = {"Content-Type": "application/json", "X-Bridge-Token": demo_webhook_secrets()["generic"]}
    bad_token = post(stack.webhook_url("generic"), b'{"phone": "+14155550124"}', {**headers, "X-Bridge-Token": "no"})
    assert bad_token[0] == 401
    partly = post(stack.webhook_url("generic"), json.dumps([{"phone": PHONE}, {"phone": "12"}]).encode(), headers)
    assert partly[0] == 202

    deliveries = {d["request_id"]: d for d in wait_for(lambda: activity(inspector)["deliveries"])}
    refused = [d for d in deliveries.values() if d["status"] == 401]
    assert refused
    assert refused[0]["verdict"] == "refused"
    assert refused[0]["outcome"] == "refused"
    letter = deliveries[partly[1]["request_id"]]
    assert letter["verdict"] == "partly accepted"
    assert letter["outcome"] == "letter"
    assert letter["refused"]
    assert letter["refused"][0].startswith("#1")


def test_the_cursor_gives_only_what_changed_since() -> None:
    # Given a journal-only inspector (no server), When nothing changed after the cursor, Then nothing comes back.
    inspector = Inspector()
    snapshot = inspector.journal.snapshot()
    assert inspector.journal.snapshot(snapshot["cursor"])["deliveries"] == []
    inspector.journal.record_requests([("POST", "/v2/contacts/bulk", 200)])
    later = inspector.journal.snapshot(snapshot["cursor"])
    assert [r["path"] for r in later["heymarket_requests"]] == ["/v2/contacts/bulk"]


def test_a_bad_cursor_is_a_400_naming_it(inspected: tuple[LocalStack, Inspector]) -> None:
    _, inspector = inspected
    with pytest.raises(urllib.error.HTTPError) as refused:
        get_json(inspector.url + "/api/activity?after=-1")
    assert refused.value.code == 400
    assert "after" in json.loads(refused.value.read())["error"]


def contact_message(message_id: str, request_id: str, phone: str = "14155550123") -> dict[str, Any]:
    from heymarket_bridge.domain.contact import Contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation

    operation = ContactOperation(Operation.UPSERT, Contact(phone=phone), "generic", "2026-01-01T00:00:00Z", request_id)
    return {"messageId": message_id, "body": operation.to_json()}


def answered(request_id: str, status: int = 202, accepted: int = 1) -> Any:
    from heymarket_local.api import ApiExchange

    body = json.dumps({"accepted": accepted, "rejected": [], "request_id": request_id}).encode()
    return ApiExchange(time.time() - 1, "POST", "/webhooks/generic", {"source": "generic"}, status, body, 0.01)


def test_contacts_received_before_their_delivery_s_answer_show_under_it_once_answered() -> None:
    from heymarket_local.inspector.journal import Journal
    from heymarket_local.poller import BatchResult

    # Given the sync function received the delivery's contact before the API recorded its answer
    journal = Journal()
    journal.record_write("create", "+1 415 555 0123")
    journal.record_batch(BatchResult((contact_message("m1", "r1"),), frozenset()))  # type: ignore[arg-type]
    # Then the delivery is not shown yet (nothing to show of it but its contacts)
    assert journal.snapshot()["deliveries"] == []
    # When its answer is recorded, Then it shows with the contact, delivered, masked
    journal.record_exchange(answered("r1"))
    [delivery] = journal.snapshot()["deliveries"]
    assert delivery["outcome"] == "delivered"
    assert [(c["phone"], c["outcome"]) for c in delivery["contacts"]] == [("14*****0123", "delivered")]


def test_a_contact_the_sync_function_dead_lettered_shows_its_reason_and_makes_a_letter() -> None:
    import logging

    from heymarket_local.inspector.journal import Journal
    from heymarket_local.poller import BatchResult

    journal = Journal()
    journal.record_exchange(answered("r2"))
    assert journal.snapshot()["deliveries"][0]["outcome"] == "in progress"  # accepted, not received yet
    # When the sync function logs the contact dead-lettered (as heymarket_bridge.sync.settle does)
    record = logging.LogRecord("sync", logging.ERROR, __file__, 1, "Contact dead-lettered", None, None)
    record.message_id, record.error = "m2", "tag 'VIP' does not exist"
    journal.fates.handle(record)
    journal.record_batch(BatchResult((contact_message("m2", "r2"),), frozenset()))  # type: ignore[arg-type]
    # Then the delivery is a letter, and its contact says why
    [delivery] = journal.snapshot()["deliveries"]
    assert delivery["outcome"] == "letter"
    assert delivery["contacts"][0]["outcome"] == "dead-lettered"
    assert delivery["contacts"][0]["reason"] == "tag 'VIP' does not exist"
