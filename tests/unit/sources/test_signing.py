"""The sample events are signed exactly as heymarket_bridge_tools.signing signs, and re-signing makes them current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heymarket_bridge.sources import SOURCE_NAMES
from heymarket_bridge_tools.signing import credential_name, main, resign_event, sign, with_token
from tests.support import EVENTS, demo_webhook_secrets, load_event
from tests.unit.sources.harness import SIGNED_AT, deliver, seconds

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
