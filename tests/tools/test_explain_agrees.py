"""`explain` says what the ingest function answers: its verdict (queued, or the whole delivery refused with a
status) is compared with the real ingest service's answer for every sample and for hostile generic bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from heymarket_bridge.ingest.failures import WebhookError
from heymarket_bridge.ingest.sources import SOURCE_NAMES
from heymarket_bridge_tools.explain import explain, request_of
from heymarket_bridge_tools.samples import sample_of, sample_payload
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import deliver


def explained_status(source: str, body: bytes, content_type: str) -> int:
    """202 when explain queues something or takes the delivery, else the status of the refusal it names."""
    try:
        explain(source, request_of(source, body, content_type), {})
    except WebhookError as refused:
        return refused.status
    return 202


def generic_event(body: bytes) -> dict[str, Any]:
    """The event API Gateway hands ingest for `body` posted to /webhooks/generic with the demo token."""
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": "/webhooks/generic",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "authorization": f"Bearer {demo_webhook_secrets()['generic']}",
        },
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/generic"}, "requestId": "agree"},
        "pathParameters": {"source": "generic"},
        "body": base64.b64encode(body).decode("ascii"),
        "isBase64Encoded": True,
    }


HOSTILE_GENERIC = {
    "3,000 contacts": json.dumps([{"phone": f"+1415555{n:04d}"} for n in range(3000)]),
    "501 contacts": json.dumps([{"phone": f"+1415555{n:04d}"} for n in range(501)]),
    "500 contacts": json.dumps([{"phone": f"+1415555{n:04d}"} for n in range(500)]),
    "only contact invalid": json.dumps({"phone": "not a phone"}),
    "every contact invalid": json.dumps([{"phone": "x"}, {"email": "a@example.com"}]),
    "one valid of two": json.dumps([{"phone": "x"}, {"phone": "+14155550132"}]),
    "not JSON": "{",
    "empty list": "[]",
    "over MaxBodyBytes": json.dumps({"phone": "+14155550132", "note": "x" * 1_048_576}),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_GENERIC))
def test_explain_answers_a_hostile_generic_body_as_ingest_does(name: str) -> None:
    body = HOSTILE_GENERIC[name].encode()

    answered = deliver(generic_event(body)).status

    assert explained_status("generic", body, "application/json") == answered


@pytest.mark.parametrize("source", sorted(SOURCE_NAMES))
def test_explain_answers_every_sample_as_ingest_does(source: str) -> None:
    payload = sample_payload(source)

    answered = deliver(sample_of(source).event).status

    # A sender that notifies (Meta, Acuity) is answered 200 (service.py), the others 202; Salesforce's SOAP Ack 200.
    assert explained_status(source, payload.body, payload.content_type) in (
        {answered, 202} if answered < 300 else {answered}
    )
