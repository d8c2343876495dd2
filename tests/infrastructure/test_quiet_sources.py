"""The quiet-source alarms (QuietSourceAlarms, expanded by AWS::LanguageExtensions' Fn::ForEach) as SAM CLI expands
them offline: nothing unless configured, one metric filter and one alarm per listed source, breaching on no data;
and the fetch alarms of the sources the bridge fetches from."""

from __future__ import annotations

from typing import Any

import pytest
from samcli.lib.cfn_language_extensions.sam_integration import expand_language_extensions
from samcli.yamlhelper import yaml_parse

from heymarket_local.template import TEMPLATE_PATH

DOCUMENT = yaml_parse(TEMPLATE_PATH.read_text())


def expanded(quiet: str) -> tuple[dict[str, Any], bool]:
    """The quiet-source resources SAM CLI's expansion makes, and whether their condition holds."""
    document = expand_language_extensions(DOCUMENT, {"QuietSourceAlarms": quiet}, enabled=True).expanded_template
    condition = document["Conditions"]["HasQuietSourceAlarms"]  # resolved by the expansion: Not(Equals(a, b))
    left, right = condition["Fn::Not"][0]["Fn::Equals"]
    resources = {k: v for k, v in document["Resources"].items() if k.startswith("QuietSource")}
    return resources, left != right


def test_by_default_every_quiet_source_resource_is_under_a_condition_that_is_false_when_none_is_listed() -> None:
    quiet, created = expanded("")

    assert created is False
    assert {resource["Condition"] for resource in quiet.values()} == {"HasQuietSourceAlarms"}
    assert DOCUMENT["Parameters"]["QuietSourceAlarms"]["Default"] == ""


def test_each_listed_source_gets_a_filter_on_its_accepted_deliveries_and_an_alarm_breaching_on_silence() -> None:
    quiet, created = expanded("hubspot=6,typeform=24")

    alarm = quiet["QuietSourcehubspot6Alarm"]["Properties"]
    log_filter = quiet["QuietSourcetypeform24Filter"]["Properties"]
    assert set(quiet) == {
        "QuietSourcehubspot6Filter",
        "QuietSourcehubspot6Alarm",
        "QuietSourcetypeform24Filter",
        "QuietSourcetypeform24Alarm",
    }
    assert created is True
    assert alarm["TreatMissingData"] == "breaching"
    assert (alarm["Period"], alarm["ComparisonOperator"], alarm["Threshold"]) == (3600, "LessThanThreshold", 1)
    assert (alarm["MetricName"], str(alarm["EvaluationPeriods"])) == ("DeliveriesAccepted-hubspot", "6")
    assert log_filter["FilterPattern"] == '{ $.message = "Webhook accepted" && $.source = "typeform" }'
    assert log_filter["MetricTransformations"][0]["MetricName"] == "DeliveriesAccepted-typeform"
    assert log_filter["LogGroupName"] == {"Ref": "IngestFunctionLogGroup"}


@pytest.mark.parametrize(
    ("alarm", "metric"),
    [("FetchConfigurationAlarm", "FetchConfigurationErrors"), ("FetchQuotaAlarm", "FetchThrottled")],
)
def test_the_fetched_sources_health_has_its_alarms(alarm: str, metric: str) -> None:
    properties = DOCUMENT["Resources"][alarm]["Properties"]

    assert properties["MetricName"] == metric
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_quiet_source_metric_has_the_stack_s_service_dimension_on_the_filter_and_the_alarm() -> None:
    # Two stacks in one account must not share a source's series: a delivery to one would silence the other's alarm.
    quiet, _ = expanded("hubspot=6")

    transformation = quiet["QuietSourcehubspot6Filter"]["Properties"]["MetricTransformations"][0]
    alarm = quiet["QuietSourcehubspot6Alarm"]["Properties"]
    assert transformation["Dimensions"] == [{"Key": "service", "Value": "$.service"}]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": {"Ref": "AWS::StackName"}}]
    # The line's `service` is the stack's name
    environment = DOCUMENT["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["POWERTOOLS_SERVICE_NAME"] == {"Ref": "AWS::StackName"}


@pytest.mark.parametrize(
    ("item", "allowed"),
    [
        *[(f"hubspot={h}", True) for h in (1, 9, 10, 99, 100, 159, 160, 168)],
        *[(f"hubspot={h}", False) for h in (0, "00", "01", 169, 200, 999)],
        ("", True),
    ],
)
def test_the_hours_are_1_to_168_as_the_docs_say(item: str, allowed: bool) -> None:
    import re

    pattern = DOCUMENT["Parameters"]["QuietSourceAlarms"]["AllowedPattern"]

    assert bool(re.fullmatch(pattern, item)) is allowed


def test_quiet_source_alarms_with_a_log_level_that_hides_the_accepted_line_are_refused_by_a_rule() -> None:
    # The filters match "Webhook accepted", written at INFO: at WARNING or ERROR every quiet alarm would fire.
    rule = DOCUMENT["Rules"]["QuietSourcesNeedInfoLogs"]

    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::EachMemberEquals": [{"Ref": "QuietSourceAlarms"}, ""]}]}
    [assertion] = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Contains": [["DEBUG", "INFO"], {"Ref": "LogLevel"}]}
    assert "LogLevel" in assertion["AssertDescription"]


@pytest.mark.parametrize(
    ("quiet", "level", "refused"),
    [
        ("hubspot=6", "WARNING", True),
        ("hubspot=6,meta=24", "ERROR", True),
        ("hubspot=6", "INFO", False),
        ("hubspot=6", "DEBUG", False),
        ("", "ERROR", False),
    ],
)
def test_the_rule_refuses_quiet_source_alarms_only_with_a_log_level_above_info(
    quiet: str, level: str, refused: bool
) -> None:
    from heymarket_local.template import StackTemplate

    overrides = {"QuietSourceAlarms": quiet, "LogLevel": level}
    if refused:
        with pytest.raises(ValueError, match="QuietSourcesNeedInfoLogs"):
            StackTemplate.load(parameter_overrides=overrides)
    else:
        StackTemplate.load(parameter_overrides=overrides)
