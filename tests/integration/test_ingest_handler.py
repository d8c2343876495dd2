"""The ingest Lambda, driven with the sample events in events/, buffering into a moto queue built from the template."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    # The ingest side never calls Heymarket; an idle sandbox satisfies the sync settings.
    with HeymarketSandbox() as sandbox, running_bridge(monkeypatch, sandbox) as bridge:
        yield bridge


def with_body(event: dict[str, Any], body: str | bytes, content_type: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(event)
    if isinstance(body, bytes):
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body, False
    if content_type is not None:
        event["headers"]["content-type"] = content_type
    return event


def test_a_mixed_request_buffers_exactly_the_valid_contacts(bridge: Bridge) -> None:
    status, body = bridge.post(load_event("generic/mixed_contacts"))

    assert status == 202
    assert body["accepted"] == 3
    assert [r["index"] for r in body["rejected"]] == [2]
    reasons = " ".join(body["rejected"][0]["errors"])
    assert "phone" in reasons
    assert "email" in reasons
    queued = bridge.queued_bodies()
    assert sorted(m["contact"]["phone"] for m in queued) == ["14155550100", "15105551234", "442079460958"]
    alice = next(m for m in queued if m["contact"]["phone"] == "15105551234")
    assert alice["contact"] == {
        "phone": "15105551234",
        "first": "Alice",
        "last": "Smith",
        "email": "alice@example.com",
        "tags": [1, 2],
        "custom": {"101": "Spring open day"},
    }
    assert alice["op"] == "upsert"
    assert alice["source"] == "generic"
    assert alice["correlation_id"] == "req-generic-mixed"
    assert alice["received_at"]
    assert len({m["operation_id"] for m in queued}) == 3


def test_a_single_contact_and_an_html_form_post_are_buffered(bridge: Bridge) -> None:
    assert bridge.post(load_event("generic/single_contact"))[0] == 202
    status, body = bridge.post(load_event("generic/form_post"))
    assert (status, body["accepted"]) == (202, 1)
    assert len(bridge.queued_bodies()) == 2


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer not-the-token"},
        {"x-bridge-token": "demo-generic-token-but-longer"},
        {},
    ],
    ids=["wrong-bearer", "wrong-header", "missing"],
)
def test_a_wrong_or_missing_token_is_401_and_nothing_is_buffered(bridge: Bridge, headers: dict[str, str]) -> None:
    event = load_event("generic/mixed_contacts")
    del event["headers"]["authorization"]
    event["headers"].update(headers)

    status, body = bridge.post(event)

    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert bridge.queue_depth() == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "mentions"),
    [
        ("{not json", "application/json", 400, "bad_request", "JSON"),
        ("", "application/json", 400, "bad_request", "empty"),
        ('"just a string"', "application/json", 400, "bad_request", "contact object"),
        ('{"contacts": {"phone": "5105551234"}}', "application/json", 400, "bad_request", "contacts"),
        ("<xml/>", "application/xml", 415, "unsupported_media_type", "application/xml"),
        ('[{"phone": "12"}, {"first": "No phone"}]', "application/json", 422, "no_valid_contacts", "valid"),
        (json.dumps([{"phone": "5105551234"}] * 501), "application/json", 413, "payload_too_large", "500"),
        ("x" * 1_048_577, "application/json", 413, "payload_too_large", "bytes"),
    ],
    ids=["broken-json", "empty", "scalar", "contacts-not-list", "xml", "nothing-valid", "too-many", "too-big"],
)
def test_bad_requests_get_a_status_and_a_json_error_that_names_the_problem(
    bridge: Bridge, body: str, content_type: str, status: int, code: str, mentions: str
) -> None:
    event = with_body(load_event("generic/single_contact"), body, content_type)

    got_status, got = bridge.post(event)

    assert (got_status, got["error"]["code"]) == (status, code)
    assert mentions in got["error"]["message"]
    assert got["request_id"]
    assert bridge.queue_depth() == 0


def test_422_lists_why_each_contact_was_rejected(bridge: Bridge) -> None:
    event = with_body(load_event("generic/single_contact"), '[{"phone": "12"}, {"first": "No phone"}]')
    status, body = bridge.post(event)
    assert status == 422
    rejected = body["rejected"]  # same shape as in a 202
    assert [r["index"] for r in rejected] == [0, 1]
    assert all(r["errors"] for r in rejected)


def test_unknown_source_is_404(bridge: Bridge) -> None:
    event = load_event("generic/single_contact")
    event["pathParameters"]["source"] = "myspace"
    event["rawPath"] = event["requestContext"]["http"]["path"] = "/webhooks/myspace"
    status, body = bridge.post(event)
    assert (status, body["error"]["code"]) == (404, "unknown_source")


def test_a_body_that_is_not_valid_base64_is_400_not_500(bridge: Bridge) -> None:
    event = load_event("generic/single_contact")
    event["body"], event["isBase64Encoded"] = "%%%not base64%%%", True
    status, body = bridge.post(event)
    assert (status, body["error"]["code"]) == (400, "bad_request")


def test_when_sqs_refuses_the_sender_gets_503_not_202(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def refuse(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "SendMessageBatch":
            calls.append(len(api_params["Entries"]))
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, operation_name)
        return original(self, operation_name, api_params)

    from botocore.client import BaseClient

    original = BaseClient._make_api_call
    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)

    status, body = bridge.post(load_event("generic/mixed_contacts"))

    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert (status, body["error"]["code"]) == (503, "buffer_unavailable")
    assert len(calls) >= 2  # the failed batch was retried before giving up
    assert bridge.queue_depth() == 0


def test_secrets_manager_unreachable_is_503(bridge: Bridge) -> None:
    bridge.secretsmanager.delete_secret(SecretId=bridge.resources.webhook_secrets_arn, ForceDeleteWithoutRecovery=True)
    status, body = bridge.post(load_event("generic/single_contact"))
    assert (status, body["error"]["code"]) == (503, "buffer_unavailable")
