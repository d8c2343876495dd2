"""template.yaml keeps the queue guarantees STYLE.md asks for, and the local stack is built from it."""

from __future__ import annotations

import base64
import copy
import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from samtranslator.translator.transform import transform  # type: ignore[import-untyped,unused-ignore]

from heymarket_bridge.settings import IngestSettings, SyncSettings
from heymarket_local.template import CONTACT_QUEUE_ID, TEMPLATE_PATH, LocalResources, Route, StackTemplate

REPO_ROOT = TEMPLATE_PATH.parent
FOURTEEN_DAYS_S = 14 * 24 * 60 * 60
# Managed policies SAM attaches by itself (logs, and the poller of an SQS event source).
SAM_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
}


@pytest.fixture(scope="module")
def template() -> StackTemplate:
    return StackTemplate.load()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region, so nothing can reach a real AWS account."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def aws(aws_env: None) -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        yield boto3.client("sqs"), boto3.client("secretsmanager")


def _provision(template: StackTemplate, aws: tuple[Any, Any]) -> LocalResources:
    sqs, secretsmanager = aws
    return template.provision(
        sqs,
        secretsmanager,
        webhook_secrets={"generic": "webhook-token"},
        heymarket_credentials={"secret_id": "id", "secret_key": "key"},
    )


def _resources_of_type(template: StackTemplate, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource.get("Properties") or {}
        for logical_id, resource in template.document["Resources"].items()
        if resource["Type"] == resource_type
    }


def _parameter_maximum(template: StackTemplate, value: Any) -> int:
    """The largest value a template value can take: a literal, or the MaxValue of the parameter it names."""
    if isinstance(value, dict) and "Ref" in value:
        return int(template.document["Parameters"][value["Ref"]]["MaxValue"])
    return int(value)


# ---------------------------------------------------------------- queue guarantees


def test_visibility_timeout_covers_six_sync_timeouts_plus_the_longest_batching_window(
    template: StackTemplate,
) -> None:
    # Given the consumer of ContactQueue and its event source
    source = template.event_source("SyncFunction")
    sync = template.function(source.function_id)
    sqs_event = template.document["Resources"]["SyncFunction"]["Properties"]["Events"]["ContactQueueEvent"]
    longest_window = _parameter_maximum(template, sqs_event["Properties"]["MaximumBatchingWindowInSeconds"])

    # When the queue's visibility timeout is read
    visibility = int(template.queue(source.queue_id).attributes["VisibilityTimeout"])

    # Then a message cannot reappear while a retried invocation may still hold it
    assert visibility >= 6 * sync.timeout_s + longest_window


def test_dead_letter_queue_keeps_messages_fourteen_days(template: StackTemplate) -> None:
    dlq = template.queue(template.dead_letter_queue_id())

    assert int(dlq.attributes["MessageRetentionPeriod"]) == FOURTEEN_DAYS_S


@pytest.mark.parametrize("queue_id", ["ContactQueue", "ContactDeadLetterQueue"])
def test_queue_is_encrypted_at_rest(template: StackTemplate, queue_id: str) -> None:
    attributes = template.queue(queue_id).attributes

    assert attributes.get("SqsManagedSseEnabled") == "true" or attributes.get("KmsMasterKeyId")


def test_every_table_is_on_demand_and_encrypted(template: StackTemplate) -> None:
    tables = _resources_of_type(template, "AWS::DynamoDB::Table")

    assert "ContactStateTable" in tables
    for properties in tables.values():
        assert properties["BillingMode"] == "PAY_PER_REQUEST"
        assert properties["SSESpecification"] == {"SSEEnabled": True}


def test_contact_state_tombstones_outlast_any_message_in_the_queue_and_the_dlq(template: StackTemplate) -> None:
    table = _resources_of_type(template, "AWS::DynamoDB::Table")["ContactStateTable"]
    environment = template.function("SyncFunction").environment
    queue = template.queue(CONTACT_QUEUE_ID).attributes
    dlq = template.queue(template.dead_letter_queue_id()).attributes

    tombstone_s = int(environment["CONTACT_TOMBSTONE_SECONDS"])

    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    assert tombstone_s >= int(queue["MessageRetentionPeriod"]) + int(dlq["MessageRetentionPeriod"])


def test_the_sync_function_may_read_and_write_its_three_tables_and_nothing_else_of_dynamodb(
    template: StackTemplate,
) -> None:
    actions = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem")
    granted = {action: _statement_resources(template, "SyncFunction", action, {}) for action in actions}

    # The contact state table, read and written in batches; the managed lists' table, an item at a time; the consent
    # record, read in batches and only ever added to.
    assert granted == {
        "dynamodb:BatchGetItem": [LOCAL_ARNS["ContactStateTable.Arn"], LOCAL_ARNS["ConsentRecordTable.Arn"]],
        "dynamodb:GetItem": [LOCAL_ARNS["ManagedListsTable.Arn"]],
        "dynamodb:UpdateItem": [LOCAL_ARNS["ContactStateTable.Arn"], LOCAL_ARNS["ConsentRecordTable.Arn"]],
        "dynamodb:PutItem": [LOCAL_ARNS["ConsentRecordTable.Arn"], LOCAL_ARNS["ManagedListsTable.Arn"]],
    }
    for action in ("dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchWriteItem"):
        assert _statement_resources(template, "SyncFunction", action, {}) == []


def test_the_consent_record_is_kept_when_the_stack_is_deleted_or_the_table_replaced(template: StackTemplate) -> None:
    table = template.document["Resources"]["ConsentRecordTable"]

    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert table["Properties"]["SSESpecification"] == {"SSEEnabled": True}


def test_the_consent_record_may_update_only_the_expiry_of_its_entries(template: StackTemplate) -> None:
    policies = template.document["Resources"]["SyncFunction"]["Properties"]["Policies"]
    [statement] = [
        s
        for policy in policies
        for s in policy.get("Statement", [])
        if s["Action"] == "dynamodb:UpdateItem" and s["Resource"] == {"Fn::GetAtt": ["ConsentRecordTable", "Arn"]}
    ]

    assert statement["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:Attributes": ["phone", "entry", "expires", "kind"]}
    }


def test_the_consent_record_retention_is_at_least_the_tcpas_four_year_limitation_period(
    template: StackTemplate,
) -> None:
    assert template.document["Parameters"]["ConsentRecordRetentionDays"]["MinValue"] == 1461


def test_the_consent_record_keeps_each_change_five_years_unless_the_operator_says_otherwise(
    template: StackTemplate,
) -> None:
    environment = template.function("SyncFunction").environment
    own = StackTemplate.load(parameter_overrides={"ConsentRecordRetentionDays": "3650"})

    assert template.evaluate(environment["CONSENT_RECORD_RETENTION_DAYS"], {}) == "1827"
    assert own.evaluate(environment["CONSENT_RECORD_RETENTION_DAYS"], {}) == "3650"
    assert environment["CONSENT_RECORD_TABLE"] == {"Ref": "ConsentRecordTable"}
    assert template.document["Resources"]["ConsentRecordTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "expires",
        "Enabled": True,
    }


def test_every_queue_in_the_template_is_encrypted(template: StackTemplate) -> None:
    queues = _resources_of_type(template, "AWS::SQS::Queue")

    unencrypted = [
        logical_id
        for logical_id, properties in queues.items()
        if properties.get("SqsManagedSseEnabled") is not True and "KmsMasterKeyId" not in properties
    ]

    assert queues
    assert unencrypted == []


def test_contact_queue_redrives_to_the_dead_letter_queue(template: StackTemplate) -> None:
    assert template.dead_letter_queue_id() == "ContactDeadLetterQueue"
    assert template.max_receive_count() == int(template.parameters["MaxReceiveCount"])


def test_sync_consumer_reports_batch_item_failures_with_capped_concurrency(template: StackTemplate) -> None:
    source = template.event_source("SyncFunction")

    assert source.queue_id == "ContactQueue"
    assert source.report_batch_item_failures is True
    # SQS event sources accept 2..1000; without a cap the consumers could exceed Heymarket's rate limit.
    assert 2 <= source.max_concurrency <= 1000
    assert source.max_concurrency == int(template.parameters["MaxConcurrency"])


def test_no_function_declares_a_dead_letter_queue(template: StackTemplate) -> None:
    # A function-level DeadLetterQueue only catches asynchronous invocations, never SQS-triggered ones.
    functions = _resources_of_type(template, "AWS::Serverless::Function")
    function_globals = (template.document.get("Globals") or {}).get("Function") or {}

    with_dlq = [logical_id for logical_id, properties in functions.items() if "DeadLetterQueue" in properties]

    assert functions
    assert with_dlq == []
    assert "DeadLetterQueue" not in function_globals


def test_dead_letter_queue_alarm_fires_on_the_first_message(template: StackTemplate) -> None:
    alarm = template.document["Resources"]["DeadLetterQueueAlarm"]["Properties"]

    assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ContactDeadLetterQueue", "QueueName"]}}
    ]
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["Threshold"] == 0
    assert alarm["TreatMissingData"] == "notBreaching"


def test_refusal_letters_have_an_alarm_of_their_own_on_their_own_metric(template: StackTemplate) -> None:
    alarm = template.document["Resources"]["RefusalLettersAlarm"]["Properties"]

    assert (alarm["Namespace"], alarm["MetricName"]) == ("HeymarketBridge", "RefusalLettersWritten")
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_heymarket_unavailable_alarm_watches_the_request_metrics_the_sync_function_emits(
    template: StackTemplate,
) -> None:
    alarm = template.document["Resources"]["HeymarketUnavailableAlarm"]["Properties"]
    watched = {
        (query["MetricStat"]["Metric"]["MetricName"], dimension["Value"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
        for dimension in query["MetricStat"]["Metric"]["Dimensions"]
        if dimension["Name"] != "service"
    }

    # adapters/heymarket/http.py: HeymarketRequests by StatusClass ("2xx", "5xx", "error": no answer at all)
    assert watched == {("HeymarketRequests", "5xx"), ("HeymarketRequests", "error"), ("HeymarketRequests", "2xx")}
    assert {q["MetricStat"]["Metric"]["MetricName"] for q in alarm["Metrics"] if "MetricStat" in q} >= {
        "HeymarketThrottles"
    }
    assert [q["Id"] for q in alarm["Metrics"] if q["ReturnData"]] == ["down"]
    assert alarm["EvaluationPeriods"] == {"Ref": "HeymarketUnavailableAlarmPeriods"}
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_ingest_function_may_send_refusal_letters_to_the_dlq_and_nothing_else_on_it(
    template: StackTemplate,
) -> None:
    properties = template.document["Resources"]["IngestFunction"]["Properties"]
    on_dlq = [policy for policy in properties["Policies"] if "ContactDeadLetterQueue" in json.dumps(policy)]

    assert on_dlq == [{"SQSSendMessagePolicy": {"QueueName": {"Fn::GetAtt": ["ContactDeadLetterQueue", "QueueName"]}}}]
    assert properties["Environment"]["Variables"]["DLQ_URL"] == {"Ref": "ContactDeadLetterQueue"}


# ---------------------------------------------------------------- permissions


def test_policies_are_sam_policy_templates_or_explicit_statements(template: StackTemplate) -> None:
    allowed = {"SQSSendMessagePolicy", "SQSPollerPolicy", "AWSSecretsManagerGetSecretValuePolicy"}
    functions = _resources_of_type(template, "AWS::Serverless::Function")

    # A policy given only under a condition (!If [Cond, policy, !Ref AWS::NoValue]) is checked as the policy.
    used = [
        (logical_id, conditional)
        for logical_id, properties in functions.items()
        for policy in properties.get("Policies") or []
        for conditional in (policy["Fn::If"][1:] if "Fn::If" in policy else [policy])
        if conditional != {"Ref": "AWS::NoValue"}
    ]

    assert used
    assert [(logical_id, policy) for logical_id, policy in used if not set(policy) <= allowed | {"Statement"}] == []
    # Where no policy template is narrow enough (DynamoDBCrudPolicy also grants Scan, Query, batch writes),
    # an inline statement names each action and the one resource.
    for _, policy in used:
        for statement in policy.get("Statement", []):
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            assert all("*" not in action for action in actions)
            assert statement["Resource"] != "*"


def test_no_generated_policy_statement_allows_every_action(template: StackTemplate, aws_env: None) -> None:
    # Given the template as CloudFormation sees it once SAM has expanded the policy templates
    document = copy.deepcopy(dict(template.document))
    for resource in document["Resources"].values():
        properties = resource.get("Properties") or {}
        for uri in ("CodeUri", "ContentUri"):
            if uri in properties:
                properties[uri] = "s3://bucket/key"  # the translator wants uploaded artifacts

    class NoManagedPolicyLookup:
        def load(self) -> dict[str, str]:
            raise AssertionError("the template names a managed policy, which needs an IAM lookup")

    expanded = transform(document, {}, NoManagedPolicyLookup())

    # When every action of every role is collected
    roles = [r["Properties"] for r in expanded["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    # (a policy attached under a condition is {"Fn::If": [condition, policy, AWS::NoValue]})
    policies = [
        branch
        for role in roles
        for policy in role.get("Policies", [])
        for branch in (policy["Fn::If"][1:] if "Fn::If" in policy else [policy])
        if "PolicyDocument" in branch
    ]
    actions = [
        action
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    managed = {arn for role in roles for arn in role.get("ManagedPolicyArns", [])}

    # Then none is a whole-service or global wildcard, and only SAM's own managed policies are attached
    assert len(roles) == 3  # IngestFunction, SyncFunction, FetchFunction
    assert "secretsmanager:GetSecretValue" in actions
    assert [action for action in actions if action == "*" or action.endswith(":*")] == []
    assert managed <= SAM_MANAGED_POLICIES


# ---------------------------------------------------------------- API, functions, parameters


def test_routes_include_the_webhook_route(template: StackTemplate) -> None:
    assert Route("POST", "/webhooks/{source}", "IngestFunction") in template.routes()


def test_the_bulk_delete_routes_go_to_the_ingest_function_on_the_same_api(template: StackTemplate) -> None:
    # Given the ingest function's HTTP API events
    events = template.document["Resources"]["IngestFunction"]["Properties"]["Events"].values()

    # Then both delete routes are served by it, on the webhook API, with the same payload format
    assert {Route("POST", "/contacts/delete", "IngestFunction"), Route("DELETE", "/contacts", "IngestFunction")} <= set(
        template.routes()
    )
    assert {(e["Properties"]["ApiId"]["Ref"], e["Properties"]["PayloadFormatVersion"]) for e in events} == {
        ("WebhookApi", "2.0")
    }


def test_the_sync_function_reads_the_api_mode_and_v1_overwrite_parameters(template: StackTemplate) -> None:
    environment = template.function("SyncFunction").environment

    assert environment["HEYMARKET_API_MODE"] == {"Ref": "HeymarketApiMode"}
    assert environment["HEYMARKET_V1_OVERWRITE"] == {"Ref": "HeymarketV1Overwrite"}
    assert template.document["Parameters"]["HeymarketApiMode"]["AllowedValues"] == ["v2", "v1"]
    assert template.parameters["HeymarketApiMode"] == "v2"


@pytest.mark.parametrize("function_id", ["IngestFunction", "SyncFunction"])
def test_function_handler_module_is_in_its_code_folder(template: StackTemplate, function_id: str) -> None:
    spec = template.function(function_id)

    assert spec.code_dir.parent == REPO_ROOT / "functions"
    assert (spec.code_dir / f"{spec.module}.py").is_file()
    assert spec.handler == "lambda_handler"


def test_function_limits_come_from_the_template(template: StackTemplate) -> None:
    ingest = template.function("IngestFunction")
    sync = template.function("SyncFunction")

    assert (ingest.timeout_s, ingest.memory_mb) == (10, 256)
    assert (sync.timeout_s, sync.memory_mb) == (60, 512)


def test_parameter_overrides_replace_defaults() -> None:
    template = StackTemplate.load(parameter_overrides={"BatchSize": 25, "DefaultCountry": "GB"})

    assert template.parameters["BatchSize"] == "25"
    assert template.parameters["DefaultCountry"] == "GB"
    assert template.event_source().batch_size == 25


def test_unknown_parameter_override_is_refused() -> None:
    with pytest.raises(ValueError, match="BatchSise"):
        StackTemplate.load(parameter_overrides={"BatchSise": 25})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DefaultCountry", "usa"),
        ("MaxConcurrency", 1),
        ("LogLevel", "TRACE"),
        ("BatchingWindowSeconds", 31),
        ("HeymarketApiMode", "v3"),
        ("HeymarketV1Overwrite", "yes"),
    ],
)
def test_parameter_override_outside_the_template_constraints_is_refused(name: str, value: str | int) -> None:
    with pytest.raises(ValueError, match=name):
        StackTemplate.load(parameter_overrides={name: value})


def test_outputs_give_every_url_and_arn_a_user_needs(template: StackTemplate) -> None:
    assert set(template.document["Outputs"]) >= {
        "WebhookUrl",
        "DeleteContactsUrl",
        "ContactQueueUrl",
        "ContactDeadLetterQueueUrl",
        "IngestFunctionName",
        "SyncFunctionName",
        "HeymarketSecretArn",
        "WebhookSecretsArn",
    }


def test_no_resource_has_a_hard_coded_name(template: StackTemplate) -> None:
    name_properties = {"QueueName", "FunctionName", "Name", "AlarmName", "LayerName", "RoleName"}

    named = [
        (logical_id, name)
        for logical_id, resource in template.document["Resources"].items()
        for name in name_properties & set(resource.get("Properties") or {})
        if isinstance(resource["Properties"][name], str)
    ]

    assert named == []


# ---------------------------------------------------------------- layer and samconfig


def test_layer_ships_phonenumberslite_and_not_boto3() -> None:
    lines = (REPO_ROOT / "layers" / "requirements.txt").read_text().splitlines()
    requirements = [line.split("#", 1)[0].strip() for line in lines]
    names = {re.split(r"[^A-Za-z0-9._-]", line, maxsplit=1)[0].lower() for line in requirements if line}

    assert names == {"aws-lambda-powertools", "pyjwt", "urllib3", "phonenumberslite", "defusedxml", "multipart"}


def test_samconfig_environments_resolve_their_bucket_and_name_no_account() -> None:
    text = (REPO_ROOT / "samconfig.toml").read_text()
    config = tomllib.loads(text)

    assert {"default", "dev", "prod"} <= set(config)
    assert all(config[env]["deploy"]["parameters"]["resolve_s3"] is True for env in ("default", "dev", "prod"))
    assert config["prod"]["global"]["parameters"]["stack_name"] == "heymarket-bridge-prod"
    assert re.search(r"\b\d{12}\b", text) is None  # no AWS account id


# ---------------------------------------------------------------- local stack


def test_provision_creates_a_contact_queue_that_redrives_to_its_dlq(aws: tuple[Any, Any]) -> None:
    # Given a template whose MaxReceiveCount differs from the default
    template = StackTemplate.load(parameter_overrides={"MaxReceiveCount": 3})

    # When the local resources are provisioned
    resources = _provision(template, aws)

    # Then the main queue sends messages to the created DLQ after three receives
    sqs = aws[0]
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == resources.dlq_arn
    assert int(redrive["maxReceiveCount"]) == 3 == resources.max_receive_count
    assert attributes["QueueArn"] == resources.queue_arn
    assert attributes["VisibilityTimeout"] == template.queue("ContactQueue").attributes["VisibilityTimeout"]


def test_provision_gives_the_dlq_the_template_attributes(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    attributes = aws[0].get_queue_attributes(QueueUrl=resources.dlq_url, AttributeNames=["All"])["Attributes"]

    assert attributes["QueueArn"] == resources.dlq_arn
    assert attributes["MessageRetentionPeriod"] == str(FOURTEEN_DAYS_S)
    assert "RedrivePolicy" not in attributes


def test_provision_stores_the_secrets_as_json(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    secretsmanager = aws[1]
    webhook = secretsmanager.get_secret_value(SecretId=resources.webhook_secrets_arn)["SecretString"]
    heymarket = secretsmanager.get_secret_value(SecretId=resources.heymarket_secret_arn)["SecretString"]

    assert json.loads(webhook) == {"generic": "webhook-token"}
    assert json.loads(heymarket) == {"secret_id": "id", "secret_key": "key"}


def test_two_provisioned_stacks_live_side_by_side(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    first = _provision(template, aws)
    second = _provision(template, aws)

    assert first.queue_url != second.queue_url
    assert first.dlq_url != second.dlq_url
    assert first.heymarket_secret_arn != second.heymarket_secret_arn


@pytest.mark.parametrize("function_id", ["IngestFunction", "SyncFunction"])
def test_function_environment_resolves_every_variable(
    template: StackTemplate, aws: tuple[Any, Any], function_id: str
) -> None:
    # Given provisioned local resources
    resources = _provision(template, aws)
    raw = template.function(function_id).environment
    may_be_empty = {
        name
        for name, value in raw.items()
        if isinstance(value, dict) and template.parameters.get(value.get("Ref", "")) == ""
    }

    # When the function's environment is resolved
    environment = template.function_environment(function_id, resources)

    # Then every variable is a string, empty only where its parameter's default is empty
    assert set(environment) == set(raw)
    assert all(isinstance(value, str) for value in environment.values())
    assert {name for name, value in environment.items() if not value} <= may_be_empty
    assert environment["POWERTOOLS_LOG_LEVEL"] == template.parameters["LogLevel"]


def test_ingest_environment_points_at_the_local_resources(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    environment = template.function_environment("IngestFunction", resources)

    assert environment["QUEUE_URL"] == resources.queue_url
    assert environment["WEBHOOK_SECRETS_ARN"] == resources.webhook_secrets_arn
    assert environment["ALLOW_UNAUTHENTICATED_SOURCES"] == ""
    assert IngestSettings.from_env(environment).max_body_bytes == int(template.parameters["MaxBodyBytes"])


def test_sync_environment_points_at_the_local_resources(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    environment = template.function_environment("SyncFunction", resources)
    settings = SyncSettings.from_env(environment)

    assert settings.dlq_url == resources.dlq_url
    assert settings.heymarket_secret_arn == resources.heymarket_secret_arn
    assert settings.max_receive_count == resources.max_receive_count
    assert settings.max_concurrency == template.event_source().max_concurrency


def test_local_stack_uses_its_own_secret_even_when_an_existing_one_is_named(aws: tuple[Any, Any]) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:heymarket-AbCdEf"
    template = StackTemplate.load(parameter_overrides={"HeymarketSecretArn": arn})
    resources = _provision(template, aws)

    environment = template.function_environment("SyncFunction", resources)

    assert environment["HEYMARKET_SECRET_ARN"] == resources.heymarket_secret_arn


def test_extra_environment_overrides_the_template(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    environment = template.function_environment(
        "SyncFunction", resources, extra={"HEYMARKET_BASE_URL": "http://127.0.0.1:8081"}
    )

    assert environment["HEYMARKET_BASE_URL"] == "http://127.0.0.1:8081"


def test_template_path_is_the_repository_template() -> None:
    assert Path(__file__).resolve().parents[2] / "template.yaml" == TEMPLATE_PATH
    assert TEMPLATE_PATH.is_file()


# ---------------------------------------------------------------- settings that would fail a deploy (issue 15)


def test_a_batch_size_above_ten_without_a_batching_window_is_refused_before_deploying() -> None:
    # Given the combination Lambda refuses for an SQS event source (the deploy would roll back)
    overrides = {"BatchSize": 11, "BatchingWindowSeconds": 0}

    # When the template is read with it, Then its Rules refuse it with a message naming both parameters
    with pytest.raises(ValueError, match=r"BatchingWindowSeconds=0 works only with a BatchSize of 10 or less"):
        StackTemplate.load(parameter_overrides=overrides)


@pytest.mark.parametrize(
    ("batch_size", "window_s"),
    [(1, 0), (10, 0), (11, 1), (100, 1), (10000, 30), (100, 5)],
)
def test_the_batching_window_rule_lets_every_combination_lambda_accepts_through(batch_size: int, window_s: int) -> None:
    template = StackTemplate.load(parameter_overrides={"BatchSize": batch_size, "BatchingWindowSeconds": window_s})

    assert template.event_source().batch_size == batch_size


def test_the_batching_window_rule_refuses_every_batch_size_lambda_refuses_without_a_window(
    template: StackTemplate,
) -> None:
    # Given every BatchSize the parameter allows, with no batching window
    maximum = int(template.document["Parameters"]["BatchSize"]["MaxValue"])
    refused = []
    for batch_size in range(1, maximum + 1):
        try:
            template.with_parameters({"BatchSize": batch_size, "BatchingWindowSeconds": 0})
        except ValueError:
            refused.append(batch_size)

    # Then exactly those above 10 are refused (Lambda: a window of at least 1 s is required above 10)
    assert refused == list(range(11, maximum + 1))


def test_mappings_given_both_inline_and_as_a_parameter_name_are_refused() -> None:
    with pytest.raises(ValueError, match="SourceMappings and SourceMappingsParameterName are both set"):
        StackTemplate.load(
            parameter_overrides={"SourceMappings": '{"generic": {}}', "SourceMappingsParameterName": "/bridge/maps"}
        )


@pytest.mark.parametrize(
    ("key", "secret"),
    [("HeymarketSecretKmsKeyArn", "HeymarketSecretArn"), ("WebhookSecretsKmsKeyArn", "WebhookSecretsArn")],
)
def test_a_kms_key_without_the_secret_it_encrypts_is_refused(key: str, secret: str) -> None:
    with pytest.raises(ValueError, match=f"set {secret} too"):
        StackTemplate.load(parameter_overrides={key: KMS_KEY})


# Lambda's synchronous invocation payload limit, "6 MB" (Lambda quotas), read as decimal megabytes: the smaller
# of the two readings, so the check holds under either. HTTP API: request line plus headers at most 10,240 bytes.
LAMBDA_SYNC_PAYLOAD_BYTES = 6_000_000
HTTP_API_REQUEST_LINE_AND_HEADERS_BYTES = 10_240


def test_the_largest_body_allowed_fits_a_lambda_invocation_once_base64_encoded(template: StackTemplate) -> None:
    # Given the largest body MaxBodyBytes allows, as API Gateway passes a form post: base64-encoded, with the
    # request line and headers at HTTP API's limit, made of characters JSON escapes (each then takes two bytes)
    largest = int(template.document["Parameters"]["MaxBodyBytes"]["MaxValue"])
    event = json.loads((REPO_ROOT / "events" / "generic" / "form_post.json").read_text())
    query = "q=" + '"' * (HTTP_API_REQUEST_LINE_AND_HEADERS_BYTES // 4)
    padding = '"' * (HTTP_API_REQUEST_LINE_AND_HEADERS_BYTES // 2)
    event["rawQueryString"] = query
    event["queryStringParameters"] = {"q": query[2:]}
    event["headers"]["x-padding"] = padding
    event["requestContext"]["http"]["userAgent"] = event["headers"]["user-agent"] = padding[:1000]
    event["cookies"] = [padding[:1000]]
    event["body"] = base64.b64encode(b"\xff" * largest).decode()

    # When Lambda receives it as JSON
    invocation = json.dumps(event).encode()

    # Then it is within Lambda's payload limit, so the bridge (not API Gateway) answers an oversized body
    assert len(invocation) <= LAMBDA_SYNC_PAYLOAD_BYTES
    assert (
        IngestSettings.from_env(
            {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "MAX_BODY_BYTES": str(largest)}
        ).max_body_bytes
        == largest
    )


def test_a_body_limit_above_the_lambda_payload_is_refused() -> None:
    with pytest.raises(ValueError, match="MaxBodyBytes"):
        StackTemplate.load(parameter_overrides={"MaxBodyBytes": 10 * 1024 * 1024})


def test_no_function_environment_carries_the_mappings(template: StackTemplate) -> None:
    # Lambda allows 4 KB of environment variables per function in all: a real mapping does not fit there.
    for function_id in ("IngestFunction", "SyncFunction"):
        environment = template.function(function_id).environment

        assert "SOURCE_MAPPINGS" not in environment
        assert "SourceMappings" not in json.dumps(environment).replace("SourceMappingsParameter", "")


def test_the_ingest_function_reads_the_mappings_parameter_the_template_names(template: StackTemplate) -> None:
    environment = template.function("IngestFunction").environment

    assert template.evaluate(environment["SOURCE_MAPPINGS_PARAMETER"], {"SourceMappingsParameter": "created"}) == (
        "created"
    )
    own = StackTemplate.load(parameter_overrides={"SourceMappingsParameterName": "/bridge/mappings"})
    assert own.evaluate(environment["SOURCE_MAPPINGS_PARAMETER"], {"SourceMappingsParameter": "created"}) == (
        "/bridge/mappings"
    )


@pytest.mark.parametrize(
    ("name", "arn"),
    [
        (
            "CFN-SourceMappingsParameter-AbC",
            "arn:aws:ssm:us-east-1:123456789012:parameter/CFN-SourceMappingsParameter-AbC",
        ),
        ("/bridge/mappings", "arn:aws:ssm:us-east-1:123456789012:parameter/bridge/mappings"),
        ("bridge-mappings", "arn:aws:ssm:us-east-1:123456789012:parameter/bridge-mappings"),
    ],
)
def test_the_ingest_function_may_read_exactly_the_mappings_parameter(name: str, arn: str) -> None:
    # Given the stack's own parameter (a generated name) or one the operator names, with or without a leading /
    overrides = {} if name.startswith("CFN-") else {"SourceMappingsParameterName": name}
    template = StackTemplate.load(parameter_overrides=overrides)

    # When the ingest function's SSM statement is evaluated
    resources = _statement_resources(template, "IngestFunction", "ssm:GetParameter", {"SourceMappingsParameter": name})

    # Then it names that parameter's ARN and nothing else
    assert resources == [arn]


def test_provision_stores_the_mappings_in_the_ssm_parameter_the_ingest_function_reads(aws: tuple[Any, Any]) -> None:
    # Given a mapping set as the template parameter
    mappings = '{"typeform": {"phone": "mobile"}}'
    template = StackTemplate.load(parameter_overrides={"SourceMappings": mappings})

    # When the local resources are provisioned
    resources = _provision(template, aws)
    environment = template.function_environment("IngestFunction", resources)

    # Then the function's environment names a parameter holding the mapping
    stored = boto3.client("ssm").get_parameter(Name=environment["SOURCE_MAPPINGS_PARAMETER"])["Parameter"]["Value"]
    assert stored == mappings


def test_provision_stores_an_empty_object_when_no_mapping_is_set(template: StackTemplate, aws: tuple[Any, Any]) -> None:
    resources = _provision(template, aws)

    name = template.function_environment("IngestFunction", resources)["SOURCE_MAPPINGS_PARAMETER"]

    assert boto3.client("ssm").get_parameter(Name=name)["Parameter"]["Value"] == "{}"


# ---------------------------------------------------------------- secrets as users paste them


ACCOUNT, REGION = "123456789012", "us-east-1"
SECRET_PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
KMS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
# The secret the operator means (Secrets Manager appended "-Xy12Ab" to its name) and its neighbours.
MEANT = f"{SECRET_PREFIX}team/heymarket-Xy12Ab"
NEIGHBOURS = [
    f"{SECRET_PREFIX}team/heymarket-prod-Xy12Ab",  # a longer name starting with the same text
    f"{SECRET_PREFIX}team/heymarketX-Xy12Ab",
    f"{SECRET_PREFIX}team/heymarke-Xy12Ab",
    f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:team/heymarket-Xy12Ab",  # same name, another region
    f"arn:aws:secretsmanager:{REGION}:210987654321:secret:team/heymarket-Xy12Ab",  # another account
]


def _iam_matches(pattern: str, arn: str) -> bool:
    """IAM's ARN matching: `?` is one character, `*` any run of characters, everything else literal."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, arn) is not None


def _statement_resources(
    template: StackTemplate, function_id: str, action: str, references: dict[str, str]
) -> list[str]:
    """The Resource ARNs of the function's statements that grant `action`, evaluated with these parameters."""
    policies = template.evaluate(
        template.document["Resources"][function_id]["Properties"]["Policies"],
        {**references, **{name: value for name, value in LOCAL_ARNS.items() if name not in references}},
    )
    found: list[str] = []
    for policy in policies:
        for statement in policy.get("Statement", []):
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            if action in actions:
                resource = statement["Resource"]
                found.extend([resource] if isinstance(resource, str) else resource)
    return found


LOCAL_ARNS = {
    "HeymarketCredentialsSecret": f"{SECRET_PREFIX}HeymarketCredentialsSecret-AbCdEf",
    "WebhookSecretsSecret": f"{SECRET_PREFIX}WebhookSecretsSecret-AbCdEf",
    "SourceMappingsParameter": "CFN-SourceMappingsParameter-AbC",
    "ContactQueue.QueueName": "ContactQueue",
    "ContactQueue.Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:ContactQueue",
    "ContactDeadLetterQueue.QueueName": "ContactDeadLetterQueue",
    "LeadFetchQueue.QueueName": "LeadFetchQueue",
    "LeadFetchDeadLetterQueue.QueueName": "LeadFetchDeadLetterQueue",
    "IdempotencyTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/IdempotencyTable",
    "ManagedListsTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ManagedListsTable",
    "ContactStateTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ContactStateTable",
    "ConsentRecordTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/ConsentRecordTable",
}
SECRET_FORMS = {
    "name": "team/heymarket",
    "partial ARN": f"{SECRET_PREFIX}team/heymarket",
    "full ARN": MEANT,
}


@pytest.mark.parametrize(
    ("function_id", "parameter"), [("SyncFunction", "HeymarketSecretArn"), ("IngestFunction", "WebhookSecretsArn")]
)
@pytest.mark.parametrize("form", list(SECRET_FORMS))
def test_the_secret_policy_grants_the_secret_named_in_any_form_and_none_of_its_neighbours(
    function_id: str, parameter: str, form: str
) -> None:
    # Given the operator's existing secret, pasted as a name, a partial ARN or a full ARN
    template = StackTemplate.load(parameter_overrides={parameter: SECRET_FORMS[form]})

    # When the function's GetSecretValue statement is evaluated
    resources = _statement_resources(template, function_id, "secretsmanager:GetSecretValue", {})

    # Then it matches that secret's real ARN, and no other secret of similar name, region or account
    assert any(_iam_matches(resource, MEANT) for resource in resources)
    assert [arn for arn in NEIGHBOURS if any(_iam_matches(resource, arn) for resource in resources)] == []


@pytest.mark.parametrize(
    ("function_id", "secret"),
    [("SyncFunction", "HeymarketCredentialsSecret"), ("IngestFunction", "WebhookSecretsSecret")],
)
def test_the_secret_policy_grants_exactly_the_created_secret_when_none_is_named(
    template: StackTemplate, function_id: str, secret: str
) -> None:
    resources = _statement_resources(template, function_id, "secretsmanager:GetSecretValue", {})

    assert resources == [LOCAL_ARNS[secret]]


@pytest.mark.parametrize(
    ("function_id", "secret", "key"),
    [
        ("SyncFunction", "HeymarketSecretArn", "HeymarketSecretKmsKeyArn"),
        ("IngestFunction", "WebhookSecretsArn", "WebhookSecretsKmsKeyArn"),
    ],
)
def test_kms_decrypt_is_granted_on_the_customer_managed_key_only_when_one_is_set(
    function_id: str, secret: str, key: str
) -> None:
    # Given an existing secret, with and without a customer-managed key
    without_key = StackTemplate.load(parameter_overrides={secret: MEANT})
    with_key = StackTemplate.load(parameter_overrides={secret: MEANT, key: KMS_KEY})

    # Then kms:Decrypt is granted on that key alone, and only when it is set
    assert _statement_resources(without_key, function_id, "kms:Decrypt", {}) == []
    assert _statement_resources(with_key, function_id, "kms:Decrypt", {}) == [KMS_KEY]


# What the secrets the stack creates are generated from. CloudFormation replaces a secret's value whenever its
# SecretString or GenerateSecretString changes, wiping the tokens and credentials operators put in by hand; a
# changed logical id or condition deletes the secret. Do not change these: see README, "Rotate a secret safely".
GENERATED_SECRETS = {
    "HeymarketCredentialsSecret": {
        "Condition": "CreateHeymarketSecret",
        "SecretString": '{"secret_id":"REPLACE_ME","secret_key":"REPLACE_ME"}',
    },
    "WebhookSecretsSecret": {
        "Condition": "CreateWebhookSecrets",
        "GenerateSecretString": {
            "SecretStringTemplate": "{}",
            "GenerateStringKey": "generic",
            "ExcludePunctuation": True,
            "PasswordLength": 40,
        },
    },
}


@pytest.mark.parametrize("logical_id", list(GENERATED_SECRETS))
def test_the_generated_secrets_keep_the_definitions_their_values_were_made_from(
    template: StackTemplate, logical_id: str
) -> None:
    resource = template.document["Resources"][logical_id]
    properties = resource["Properties"]

    found = {
        "Condition": resource.get("Condition"),
        **{name: properties[name] for name in ("SecretString", "GenerateSecretString") if name in properties},
    }

    assert found == GENERATED_SECRETS[logical_id], (
        f"{logical_id}'s value definition changed: CloudFormation would replace the secret's value on the next "
        "deploy, wiping what operators stored in it. Keep the old definition (README: 'Rotate a secret safely')."
    )


# ---------------------------------------------------------------- operations


def test_the_api_writes_json_access_logs_with_caller_route_status_and_request_id(template: StackTemplate) -> None:
    # Given the webhook API's access log settings
    api = template.document["Resources"]["WebhookApi"]["Properties"]
    settings = api["AccessLogSettings"]

    # When its format is read as API Gateway fills it in (each $context variable becomes a string)
    line = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "value", settings["Format"]))

    # Then each line is one JSON object naming the caller, route, status and request id; no header or query string
    assert {"sourceIp", "routeKey", "status", "requestId"} <= set(line)
    assert re.search(r"header|querystring|authorization|token", settings["Format"], re.IGNORECASE) is None
    assert settings["DestinationArn"] == {"Fn::GetAtt": ["WebhookApiAccessLogGroup", "Arn"]}


def test_the_access_logs_are_kept_as_long_as_the_function_logs(template: StackTemplate) -> None:
    groups = _resources_of_type(template, "AWS::Logs::LogGroup")

    assert {name: group["RetentionInDays"] for name, group in groups.items()} == {
        "WebhookApiAccessLogGroup": {"Ref": "LogRetentionDays"},
        "IngestFunctionLogGroup": {"Ref": "LogRetentionDays"},
        "SyncFunctionLogGroup": {"Ref": "LogRetentionDays"},
        "FetchFunctionLogGroup": {"Ref": "LogRetentionDays"},
    }


@pytest.mark.parametrize(("value", "reserved"), [("", None), ("0", None), ("25", "25")])
def test_ingest_reserved_concurrency_is_a_parameter_empty_or_zero_meaning_unreserved(
    value: str, reserved: str | None
) -> None:
    template = StackTemplate.load(parameter_overrides={"IngestReservedConcurrency": value})
    properties = template.document["Resources"]["IngestFunction"]["Properties"]

    evaluated = template.evaluate({"Value": properties["ReservedConcurrentExecutions"]})

    assert evaluated.get("Value") == reserved


def test_outputs_give_the_queue_arns_a_message_move_task_needs(template: StackTemplate) -> None:
    outputs = template.document["Outputs"]

    assert outputs["ContactQueueArn"]["Value"] == {"Fn::GetAtt": ["ContactQueue", "Arn"]}
    assert outputs["ContactDeadLetterQueueArn"]["Value"] == {"Fn::GetAtt": ["ContactDeadLetterQueue", "Arn"]}


@pytest.mark.parametrize("action", ["dynamodb:GetItem", "dynamodb:PutItem"])
def test_the_sync_function_reads_and_writes_the_managed_lists_table_only(template: StackTemplate, action: str) -> None:
    resources = _statement_resources(template, "SyncFunction", action, {})

    # (PutItem is also granted on the consent record, which holds no list.)
    assert [arn for arn in resources if arn != LOCAL_ARNS["ConsentRecordTable.Arn"]] == [
        LOCAL_ARNS["ManagedListsTable.Arn"]
    ]


def test_the_sync_function_gets_the_tags_and_lists_settings_and_the_stack_name(template: StackTemplate) -> None:
    environment = template.function("SyncFunction").environment
    own = StackTemplate.load(parameter_overrides={"CreateMissingTags": "true", "RemoveOptedOutFromLists": "false"})

    assert own.evaluate(environment["CREATE_MISSING_TAGS"], {}) == "true"
    assert own.evaluate(environment["REMOVE_OPTED_OUT_FROM_LISTS"], {}) == "false"
    assert template.evaluate(environment["CREATE_MISSING_TAGS"], {}) == "false"
    assert template.evaluate(environment["REMOVE_OPTED_OUT_FROM_LISTS"], {}) == "true"
    assert environment["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert environment["MANAGED_LISTS_TABLE"] == {"Ref": "ManagedListsTable"}


def test_a_claim_on_a_managed_list_outlives_any_sync_invocation(template: StackTemplate) -> None:
    # A consumer's claim must not look abandoned while that consumer may still be running.
    from heymarket_bridge.sync.lists.directory import CLAIM_TTL_S

    timeout_s = int(template.document["Resources"]["SyncFunction"]["Properties"]["Timeout"])

    assert 2 * timeout_s < CLAIM_TTL_S


# ---------------------------------------------------------------------- nothing lost to an upgrade or an uninstall

# The data-bearing resources, by logical id (a new logical id is a new resource: the old one is deleted, or left
# behind when retained), with their type and the properties whose change makes CloudFormation REPLACE the resource
# ("Update requires: Replacement" in the AWS::SQS::Queue, AWS::DynamoDB::Table and AWS::SecretsManager::Secret
# references), as recorded here: a change to any of them must be a deliberate change of this list too.
RETAINED: dict[str, tuple[str, dict[str, Any]]] = {
    "ContactQueue": ("AWS::SQS::Queue", {"QueueName": None, "FifoQueue": None}),
    "ContactDeadLetterQueue": ("AWS::SQS::Queue", {"QueueName": None, "FifoQueue": None}),
    "ContactStateTable": (
        "AWS::DynamoDB::Table",
        {
            "TableName": None,
            "KeySchema": [{"AttributeName": "phone", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "phone", "AttributeType": "S"}],
            "LocalSecondaryIndexes": None,
        },
    ),
    "ManagedListsTable": (
        "AWS::DynamoDB::Table",
        {
            "TableName": None,
            "KeySchema": [{"AttributeName": "key", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "key", "AttributeType": "S"}],
            "LocalSecondaryIndexes": None,
        },
    ),
    "ConsentRecordTable": (
        "AWS::DynamoDB::Table",
        {
            "TableName": None,
            "KeySchema": [
                {"AttributeName": "phone", "KeyType": "HASH"},
                {"AttributeName": "entry", "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": [
                {"AttributeName": "phone", "AttributeType": "S"},
                {"AttributeName": "entry", "AttributeType": "S"},
            ],
            "LocalSecondaryIndexes": None,
        },
    ),
    "HeymarketCredentialsSecret": ("AWS::SecretsManager::Secret", {"Name": None}),
    "WebhookSecretsSecret": ("AWS::SecretsManager::Secret", {"Name": None}),
}
# Deliberately not retained: its records only expire, and losing them costs at most a retry queued twice.
# The fetch queues hold ids only (Meta and Acuity keep the records): template.yaml says why they are not retained.
NOT_RETAINED = {"IdempotencyTable", "LeadFetchQueue", "LeadFetchDeadLetterQueue"}
DATA_TYPES = {"AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::SecretsManager::Secret"}


@pytest.mark.parametrize("logical_id", sorted(RETAINED))
def test_a_data_bearing_resource_keeps_its_logical_id_type_and_replacement_properties(
    template: StackTemplate, logical_id: str
) -> None:
    resource = template.document["Resources"].get(logical_id)

    assert resource is not None, f"{logical_id} is gone: CloudFormation would delete it (or leave it retained)"
    resource_type, recorded = RETAINED[logical_id]
    assert resource["Type"] == resource_type
    properties = resource.get("Properties") or {}
    assert {name: properties.get(name) for name in recorded} == recorded, "this change would replace the resource"


@pytest.mark.parametrize("logical_id", sorted(RETAINED))
def test_a_data_bearing_resource_is_retained_on_deletion_and_replacement(
    template: StackTemplate, logical_id: str
) -> None:
    resource = template.document["Resources"][logical_id]

    assert resource.get("DeletionPolicy") == "Retain"
    assert resource.get("UpdateReplacePolicy") == "Retain"


def test_every_queue_table_and_secret_is_either_retained_or_deliberately_not(template: StackTemplate) -> None:
    data_bearing = {
        logical_id for logical_id, resource in template.document["Resources"].items() if resource["Type"] in DATA_TYPES
    }

    assert data_bearing == set(RETAINED) | NOT_RETAINED


@pytest.mark.parametrize("logical_id", ["ContactStateTable", "ManagedListsTable", "ConsentRecordTable"])
def test_a_retained_table_has_point_in_time_recovery(template: StackTemplate, logical_id: str) -> None:
    properties = template.document["Resources"][logical_id]["Properties"]

    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_heymarket_base_url_is_https_only(template: StackTemplate) -> None:
    with pytest.raises(ValueError, match="HeymarketBaseUrl"):
        template.with_parameters({"HeymarketBaseUrl": "http://api.heymarket.com"})


def test_a_local_test_url_is_http_on_this_machine_only(template: StackTemplate) -> None:
    with pytest.raises(ValueError, match="LocalTestHeymarketUrl"):
        template.with_parameters({"LocalTestHeymarketUrl": "http://api.heymarket.com"})


def test_a_local_test_url_replaces_the_base_url_in_the_sync_function(
    template: StackTemplate, aws: tuple[Any, Any]
) -> None:
    local = template.with_parameters({"LocalTestHeymarketUrl": "http://127.0.0.1:8081"})

    environment = local.function_environment("SyncFunction", _provision(local, aws))

    assert environment["HEYMARKET_BASE_URL"] == "http://127.0.0.1:8081"


def test_the_sync_function_calls_the_base_url_when_no_local_test_url_is_set(
    template: StackTemplate, aws: tuple[Any, Any]
) -> None:
    environment = template.function_environment("SyncFunction", _provision(template, aws))

    assert environment["HEYMARKET_BASE_URL"] == "https://api.heymarket.com"
