"""SourceMappings reaches the ingest function through the SSM parameter the template creates (issue 15)."""

from __future__ import annotations

import json

import pytest

from heymarket_bridge.settings import ConfigError
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import running_bridge
from tests.support import load_event


def test_a_mapping_set_as_the_template_parameter_maps_the_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a stack whose generic source reads the phone from data.mobile, stored as the template stores it
    mappings = json.dumps({"generic": {"phone": "data.mobile", "first": "data.name"}})
    event = load_event("generic/single_contact")
    event["body"], event["isBase64Encoded"] = json.dumps({"data": {"mobile": "+1 510 555 0199", "name": "Ada"}}), False

    with HeymarketSandbox() as sandbox, running_bridge(monkeypatch, sandbox, {"SourceMappings": mappings}) as bridge:
        # When a webhook in that shape arrives
        status, body = bridge.post(event)
        queued = bridge.queued_bodies()

    # Then its contact is mapped and queued
    assert (status, body["accepted"]) == (202, 1)
    assert [message["contact"] for message in queued] == [{"phone": "15105550199", "first": "Ada"}]


def test_an_invalid_mapping_stops_the_function_at_start_up_naming_the_parameter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parameters = {"SourceMappings": '{"generic": {"telephone": "x"}}'}

    with (
        HeymarketSandbox() as sandbox,
        running_bridge(monkeypatch, sandbox, parameters) as bridge,
        pytest.raises(ConfigError, match=r"SOURCE_MAPPINGS_PARAMETER.*telephone"),
    ):
        bridge.post(load_event("generic/single_contact"))
