"""Abuse is bounded (issue 26, point 2), through both handlers, moto and the sandbox: a flood on one source's token
is answered 429 with Retry-After while another source's deliveries are answered 202 and delivered; a scoped public
token can neither create a list, add to a list it does not name, nor opt anyone in; a queue deeper than the sync side
can drain sheds new deliveries."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge_tools.signing import resign_event
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.integration.test_heymarket_behaviours import drain
from tests.support import demo_webhook_secrets, load_event

PUBLIC_TOKEN = "public-form-token-0123456789"
NEWSLETTER = "Spring Newsletter"


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    config = SandboxConfig(seed=26)
    # generic: 40 contacts a minute for the whole source, 10 for its public token; the others the default.
    parameters: dict[str, str | int] = {"SourceContactsPerMinute": "30000,generic=40"}
    with HeymarketSandbox(config) as sandbox, running_bridge(monkeypatch, sandbox, parameters) as bridge:
        secrets = demo_webhook_secrets()
        public = {"token": PUBLIC_TOKEN, "scopes": {"contacts_per_minute": 10, "lists": [NEWSLETTER]}}
        entries: dict[str, Any] = {**secrets, "generic": [secrets["generic"], public]}
        bridge.secretsmanager.put_secret_value(
            SecretId=bridge.resources.webhook_secrets_arn, SecretString=json.dumps(entries)
        )
        yield bridge


def generic(contacts: list[dict[str, Any]], token: str | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_event("generic/single_contact"))
    event["body"], event["isBase64Encoded"] = json.dumps({"contacts": contacts}), False
    if token is not None:
        event["headers"]["authorization"] = f"Bearer {token}"
    return event


def typeform_on_its_own_route() -> dict[str, Any]:
    """Typeform's sample as API Gateway sends it on typeform's own route (template.yaml): no {source} parameter."""
    event = resign_event(load_event("typeform/form_response"), demo_webhook_secrets()["typeform"], datetime.now(UTC))
    event.pop("pathParameters")
    event["routeKey"] = event["requestContext"]["routeKey"] = "POST /webhooks/typeform"
    return event


def phones(start: int, count: int) -> list[dict[str, Any]]:
    return [{"phone": f"+1510555{number:04d}", "first": "Flood"} for number in range(start, start + count)]


def test_a_flood_on_one_sources_token_leaves_another_sources_deliveries_answered_and_delivered(bridge: Bridge) -> None:
    # Given a flood on generic: 10 requests of 10 contacts within the minute, its limit 40
    answers = [bridge.ingest(generic(phones(1000 + 10 * n, 10))) for n in range(10)]

    # Then the first 40 contacts are taken, the rest refused with 429 and Retry-After, naming the limit
    assert [answer["statusCode"] for answer in answers] == [202] * 4 + [429] * 6
    refused = json.loads(answers[-1]["body"])
    assert refused["error"]["code"] == "too_many_requests"
    assert refused["limit"] == "the contacts per minute of source 'generic'"
    assert 1 <= int(answers[-1]["headers"]["Retry-After"]) <= 60

    # And typeform, on its own route, is answered 202 and delivered meanwhile
    status, body = bridge.post(typeform_on_its_own_route())
    assert (status, body["accepted"]) == (202, 1)
    drain(bridge)
    held = {contact["phone"] for contact in bridge.sandbox.contacts()}
    assert "15105550123" in held
    assert len(held) == 41  # the 40 taken, and typeform's: nothing accepted is lost, nothing refused is sent
    assert bridge.dead_letters() == []


def test_a_scoped_public_token_cannot_create_a_list_add_to_an_unnamed_one_or_opt_anyone_in(bridge: Bridge) -> None:
    # Given a list the operator did not name in the token's scopes, an opt-out of the person, and a list id
    contacts = [
        {"phone": "+15105550601", "first": "Pat", "is_opted_out": False, "lists": ["Junk list", 17, NEWSLETTER]},
        {"phone": "+15105550602", "first": "Sam", "is_opted_out": True},
    ]

    status, body = bridge.post(generic(contacts, PUBLIC_TOKEN))

    # Then both are taken, the first without its opt-in and with only the named list, and the answer says so
    assert (status, body["accepted"]) == (202, 2)
    [withheld] = body["rejected"]
    assert (withheld["index"], withheld["accepted"], withheld["dropped"]) == (0, True, ["is_opted_out", "lists"])
    drain(bridge)
    held = {contact["phone"]: contact for contact in bridge.sandbox.contacts()}
    assert held["15105550601"].get("is_opted_out") is not True  # never opted in: stored as Heymarket defaults it
    assert held["15105550602"]["is_opted_out"] is True  # a STOP from anyone is kept
    assert [item["title"] for item in bridge.sandbox.lists()] == [NEWSLETTER]
    [newsletter] = bridge.sandbox.lists()
    assert newsletter["phones"] == ["15105550601"]
    assert bridge.dead_letters() == []


def test_a_scoped_public_tokens_cap_does_not_hold_the_sources_other_token(bridge: Bridge) -> None:
    assert bridge.ingest(generic(phones(2000, 10), PUBLIC_TOKEN))["statusCode"] == 202
    over = bridge.ingest(generic(phones(2010, 1), PUBLIC_TOKEN))

    assert over["statusCode"] == 429
    assert json.loads(over["body"])["limit"] == "this token's contacts_per_minute"
    assert bridge.ingest(generic(phones(2020, 10)))["statusCode"] == 202


def test_a_queue_deeper_than_the_sync_side_can_drain_sheds_new_deliveries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack whose sync side drains 1 request of 1 contact a minute, for 4 days x margin 0.001: at most 5
    parameters: dict[str, str | int] = {
        "HeymarketRateLimitPerMinute": 1,
        "HeymarketMaxBatch": 1,
        "LoadShedMargin": "0.001",
    }
    extra = {"QUEUE_DEPTH_MAX_AGE_SECONDS": "1"}
    with HeymarketSandbox() as sandbox, running_bridge(monkeypatch, sandbox, parameters, extra) as bridge:
        assert bridge.ingest(generic(phones(3000, 5)))["statusCode"] == 202
        bridge.restart_ingest()  # a new execution environment: no depth cached
        assert bridge.ingest(generic(phones(3005, 1)))["statusCode"] == 202  # 5 held: not more than the 5

        bridge.restart_ingest()
        answer = bridge.ingest(generic(phones(3006, 1)))

        assert answer["statusCode"] == 429
        assert json.loads(answer["body"])["limit"] == "queue_depth"
        assert answer["headers"]["Retry-After"] == "300"
