"""`heymarket-bridge send`: the request it makes is one the bridge's own ingest accepts, for the stack it targets."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from heymarket_bridge_tools.errors import CliError
from heymarket_bridge_tools.samples import authenticate, file_payload, org_id_of, sample_payload
from tests.support import EVENTS
from tests.unit.ingest.sources.harness import deliver

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SECRETS = {"hubspot": "hubspot-secret", "salesforce": "salesforce-token", "salesforce_org_id": "00D000000000001AAA"}


def as_event(url: str, body: bytes, headers: dict[str, str], source: str) -> dict[str, Any]:
    """The API Gateway event of a request to `url` (the path API Gateway serves: no custom-domain mapping)."""
    parts = urlsplit(url)
    path = f"/webhooks/{source}"
    return {
        "version": "2.0",
        "routeKey": "POST /webhooks/{source}",
        "rawPath": path,
        "rawQueryString": parts.query,
        "headers": {**{k.lower(): v for k, v in headers.items()}, "host": parts.netloc},
        "queryStringParameters": dict(pair.split("=", 1) for pair in parts.query.split("&")) if parts.query else None,
        "requestContext": {
            "domainName": parts.netloc,
            "http": {"method": "POST", "path": path},
            "requestId": "req-send",
            "timeEpoch": int(NOW.timestamp() * 1000),
        },
        "pathParameters": {"source": source},
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def test_hubspot_is_signed_over_the_stack_s_public_base_url() -> None:
    # Given a stack behind a custom domain (PublicBaseUrl), reached at its own URL
    public = "https://hooks.example.com/bridge"
    payload = sample_payload("hubspot")

    url, body, headers, _ = authenticate(
        "hubspot",
        "http://127.0.0.1:3000/webhooks/hubspot",
        payload.body,
        SECRETS["hubspot"],
        now=NOW,
        public_base_url=public,
    )
    headers["Content-Type"] = payload.content_type

    assert deliver(
        as_event(url, body, headers, "hubspot"), now=NOW, secrets=SECRETS, public_base_url=public
    ).status == (202)


def test_hubspot_without_a_public_base_url_is_signed_over_the_url_posted_to() -> None:
    payload = sample_payload("hubspot")

    url, body, headers, _ = authenticate(
        "hubspot", "http://127.0.0.1:3000/webhooks/hubspot", payload.body, SECRETS["hubspot"], now=NOW
    )
    headers["Content-Type"] = payload.content_type

    assert deliver(as_event(url, body, headers, "hubspot"), now=NOW, secrets=SECRETS).status == 202


def test_a_salesforce_file_naming_another_org_is_sent_naming_the_stack_s_and_says_so(tmp_path: Path) -> None:
    # Given `samples salesforce`, edited, that names another organization
    sample = sample_payload("salesforce").body
    edited = sample.replace(org_id_of(sample).encode(), b"00D999999999999ZZZ")  # type: ignore[union-attr]
    payload = file_payload("salesforce", edited, "sf.xml", None)

    url, body, headers, note = authenticate(
        "salesforce",
        "http://127.0.0.1:3000/webhooks/salesforce",
        payload.body,
        SECRETS["salesforce"],
        now=NOW,
        org_id=SECRETS["salesforce_org_id"],
    )
    headers["Content-Type"] = payload.content_type

    assert note == "the message named organization 00D999999999999ZZZ: sent naming this stack's, 00D000000000001AAA"
    assert deliver(as_event(url, body, headers, "salesforce"), now=NOW, secrets=SECRETS).status == 200


def test_a_delete_event_is_not_posted_as_a_webhook() -> None:
    data = (EVENTS / "generic" / "delete_contacts.json").read_bytes()

    with pytest.raises(CliError, match="POST /contacts/delete, not of a webhook") as refused:
        file_payload("generic", data, "events/generic/delete_contacts.json", None)
    assert refused.value.exit_code == 2
    assert "DeleteContactsUrl" in refused.value.message


def test_a_webhook_event_is_unwrapped_to_its_body() -> None:
    event = json.loads((EVENTS / "generic" / "single_contact.json").read_text())

    payload = file_payload("generic", json.dumps(event).encode(), "single_contact.json", None)

    assert payload.body == event["body"].encode()


def test_send_signs_for_the_public_base_url_of_the_stack_it_targets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a stack (local or deployed: both are a Target) whose parameters set PublicBaseUrl
    from heymarket_bridge_tools import cli
    from heymarket_bridge_tools.commands import send as sendcli
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target

    public = "https://hooks.example.com/bridge"
    target = Target(
        "stack hb (us-east-1)",
        StackQueues("q", "d"),
        lambda service: None,
        "https://abc.execute-api.us-east-1.amazonaws.com",
        stack_name="hb",
        parameters={"PublicBaseUrl": public},
        local_secrets=SECRETS,
    )
    posted: list[tuple[str, bytes, dict[str, str]]] = []
    monkeypatch.setattr(sendcli, "resolve", lambda **where: target)
    monkeypatch.setattr(
        sendcli, "_post", lambda url, body, headers: posted.append((url, body, headers)) or (202, "", b"{}")
    )

    assert cli.main(["send", "hubspot", "--stack-name", "hb"]) == 0

    ((url, body, headers),) = posted
    # the time the bridge checks the signature at is the time it was made
    now = datetime.fromtimestamp(int(headers["X-HubSpot-Request-Timestamp"]) / 1000, UTC)
    assert deliver(
        as_event(url, body, headers, "hubspot"), now=now, secrets=SECRETS, public_base_url=public
    ).status == (202)
