"""template.yaml keeps the queue guarantees STYLE.md asks for, and the local stack is built from it."""

from __future__ import annotations

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
from heymarket_bridge_tools.template import TEMPLATE_PATH, LocalResources, Route, StackTemplate

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


# ---------------------------------------------------------------- permissions


def test_policies_are_sam_policy_templates_or_explicit_statements(template: StackTemplate) -> None:
    allowed = {"SQSSendMessagePolicy", "SQSPollerPolicy", "AWSSecretsManagerGetSecretValuePolicy"}
    functions = _resources_of_type(template, "AWS::Serverless::Function")

    used = [
        (logical_id, policy)
        for logical_id, properties in functions.items()
        for policy in properties.get("Policies") or []
    ]

    assert used
    assert [(logical_id, policy) for logical_id, policy in used if not set(policy) <= allowed | {"Statement"}] == []
    # Where no policy template is narrow enough (DynamoDBCrudPolicy also grants Scan, Query, batch writes),
    # an inline statement names each action and the one resource.
    for _, policy in used:
        for statement in policy.get("Statement", []):
            assert all("*" not in action for action in statement["Action"])
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
    actions = [
        action
        for role in roles
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]
    managed = {arn for role in roles for arn in role.get("ManagedPolicyArns", [])}

    # Then none is a whole-service or global wildcard, and only SAM's own managed policies are attached
    assert len(roles) == 2
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
