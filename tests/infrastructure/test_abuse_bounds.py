"""template.yaml's abuse bounds (issue 26, point 2; docs/operations/abuse.md): a route and a throttle per source,
the ingest limits' settings, reserved ingest concurrency by default, and request-unit maxima on every table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge.ingest.limits import IntakeLimits
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from heymarket_bridge.settings import IngestSettings
from heymarket_local.template import LocalResources, StackTemplate

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template() -> StackTemplate:
    return StackTemplate.load()


def ingest(template: StackTemplate) -> dict[str, Any]:
    properties: dict[str, Any] = template.document["Resources"]["IngestFunction"]["Properties"]
    return properties


def test_every_source_has_a_route_of_its_own_with_its_own_throttle(template: StackTemplate) -> None:
    paths = {event["Properties"]["Path"] for event in ingest(template)["Events"].values()}
    settings = template.document["Resources"]["WebhookApi"]["Properties"]["RouteSettings"]

    assert {f"/webhooks/{name}" for name in SOURCE_NAMES} <= paths
    assert "/webhooks/{source}" in paths  # a name that is no source's is still answered (404), by the function
    for name in SOURCE_NAMES:
        assert settings[f"POST /webhooks/{name}"] == {
            "ThrottlingRateLimit": {"Ref": "WebhookRouteRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "WebhookRouteBurstLimit"},
        }
    assert set(settings) == {f"POST /webhooks/{name}" for name in SOURCE_NAMES} | {"POST /webhooks/{source}"}
    assert settings["POST /webhooks/{source}"]["ThrottlingRateLimit"] < int(
        template.parameters["WebhookRouteRateLimit"]
    )


# Seconds an ingest execution is busy with one request on AWS, at the most (docs/operations/abuse.md).
SECONDS_PER_REQUEST = 0.1


def route_rates(template: StackTemplate) -> dict[str, int]:
    """Each route of the ingest function ("POST /webhooks/generic") with the requests/s API Gateway lets through at
    the parameters' defaults: its RouteSettings throttle, else the API's default."""
    api = template.document["Resources"]["WebhookApi"]["Properties"]
    settings, default = api["RouteSettings"], api["DefaultRouteSettings"]["ThrottlingRateLimit"]
    rates: dict[str, int] = {}
    for event in ingest(template)["Events"].values():
        key = f"{event['Properties']['Method']} {event['Properties']['Path']}"
        rate = settings.get(key, {}).get("ThrottlingRateLimit", default)
        rates[key] = int(template.parameters[rate["Ref"]]) if isinstance(rate, dict) else int(rate)
    return rates


def test_the_ingest_function_is_reserved_enough_executions_by_default_for_every_route_at_its_throttle(
    template: StackTemplate,
) -> None:
    rates = route_rates(template)
    evaluated = template.evaluate({"Value": ingest(template)["ReservedConcurrentExecutions"]})

    assert int(evaluated["Value"]) >= sum(rates.values()) * SECONDS_PER_REQUEST
    assert evaluated.get("Value") == "50"


def test_the_abuse_page_states_the_worst_case_figures_the_template_gives() -> None:
    template = StackTemplate.load()
    rates = route_rates(template)
    sources = [key for key in rates if key.startswith("POST /webhooks/") and key != "POST /webhooks/{source}"]
    page = " ".join((ROOT / "docs" / "operations" / "abuse.md").read_text().split())
    webhooks = sum(rates[key] for key in sources)

    assert f"{len(sources)} source routes at {rates[sources[0]]} requests/s" in page
    assert f"{webhooks} webhooks/s" in page
    assert f"{sum(rates.values())} requests/s" in page
    assert f"{round(sum(rates.values()) * SECONDS_PER_REQUEST)} executions" in page


@pytest.mark.parametrize("table", ["IdempotencyTable", "ManagedListsTable", "ContactStateTable", "ConsentRecordTable"])
def test_every_on_demand_table_has_request_unit_maxima(template: StackTemplate, table: str) -> None:
    properties = template.document["Resources"][table]["Properties"]

    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    maxima = properties["OnDemandThroughput"]
    assert set(maxima) == {"MaxReadRequestUnits", "MaxWriteRequestUnits"}
    assert all(isinstance(value, int) and value >= 1 for value in maxima.values())


def test_the_ingest_settings_read_the_limits_the_template_sets(template: StackTemplate) -> None:
    tables = {
        name: name for name in ("IdempotencyTable", "ManagedListsTable", "ContactStateTable", "ConsentRecordTable")
    }
    resources = LocalResources(
        "https://queue",
        "arn:queue",
        "https://dlq",
        "arn:dlq",
        5,
        "arn:webhook",
        "arn:heymarket",
        tables,
        {"SourceMappingsParameter": "mappings"},
        {"LeadFetchQueue": "https://lead-fetch-queue"},
    )
    environment = template.function_environment("IngestFunction", resources)

    settings = IngestSettings.from_env(environment)

    assert settings.contacts_per_minute == (30_000, {})
    assert settings.ingest_executions == 50  # the counters' local shares are bounded by the reserved executions
    assert settings.load_shed_margin == 0.5
    assert (settings.heymarket_rate_per_minute, settings.heymarket_max_batch) == (500, 100)
    queue = template.document["Resources"]["ContactQueue"]["Properties"]
    assert settings.queue_retention_s == queue["MessageRetentionPeriod"]


def test_the_ingest_function_may_read_the_contact_queues_attributes_and_nothing_more(template: StackTemplate) -> None:
    statements = [
        statement
        for policy in ingest(template)["Policies"]
        if isinstance(policy, dict) and "Statement" in policy
        for statement in policy["Statement"]
        if "sqs:GetQueueAttributes" in statement["Action"]
    ]

    assert statements == [
        {"Effect": "Allow", "Action": "sqs:GetQueueAttributes", "Resource": {"Fn::GetAtt": ["ContactQueue", "Arn"]}}
    ]


def test_the_abuse_page_states_the_counters_share_the_template_defaults_give(template: StackTemplate) -> None:
    parameters = template.document["Parameters"]
    limit = int(parameters["SourceContactsPerMinute"]["Default"])
    executions = int(parameters["IngestReservedConcurrency"]["Default"])
    share = IntakeLimits(limit, executions=executions).share(limit)
    page = " ".join((ROOT / "docs" / "operations" / "abuse.md").read_text().split())

    assert f"({limit:,} a minute, E = {executions}) the share is {share}" in page
    assert f"writes one per {share + 1} contacts" in page
