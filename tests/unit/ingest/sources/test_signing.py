"""The sample events are signed exactly as heymarket_bridge_tools.signing signs, and re-signing makes them current;
each sender's scheme (its source's `sign`, `token_in`) passes its source's own check, for every source."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from heymarket_bridge.ingest.failures import Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES, default_sources
from heymarket_bridge.ingest.sources.common import ReadContext, SourceCredentials
from heymarket_bridge_tools.signing import (
    credential_name,
    event_body,
    event_url,
    fresh_times,
    main,
    resign_event,
    sender,
    sign,
    with_token,
)
from heymarket_bridge_tools.signing import demo_webhook_secrets as demo_webhook_secrets_of
from tests.support import EVENTS, demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import SIGNED_AT, deliver, seconds

SOURCE_EVENTS = sorted(
    f"{path.parent.name}/{path.stem}" for path in EVENTS.glob("*/*.json") if path.parent.name not in ("sync",)
)


def test_every_source_has_a_sample_event() -> None:
    assert {name.split("/")[0] for name in SOURCE_EVENTS} == SOURCE_NAMES <= set(demo_webhook_secrets())


@pytest.mark.parametrize("name", SOURCE_EVENTS)
def test_each_sample_event_carries_the_signature_made_at_its_time(name: str) -> None:
    event = load_event(name)

    fresh = resign_event(event, demo_webhook_secrets()[credential_name(event)], SIGNED_AT)

    assert fresh["headers"] == event["headers"]


@pytest.mark.parametrize("name", SOURCE_EVENTS)
def test_a_sample_event_resigned_later_is_accepted_then(name: str) -> None:
    later = SIGNED_AT + seconds(86_400)
    event = resign_event(load_event(name), demo_webhook_secrets()[credential_name(load_event(name))], later)

    assert deliver(event, now=later).status in (200, 202)


def test_an_unknown_source_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="unknown source"):
        sign("nope", b"{}", "s", now=SIGNED_AT)


def test_a_token_is_added_to_a_url_with_or_without_a_query() -> None:
    assert with_token("https://h/webhooks/jotform", "a b") == "https://h/webhooks/jotform?token=a%20b"
    assert with_token("https://h/w?x=1", "t") == "https://h/w?x=1&token=t"


def test_the_command_rewrites_an_event_signed_for_the_given_time(tmp_path: Path) -> None:
    path = tmp_path / "contact.json"
    path.write_text(json.dumps(load_event("hubspot/workflow_contact")))
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps(demo_webhook_secrets()))

    main([str(path), "--secrets", str(secrets), "--now", "1795510800", "--write"])

    rewritten = json.loads(path.read_text())
    assert rewritten["headers"]["x-hubspot-request-timestamp"] == "1795510800000"
    assert deliver(rewritten, now=SIGNED_AT + seconds(86_400)).status == 202


def test_a_shopify_body_resigned_later_carries_its_times_moved_by_as_long_every_other_byte_kept() -> None:
    event = load_event("shopify/customers_create")

    fresh = resign_event(event, demo_webhook_secrets()["shopify"], SIGNED_AT + seconds(86_400))

    assert '"created_at":"2026-11-24T03:59:51-05:00","updated_at":"2026-11-24T03:59:52-05:00"' in fresh["body"]
    assert fresh["body"].replace("-24T03:59:5", "-23T03:59:5") == event["body"]


def test_a_typeform_body_resigned_later_carries_its_times_moved_in_their_own_format() -> None:
    event = load_event("typeform/form_response")

    fresh = resign_event(event, demo_webhook_secrets()["typeform"], SIGNED_AT + seconds(3600))

    assert '"landed_at":"2026-11-23T09:57:41Z","submitted_at":"2026-11-23T09:59:58Z"' in fresh["body"]


def test_fresh_times_make_the_latest_delivery_time_now_and_keep_their_distance() -> None:
    body = b'{"created_at": "2019-01-01T00:00:00.000Z", "updated_at": "2024-05-01T12:00:00.250Z", "note": "x"}'

    fresh = fresh_times("shopify", body, datetime(2026, 11, 30, 12, 0, tzinfo=UTC))

    assert fresh == b'{"created_at": "2021-07-31T23:59:59.750Z", "updated_at": "2026-11-30T12:00:00.000Z", "note": "x"}'


def test_fresh_times_leave_a_body_of_a_source_without_body_times_alone() -> None:
    body = b'{"created_at": "2019-01-01T00:00:00Z"}'

    assert fresh_times("calendly", body, SIGNED_AT) == body


def as_its_sender_sends(name: str, secret: str, version: str) -> dict[str, Any]:
    """The source's sample event stripped of its authentication, then authenticated afresh as its sender does."""
    event = load_event(f"{name}/{sample_of(name)}")
    event["headers"] = {k: v for k, v in event["headers"].items() if k in ("content-type", "host", "user-agent")}
    event["rawQueryString"], event["queryStringParameters"] = "", None
    url = event_url(event)
    signed = sign(name, event_body(event), secret, url=url, now=SIGNED_AT, version=version)
    event["headers"].update({k.lower(): v for k, v in signed.items()})
    if sender(name).token_in == "query":
        event["rawQueryString"], event["queryStringParameters"] = (
            urlsplit(with_token(url, secret)).query,
            {"token": secret},
        )
    return event


def sample_of(name: str) -> str:
    """The stem of the source's sample event (test_source_files.py checks that there is one)."""
    events = sorted(path.stem for path in (EVENTS / name).glob("*.json"))
    assert events, f"events/{name}/ holds no sample event"
    return sender(name).sample_event or events[0]


SCHEMES = [(name, version) for name in sorted(SOURCE_NAMES) for version in sender(name).signature_versions]


@pytest.mark.parametrize(("name", "version"), SCHEMES)
def test_a_request_signed_as_its_sender_signs_passes_its_source_s_check_and_fails_with_another_secret(
    name: str, version: str
) -> None:
    # Given the source's sample, authenticated by signing.sign as the sender does (each version of its scheme)
    request = WebhookRequest.from_http_api_event(as_its_sender_sends(name, "the-secret", version))

    def checked_with(secret: str) -> None:
        entries = {**demo_webhook_secrets(), name: secret}
        default_sources([name])[name].authenticate(
            request, ReadContext(now=SIGNED_AT, credentials=SourceCredentials(secret, entries))
        )

    # Then the source's own check accepts it with that secret, and refuses it with another
    checked_with("the-secret")
    with pytest.raises(Unauthorized):
        checked_with("another-secret")


def test_a_new_source_gets_a_deterministic_demo_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"generic": "mine"}))

    read = demo_webhook_secrets_of(secrets)

    assert read["generic"] == "mine"
    assert {name: read[name] for name in SOURCE_NAMES - {"generic"}} == {
        name: f"demo-{name}-secret" for name in SOURCE_NAMES - {"generic"}
    }
