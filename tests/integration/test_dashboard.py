"""The dashboard and alarms show only metrics the code really emits, with the dimensions it emits them with."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import urllib3

from heymarket_bridge.observability import FETCH_METRICS, METRICS
from heymarket_local.template import load_template_document
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.integration.bridge import Bridge, running_bridge
from tests.support import load_event

NAMESPACE = "HeymarketBridge"
SEARCH = re.compile(r"SEARCH\('\{(?P<schema>[^}]*)\}[^']*MetricName=\"(?P<name>\w+)\"")

MetricKey = tuple[str, frozenset[str]]


def dashboard_metrics() -> set[MetricKey]:
    """(metric name, dimension names) of every HeymarketBridge metric on the dashboard."""
    body_template, _variables = load_template_document()["Resources"]["Dashboard"]["Properties"]["DashboardBody"][
        "Fn::Sub"
    ]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "X", body_template.replace("${Namespace}", NAMESPACE)))
    shown: set[MetricKey] = set()
    for widget in body["widgets"]:
        for line in widget["properties"].get("metrics", []):  # a log widget queries the logs instead
            if isinstance(line[0], dict):
                match = SEARCH.search(line[0]["expression"])
                assert match, line
                namespace, *dimensions = match["schema"].split(",")
                if namespace == NAMESPACE:
                    shown.add((match["name"], frozenset(dimensions)))
            elif line[0] == NAMESPACE:
                fields = [item for item in line if isinstance(item, str)]
                shown.add((fields[1], frozenset(fields[2::2])))
    return shown


def alarm_metrics() -> set[MetricKey]:
    alarms: set[MetricKey] = set()
    for resource in load_template_document()["Resources"].values():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::CloudWatch::Alarm" and properties.get("Namespace") == NAMESPACE:
            alarms.add((properties["MetricName"], frozenset(d["Name"] for d in properties["Dimensions"])))
    return alarms


def emitted_metrics(output: str) -> set[MetricKey]:
    """(metric name, dimension names) of every EMF record the handlers printed."""
    emitted: set[MetricKey] = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record: dict[str, Any] = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for dimensions in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    emitted.add((metric["Name"], frozenset(dimensions)))
    return emitted


@pytest.fixture
def bridge(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridge]:
    with (
        HeymarketSandbox(SandboxConfig(seed=5)) as sandbox,
        running_bridge(monkeypatch, sandbox, {"MaxReceiveCount": 1}, {"SYNC_DEADLINE_RESERVE": "0.5"}) as bridge,
    ):
        yield bridge


def exercise_every_path(bridge: Bridge) -> None:
    """Accepted and refused webhooks, deliveries, throttles, refusals, updates, dead letters, auth failures."""
    bridge.post(load_event("generic/mixed_contacts"))
    wrong_token = load_event("generic/single_contact")
    wrong_token["headers"]["authorization"] = "Bearer wrong"
    bridge.post(wrong_token)
    bridge.sandbox.configure(throttle_burst=1)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    # Answers that deviate from the reference while meaning one thing only (read, and counted by kind).
    bridge.sandbox.configure(duplicate_create="fail", contact_error_rate=0.0, answer_deviations=["phone_with_plus"])
    again = load_event("generic/mixed_contacts")
    again["body"] = again["body"].replace("Spring open day", "Summer open day")
    bridge.post(again)  # the same phones again: updates of existing contacts
    bridge.post(again)  # and a sender's retry of that delivery
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.configure(contact_error_rate=1.0, answer_deviations=[])
    bridge.post(load_event("generic/single_contact"))
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.configure(contact_error_rate=0.0, update_omitted="clear")
    update = load_event("generic/single_contact")
    update["body"] = '{"phone": "(510) 555-1234", "last": "Smythe"}'  # Alice, known: the probe clears her email
    bridge.post(update)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.configure(update_omitted="keep", duplicate_create="duplicate")
    for _ in range(2):  # a phone held twice, made in Heymarket's app
        urllib3.request(
            "POST",
            f"{bridge.sandbox.url}/v1/contact",
            json={"phone": "14155550122", "first": "Twin"},
            headers={"Authorization": f"Bearer {bridge.sandbox.config.api_key}"},
        )
    twin = load_event("generic/single_contact")
    twin["body"] = '{"phone": "+1 415 555 0122", "last": "Found"}'
    bridge.post(twin)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.text("15105551234", "STOP")  # Alice texts STOP; a source then says she is opted in
    opt_in = load_event("generic/single_contact")
    opt_in["body"] = '{"phone": "(510) 555-1234", "is_opted_out": false}'
    bridge.post(opt_in)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    # The consent record unreachable (its table gone): an opt-out is delivered, its record counted as failed.
    boto3.client("dynamodb").delete_table(TableName=bridge.resources.tables["ConsentRecordTable"])
    opt_out = load_event("generic/single_contact")
    opt_out["body"] = '{"phone": "+1 415 555 0133", "first": "Stopped", "is_opted_out": true}'
    bridge.post(opt_out)
    bridge.sync(bridge.receive_event(), timeout_s=10)
    bridge.sandbox.rotate_credentials("revoked-secret-id", "revoked-secret-key-nobody-has-anymore")
    later = load_event("generic/single_contact")
    later["body"] = '{"phone": "+1 415 555 0111", "first": "Late"}'
    bridge.post(later)
    bridge.sync(bridge.receive_event(), timeout_s=2)


def test_every_metric_on_the_dashboard_and_in_the_alarms_is_emitted_by_the_code(
    bridge: Bridge, capsys: pytest.CaptureFixture[str]
) -> None:
    exercise_every_path(bridge)
    emitted = emitted_metrics(capsys.readouterr().out)

    shown = dashboard_metrics() | alarm_metrics()

    # Exactly the metric series the code may write (heymarket_bridge.observability.METRICS, and FETCH_METRICS of the
    # fetch function), each by `service` only. The fetch function's are not on this path: their emission is checked by
    # tests/unit/ingest/sources/test_meta.py and test_acuity.py (a refused token, a quota reached).
    fetch_series = {(name, frozenset({"service"})) for name in FETCH_METRICS}
    assert shown == {(name, frozenset({"service"})) for name in METRICS} | fetch_series
    assert emitted <= shown, f"emitted but shown nowhere: {sorted(emitted - shown)}"
    missing = {f"{name} by {sorted(dimensions)}" for name, dimensions in shown - fetch_series - emitted}
    assert not missing, f"shown but never emitted with these dimensions: {sorted(missing)}"


def test_the_dashboard_body_is_valid_json_once_substituted() -> None:
    assert len(dashboard_metrics()) >= len(METRICS)
