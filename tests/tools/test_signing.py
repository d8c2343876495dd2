"""The signing tool (heymarket_bridge_tools.signing): what it refuses to sign, the token in a URL, the command that
re-signs an event file, the body times it moves, the demo secrets it fills. That each sample event and each sender's
scheme passes its source's check: tests/unit/ingest/sources/test_signing.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from heymarket_bridge_tools.signing import demo_webhook_secrets as demo_webhook_secrets_of
from heymarket_bridge_tools.signing import fresh_times, main, resign_event, sign, with_token
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import SIGNED_AT, deliver, seconds


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


def test_a_new_source_gets_a_deterministic_demo_secret(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.json"
    secrets.write_text(json.dumps({"generic": "mine"}))

    read = demo_webhook_secrets_of(secrets)

    assert read["generic"] == "mine"
    assert {name: read[name] for name in SOURCE_NAMES - {"generic"}} == {
        name: f"demo-{name}-secret" for name in SOURCE_NAMES - {"generic"}
    }
