"""The guided deploy a user completes by pressing Enter (issue 24, point 2), and the stack's fixed cost (point 6):
parameters described, grouped and ordered for a first deploy; samconfig.toml's common case read by `sam deploy` itself;
at most 12 custom metric series for a stack with two sources; the dashboard optional; a monthly cost budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from benchmarks.cost import MAX_SERIES, Footprint, access_log_bytes, measure, platform_bytes_per_invocation
from click.testing import CliRunner

from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.observability import METRICS
from heymarket_bridge.settings import parse_source_mappings
from heymarket_local.template import NO_VALUE, TEMPLATE_PATH, StackTemplate, load_template_document

REPO_ROOT = TEMPLATE_PATH.parent
# What a first deploy needs, first: `sam deploy --guided` asks the parameters in the template's order.
FIRST_DEPLOY = [
    "HeymarketSecretArn",
    "WebhookSecretsArn",
    "DefaultCountry",
    "SourceMappings",
    "AlarmEmail",
    "MonthlyBudgetUsd",
    "CreateDashboard",
    # Its default (50) needs an account concurrency limit of 150: a question to read, not to pass (review of issue 24).
    "IngestReservedConcurrency",
]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_template_document()


def test_every_parameter_has_a_description_a_default_and_exactly_one_group(document: dict[str, Any]) -> None:
    parameters = document["Parameters"]
    groups = document["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]

    assert sorted(grouped) == sorted(parameters), "each parameter in exactly one group"
    assert len(grouped) == len(set(grouped))
    assert all(group["Label"]["default"] for group in groups)
    undescribed = [name for name, p in parameters.items() if len(str(p.get("Description", "")).strip()) < 20]
    assert undescribed == []
    # Enter keeps the default: a parameter without one would stop a first deploy at its prompt.
    assert [name for name, p in parameters.items() if "Default" not in p] == []


def test_the_parameters_a_first_deploy_needs_come_first_in_the_prompts_and_the_console(
    document: dict[str, Any],
) -> None:
    first_group = document["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"][0]

    assert list(document["Parameters"])[: len(FIRST_DEPLOY)] == FIRST_DEPLOY
    assert first_group["Parameters"] == FIRST_DEPLOY
    labels = document["Metadata"]["AWS::CloudFormation::Interface"]["ParameterLabels"]
    assert set(FIRST_DEPLOY) <= set(labels)


def test_the_deploy_page_names_each_first_deploy_prompt_in_the_order_asked_with_the_concurrency_answer(
    document: dict[str, Any],
) -> None:
    deploy_page = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    rows = [line for line in deploy_page.splitlines() if line.startswith("| `Parameter ")]
    asked = [row.split("`Parameter ", 1)[1].split(" ", 1)[0] for row in rows]
    assert asked == FIRST_DEPLOY
    [concurrency] = [row for row in rows if row.startswith("| `Parameter IngestReservedConcurrency ")]
    default = document["Parameters"]["IngestReservedConcurrency"]["Default"]
    assert concurrency.startswith(f"| `Parameter IngestReservedConcurrency [{default}]` | ")
    # Lambda keeps 100 executions unreserved: the default fits an account limit of default + 100.
    assert f"limit is {int(default) + 100} or more" in concurrency
    assert "`aws lambda get-account-settings --query AccountLimit.ConcurrentExecutions`" in concurrency
    assert "type 0" in concurrency


def deploy_arguments(env: str) -> dict[str, str]:
    """The parameter overrides `sam deploy --config-env ENV` reads from samconfig.toml, through sam's own command
    (its configuration reader and parameter parser), stopped before it does anything."""
    import samcli.commands.deploy.command as deploy

    with mock.patch.object(deploy, "do_cli") as do_cli:
        result = CliRunner().invoke(
            deploy.cli,
            [
                "--config-file",
                str(REPO_ROOT / "samconfig.toml"),
                "--config-env",
                env,
                "--template-file",
                "template.yaml",
            ],
            catch_exceptions=False,
        )
    assert result.exit_code == 0, result.output
    [overrides] = [arg for arg in do_cli.call_args.args if isinstance(arg, dict) and "DefaultCountry" in arg]
    return dict(overrides)


def test_the_clinic_samconfig_reaches_sam_deploy_with_its_mappings_unchanged() -> None:
    overrides = deploy_arguments("clinic")

    assert overrides["AlarmEmail"] == "ops@example.org"
    mappings = json.loads(overrides["SourceMappings"])
    assert mappings == {
        "hubspot": {"phone": ["mobilephone", "phone"]},
        "typeform": {"phone": "mobile", "email": "email"},
    }
    # And the bridge reads it as the ingest function will at start-up.
    parsed = parse_source_mappings(overrides["SourceMappings"], "samconfig.toml", frozenset(default_sources()))
    assert set(parsed) == {"hubspot", "typeform"}
    document = load_template_document()
    assert set(overrides) <= set(document["Parameters"])


# The SAM CLI's template reading (samtranslator, jsonschema) warns of its own deprecated calls: not the code under test.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_guided_deploy_asks_no_authentication_question_because_each_public_route_says_so(
    document: dict[str, Any],
) -> None:
    # The SAM CLI asks "<function> has no authentication. Is this okay? [y/N]" for each HttpApi event without `Auth`
    # (Enter answers N and stops the deploy). Each webhook and delete route declares itself public (`Authorizer:
    # NONE`: the function authenticates every request), over an API closed by default (AWS IAM), so a route added
    # later without a thought is not public, and the SAM CLI's own check finds nothing to ask.
    from samcli.commands.deploy.auth_utils import auth_per_resource
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    api_auth = document["Resources"]["WebhookApi"]["Properties"]["Auth"]
    assert api_auth == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    events = document["Resources"]["IngestFunction"]["Properties"]["Events"]
    routes = {name: event for name, event in events.items() if event["Type"] == "HttpApi"}
    assert len(routes) >= 17
    assert all(event["Properties"]["Auth"] == {"Authorizer": "NONE"} for event in routes.values())
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(REPO_ROOT / "template.yaml"),
        global_parameter_overrides={"AWS::Region": "us-east-1"},
        language_extensions_enabled=True,
    )
    asked = [resource for resource, authenticated in auth_per_resource(stacks) if not authenticated]
    assert asked == []
    deploy_page = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert "has no authentication" in deploy_page  # the page says why it is not asked


def test_the_dashboard_is_created_only_when_asked_for(document: dict[str, Any]) -> None:
    assert document["Parameters"]["CreateDashboard"]["Default"] == "false"
    assert document["Resources"]["Dashboard"]["Condition"] == "HasDashboard"
    assert document["Outputs"]["DashboardUrl"]["Condition"] == "HasDashboard"
    assert document["Conditions"]["HasDashboard"] == {"Fn::Equals": [{"Ref": "CreateDashboard"}, "true"]}


def test_a_monthly_cost_budget_notifies_the_alarm_topic_which_budgets_may_publish_to(document: dict[str, Any]) -> None:
    resources = document["Resources"]
    budget = resources["MonthlyCostBudget"]["Properties"]
    policy = resources["AlarmTopicPolicy"]["Properties"]

    assert budget["Budget"]["TimeUnit"] == "MONTHLY"
    assert budget["Budget"]["BudgetLimit"] == {"Amount": {"Ref": "MonthlyBudgetUsd"}, "Unit": "USD"}
    subscribers = [s for n in budget["NotificationsWithSubscribers"] for s in n["Subscribers"]]
    assert subscribers
    assert all(s == {"SubscriptionType": "SNS", "Address": {"Ref": "AlarmTopic"}} for s in subscribers)
    assert {n["Notification"]["NotificationType"] for n in budget["NotificationsWithSubscribers"]} == {
        "ACTUAL",
        "FORECASTED",
    }
    principals = [s["Principal"] for s in policy["PolicyDocument"]["Statement"]]
    assert {"Service": "budgets.amazonaws.com"} in principals
    # The account's own principals (CloudWatch alarms publish as the account) keep the default policy's rights.
    assert {"AWS": "*"} in principals
    assert policy["Topics"] == [{"Ref": "AlarmTopic"}]


def test_per_source_detail_is_read_from_saved_log_queries_not_metric_dimensions(document: dict[str, Any]) -> None:
    queries = {
        resource["Properties"]["Name"]["Fn::Sub"]: resource["Properties"]["QueryString"]
        for resource in document["Resources"].values()
        if resource["Type"] == "AWS::Logs::QueryDefinition"
    }

    assert "by source, outcome" in queries["${AWS::StackName}/webhooks-by-source"]
    assert 'filter message = "Counted"' in queries["${AWS::StackName}/counts"]
    assert 'filter message = "Batch synced"' in queries["${AWS::StackName}/sync-counts"]


def log_filter_series(document: dict[str, Any], sources: int) -> int:
    """Custom metric series the template's log metric filters write for a stack with `sources` sources: one per
    filter, or one per source when the filter takes a dimension from the line."""
    series = 0
    for resource in document["Resources"].values():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        for transformation in resource["Properties"]["MetricTransformations"]:
            series += sources if transformation.get("Dimensions") else 1
    return series


_MEASURED: list[Footprint] = []


@pytest.fixture
def footprint() -> Footprint:
    # A signed HubSpot and a signed Typeform delivery through the real handlers, each then synced; measured once per
    # module (function scope: the fake AWS environment of tests/conftest.py is set per test).
    if not _MEASURED:
        _MEASURED.append(measure())
    return _MEASURED[0]


def test_a_stack_with_two_sources_writes_at_most_twelve_metric_series(
    document: dict[str, Any], footprint: Footprint
) -> None:
    assert footprint.statuses == [202, 202]
    assert {name for name, _dimensions in footprint.series} <= set(METRICS)
    assert all(dict(dimensions).keys() == {"service"} for _name, dimensions in footprint.series)
    # Each name at most once: no dimension splits a name into several series, whichever paths run.
    assert len(METRICS) + log_filter_series(document, sources=2) <= MAX_SERIES
    assert len(footprint.series) + log_filter_series(document, sources=2) <= MAX_SERIES


def test_the_metric_catalogue_leaves_room_for_the_quiet_source_filter() -> None:
    # 10 series by `service` only, plus one per source (2) for the quiet-source log metric filter: 12.
    assert len(METRICS) <= MAX_SERIES - 2


def test_docs_cost_page_states_the_request_units_and_log_bytes_the_bench_measures(footprint: Footprint) -> None:
    page = " ".join((REPO_ROOT / "docs" / "cost.md").read_text(encoding="utf-8").split())
    state, deliveries = footprint.tables["ContactStateTable"], footprint.tables["IdempotencyTable"]
    n = footprint.webhooks
    log_bytes = sum(footprint.log_bytes.values()) / n + 2 * platform_bytes_per_invocation() + access_log_bytes()

    assert f"| {state.writes / n:g} write units (the lease's claim" in page
    assert f"), {state.reads / n:g} read units (the phone's entry" in page
    assert f"| {deliveries.writes / n:g} write units, {deliveries.reads / n:g} read units: the newest-contact" in page
    assert f"| {footprint.sqs_calls / n:g} requests (send, receive, delete)" in page
    assert f"| {log_bytes:,.0f} bytes: {sum(footprint.log_bytes.values()) / n:,.0f} of the handlers' lines" in page
    assert f"{access_log_bytes()} of the API's access log line" in page


def test_docs_cost_page_states_prices_with_their_date_and_source() -> None:
    page = Path(REPO_ROOT / "docs" / "cost.md").read_text(encoding="utf-8")

    for url in ("https://aws.amazon.com/cloudwatch/pricing/", "https://aws.amazon.com/dynamodb/pricing/on-demand/"):
        assert url in page
    assert "python -m benchmarks --only cost" in page


def test_the_deploy_page_counts_the_questions_the_guided_deploy_asks(document: dict[str, Any]) -> None:
    # One prompt per parameter: the page's count of the ones it does not name follows the template.
    deploy_page = (REPO_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    named = {
        line.split("`Parameter ", 1)[1].split(" ", 1)[0] for line in deploy_page.splitlines() if "| `Parameter " in line
    }
    assert f"every other `Parameter ...` ({len(document['Parameters']) - len(named)} of them)" in deploy_page


# ---------------------------------------------------------------------- Lambda's own log lines (issue 24, cost)


def _logging_config(log_level: str) -> object:
    template = StackTemplate.load(parameter_overrides={"LogLevel": log_level})
    return template.evaluate(template.document["Globals"]["Function"]["LoggingConfig"])


@pytest.mark.parametrize("log_level", ["DEBUG", "INFO"])
def test_the_functions_log_json_with_lambdas_own_lines_at_warn_and_the_application_at_log_level(
    log_level: str,
) -> None:
    # No START, END and REPORT line per invocation; the bridge's lines and the EMF lines (read as INFO) all kept.
    assert _logging_config(log_level) == {
        "LogFormat": "JSON",
        "SystemLogLevel": "WARN",
        "ApplicationLogLevel": log_level,
    }


@pytest.mark.parametrize("log_level", ["WARNING", "ERROR"])
def test_above_info_the_functions_keep_the_text_format_so_that_lambda_drops_no_metric_line(log_level: str) -> None:
    # At an application level of WARN Lambda would drop every line without a level: the metrics' EMF lines.
    assert _logging_config(log_level) is NO_VALUE
