"""The sample events are signed exactly as heymarket_bridge_tools.signing signs, and re-signing makes them current;
each sender's scheme (its source's `sign`, `token_in`) passes its source's own check, for every source. The signing
tool's own behaviour: tests/tools/test_signing.py."""

from __future__ import annotations

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
    resign_event,
    sender,
    sign,
    with_token,
)
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
