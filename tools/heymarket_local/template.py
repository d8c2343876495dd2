"""The one reader of template.yaml: tests and the local stack take routes, queues and environment from it.

Reading the deployed template (instead of repeating its values) keeps the local configuration from drifting
away from what `sam deploy` creates.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

# PyYAML ships no type hints; the ignore stays harmless once types-PyYAML is installed.
import yaml  # type: ignore[import-untyped,unused-ignore]

from heymarket_local.project_files import BUNDLED_PROJECT, find_project

# When no project is found this names the bundled copy, which does not exist: reading it fails with its path.
TEMPLATE_PATH: Path = (find_project() or BUNDLED_PROJECT) / "template.yaml"

CONTACT_QUEUE_ID = "ContactQueue"
# Each secret is either created by the stack (a resource) or given as an ARN (a parameter).
HEYMARKET_SECRET_ID = "HeymarketCredentialsSecret"
HEYMARKET_SECRET_PARAMETER = "HeymarketSecretArn"
WEBHOOK_SECRETS_ID = "WebhookSecretsSecret"
WEBHOOK_SECRETS_PARAMETER = "WebhookSecretsArn"
# The SSM parameter of the field mappings: created by the stack, or named by a template parameter.
SOURCE_MAPPINGS_ID = "SourceMappingsParameter"
SOURCE_MAPPINGS_PARAMETER = "SourceMappingsParameterName"

# What AWS's pseudo parameters stand for in the local stack (moto's default account and region).
LOCAL_PSEUDO_PARAMETERS = {
    "AWS::StackName": "heymarket-bridge-local",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

FUNCTION_TYPE = "AWS::Serverless::Function"
QUEUE_TYPE = "AWS::SQS::Queue"
TABLE_TYPE = "AWS::DynamoDB::Table"
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter"

# CloudFormation properties of AWS::SQS::Queue that are CreateQueue attributes of the same name.
# RedrivePolicy is left out: provision() builds it from the DLQ it creates.
_QUEUE_ATTRIBUTES = frozenset(
    {
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "DelaySeconds",
        "FifoQueue",
        "FifoThroughputLimit",
        "KmsDataKeyReusePeriodSeconds",
        "KmsMasterKeyId",
        "MaximumMessageSize",
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "RedriveAllowPolicy",
        "SqsManagedSseEnabled",
        "VisibilityTimeout",
    }
)
_QUEUE_NOT_ATTRIBUTES = frozenset({"QueueName", "RedrivePolicy", "Tags"})

# Lambda's own defaults, for a function that sets neither the value nor a Global.
_LAMBDA_DEFAULT_TIMEOUT_S = 3
_LAMBDA_DEFAULT_MEMORY_MB = 128


class _CloudFormationLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """SafeLoader that reads the short intrinsic tags (!Ref, !GetAtt, !Sub, !If...) as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template_document(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """The template as plain dicts and lists, intrinsic functions in their long form ({"Ref": ...})."""
    # A SafeLoader subclass: it only adds the intrinsic tags, so it builds no arbitrary objects.
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_CloudFormationLoader)  # noqa: S506
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise ValueError(f"{path} is not a CloudFormation template with Resources")
    # Fn::ForEach blocks (AWS::LanguageExtensions) make only the quiet-source alarms and their metric filters, which the
    # local stack does not run: left out, every entry of Resources is one resource.
    document["Resources"] = {k: v for k, v in document["Resources"].items() if not k.startswith("Fn::ForEach::")}
    return document


@dataclass(frozen=True)
class Route:
    """An HTTP API route and the function behind it."""

    method: str
    path: str
    function_id: str


@dataclass(frozen=True)
class FunctionSpec:
    """A function as the template declares it; `handler` is the attribute of `module` Lambda calls."""

    logical_id: str
    code_dir: Path
    module: str
    handler: str
    timeout_s: int
    memory_mb: int
    environment: Mapping[str, Any]  # Globals merged with the function's own variables, unresolved


@dataclass(frozen=True)
class EventSourceSpec:
    """The SQS event source mapping of a function, resolved through the parameters."""

    function_id: str
    queue_id: str
    batch_size: int
    batching_window_s: int
    max_concurrency: int
    report_batch_item_failures: bool


@dataclass(frozen=True)
class QueueSpec:
    """A queue's CreateQueue attributes as strings (RedrivePolicy excluded)."""

    logical_id: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class LocalResources:
    """What provision() created, to hand to function_environment() and the local stack."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    max_receive_count: int
    webhook_secrets_arn: str
    heymarket_secret_arn: str
    tables: Mapping[str, str] = field(default_factory=dict)  # logical id -> table name
    ssm_parameters: Mapping[str, str] = field(default_factory=dict)  # logical id -> parameter name
    queues: Mapping[str, str] = field(default_factory=dict)  # the other queues (LeadFetchQueue, ...): id -> URL


@dataclass(frozen=True)
class StackTemplate:
    """template.yaml with its parameter values: the single source of the local stack's configuration."""

    path: Path
    document: Mapping[str, Any]
    parameters: dict[str, str]

    @classmethod
    def load(
        cls, path: Path = TEMPLATE_PATH, parameter_overrides: Mapping[str, str | int] | None = None
    ) -> StackTemplate:
        """Read the template and apply parameter overrides; unknown names and invalid values raise ValueError."""
        return cls._with_document(path, load_template_document(path), parameter_overrides)

    def with_parameters(self, parameter_overrides: Mapping[str, str | int]) -> StackTemplate:
        """The same template with other parameter overrides (checked as load() checks them), not read again."""
        return self._with_document(self.path, self.document, parameter_overrides)

    @classmethod
    def _with_document(
        cls, path: Path, document: Mapping[str, Any], parameter_overrides: Mapping[str, str | int] | None
    ) -> StackTemplate:
        declared: dict[str, Any] = document.get("Parameters") or {}
        overrides = dict(parameter_overrides or {})
        unknown = sorted(set(overrides) - set(declared))
        if unknown:
            raise ValueError(f"unknown template parameter(s): {', '.join(unknown)}")
        parameters: dict[str, str] = {}
        for name, declaration in declared.items():
            if name in overrides:
                value = _scalar(overrides[name])
            elif "Default" in declaration:
                value = _scalar(declaration["Default"])
            else:
                raise ValueError(f"template parameter {name} has no Default: pass it in parameter_overrides")
            _check_parameter(name, declaration, value)
            parameters[name] = value
        template = cls(path=path, document=document, parameters=parameters)
        template._check_rules()
        return template

    def _check_rules(self) -> None:
        """Apply the template's Rules as CloudFormation would before a deploy; a failed assertion raises ValueError."""
        rules: Mapping[str, Any] = self.document.get("Rules") or {}
        for name, rule in rules.items():
            condition = rule.get("RuleCondition")
            if condition is not None and not self._rule_truth(condition):
                continue
            for assertion in rule.get("Assertions") or []:
                if not self._rule_truth(assertion["Assert"]):
                    description = " ".join(str(assertion.get("AssertDescription", "")).split())
                    raise ValueError(f"template rule {name} refuses these parameters: {description}")

    def _rule_truth(self, value: Any) -> bool:
        """A rule-specific intrinsic function (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Fn::Contains,
        Fn::EachMemberEquals) over parameters."""
        (function, argument), *rest = value.items()
        if rest:
            raise ValueError(f"not a rule function: {value!r}")
        if function == "Fn::Equals":
            return self._rule_value(argument[0]) == self._rule_value(argument[1])
        if function == "Fn::Not":
            return not self._rule_truth(argument[0])
        if function == "Fn::And":
            return all(self._rule_truth(item) for item in argument)
        if function == "Fn::Or":
            return any(self._rule_truth(item) for item in argument)
        if function == "Fn::Contains":
            return self._rule_value(argument[1]) in [self._rule_value(item) for item in argument[0]]
        if (
            function == "Fn::EachMemberEquals"
        ):  # a list parameter's members (an empty one is [""], as in CloudFormation)
            reference = argument[0]["Ref"] if isinstance(argument[0], Mapping) else None
            if reference is None:
                raise ValueError(f"Fn::EachMemberEquals of something not a parameter: {argument[0]!r}")
            wanted = self._rule_value(argument[1])
            return all(member.strip() == wanted for member in self.parameters[reference].split(","))
        raise ValueError(f"unsupported rule function {function}")

    def _rule_value(self, value: Any) -> str:
        if isinstance(value, Mapping) and set(value) == {"Ref"}:
            return self.parameters[value["Ref"]]
        return _scalar(value)

    def condition(self, name: str) -> bool:
        """The value of one of the template's Conditions with these parameters."""
        return self._evaluator({})[1](name)

    def evaluate(self, value: Any, references: Mapping[str, str] | None = None) -> Any:
        """A template value with its intrinsic functions applied: a string, a list, or NO_VALUE (AWS::NoValue)."""
        return self._evaluator(references or {})[0](value)

    # ------------------------------------------------------------------ reading

    @property
    def _resources(self) -> Mapping[str, Any]:
        resources: Mapping[str, Any] = self.document["Resources"]
        return resources

    def _resource(self, logical_id: str, resource_type: str) -> Mapping[str, Any]:
        resource = self._resources.get(logical_id)
        if not isinstance(resource, Mapping) or resource.get("Type") != resource_type:
            raise KeyError(f"{logical_id} is not an {resource_type} in {self.path}")
        properties: Mapping[str, Any] = resource.get("Properties") or {}
        return properties

    def _function_globals(self) -> Mapping[str, Any]:
        function_globals: Mapping[str, Any] = (self.document.get("Globals") or {}).get("Function") or {}
        return function_globals

    def routes(self) -> list[Route]:
        """Every HTTP route of the template's functions (HttpApi and Api events)."""
        routes: list[Route] = []
        for logical_id, resource in self._resources.items():
            if resource.get("Type") != FUNCTION_TYPE:
                continue
            events: Mapping[str, Any] = (resource.get("Properties") or {}).get("Events") or {}
            for event in events.values():
                if event.get("Type") in ("HttpApi", "Api"):
                    properties = event.get("Properties") or {}
                    routes.append(
                        Route(
                            method=str(properties.get("Method", "ANY")).upper(),
                            path=str(properties.get("Path", "$default")),
                            function_id=logical_id,
                        )
                    )
        return routes

    def function(self, logical_id: str) -> FunctionSpec:
        """The function's code folder, handler, limits and raw environment (Globals applied)."""
        properties = self._resource(logical_id, FUNCTION_TYPE)
        function_globals = self._function_globals()

        def setting(name: str, default: Any = None) -> Any:
            return properties.get(name, function_globals.get(name, default))

        handler = str(setting("Handler", ""))
        module, _, attribute = handler.rpartition(".")
        if not module or not attribute:
            raise ValueError(f"{logical_id} has no Handler of the form module.function: {handler!r}")
        code_uri = setting("CodeUri")
        if not isinstance(code_uri, str):
            raise ValueError(f"{logical_id} has no local CodeUri")
        environment = {
            **((function_globals.get("Environment") or {}).get("Variables") or {}),
            **((properties.get("Environment") or {}).get("Variables") or {}),
        }
        resolve = self._resolver({})
        return FunctionSpec(
            logical_id=logical_id,
            code_dir=(self.path.parent / code_uri).resolve(),
            module=module,
            handler=attribute,
            timeout_s=int(resolve(setting("Timeout", _LAMBDA_DEFAULT_TIMEOUT_S))),
            memory_mb=int(resolve(setting("MemorySize", _LAMBDA_DEFAULT_MEMORY_MB))),
            environment=environment,
        )

    def event_source(self, function_id: str = "SyncFunction") -> EventSourceSpec:
        """The function's SQS event source with BatchSize, window and MaximumConcurrency resolved."""
        properties = self._resource(function_id, FUNCTION_TYPE)
        events: Mapping[str, Any] = properties.get("Events") or {}
        sqs_events = [event.get("Properties") or {} for event in events.values() if event.get("Type") == "SQS"]
        if len(sqs_events) != 1:
            raise ValueError(f"{function_id} has {len(sqs_events)} SQS event sources, expected 1")
        event = sqs_events[0]
        queue_id = _get_att_target(event.get("Queue"), "Arn")
        maximum_concurrency = (event.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if maximum_concurrency is None:
            raise ValueError(f"{function_id}'s SQS event has no ScalingConfig.MaximumConcurrency")
        resolve = self._resolver({})
        return EventSourceSpec(
            function_id=function_id,
            queue_id=queue_id,
            batch_size=int(resolve(event.get("BatchSize", 10))),
            batching_window_s=int(resolve(event.get("MaximumBatchingWindowInSeconds", 0))),
            max_concurrency=int(resolve(maximum_concurrency)),
            report_batch_item_failures="ReportBatchItemFailures" in (event.get("FunctionResponseTypes") or []),
        )

    def queue(self, logical_id: str) -> QueueSpec:
        """The queue's CreateQueue attributes; a property with no CreateQueue equivalent raises ValueError."""
        properties = self._resource(logical_id, QUEUE_TYPE)
        unsupported = sorted(set(properties) - _QUEUE_ATTRIBUTES - _QUEUE_NOT_ATTRIBUTES)
        if unsupported:
            raise ValueError(f"{logical_id} has properties the local stack cannot create: {unsupported}")
        resolve = self._resolver({})
        attributes: dict[str, str] = {}
        for name, value in properties.items():
            if name not in _QUEUE_ATTRIBUTES:
                continue
            attributes[name] = json.dumps(value) if isinstance(value, Mapping) else resolve(value)
        return QueueSpec(logical_id=logical_id, attributes=attributes)

    def _redrive_policy(self) -> Mapping[str, Any]:
        policy = self._resource(CONTACT_QUEUE_ID, QUEUE_TYPE).get("RedrivePolicy")
        if not isinstance(policy, Mapping):
            raise ValueError(f"{CONTACT_QUEUE_ID} has no RedrivePolicy")
        return policy

    def dead_letter_queue_id(self) -> str:
        """Logical id of the queue ContactQueue's RedrivePolicy sends failed messages to."""
        return _get_att_target(self._redrive_policy().get("deadLetterTargetArn"), "Arn")

    def max_receive_count(self) -> int:
        """maxReceiveCount of ContactQueue's RedrivePolicy, resolved through the parameters."""
        return int(self._resolver({})(self._redrive_policy().get("maxReceiveCount")))

    # ------------------------------------------------------------------ local stack

    def provision(
        self,
        sqs: Any,
        secretsmanager: Any,
        *,
        webhook_secrets: Mapping[str, str],
        heymarket_credentials: Mapping[str, str],
        dynamodb: Any = None,
        ssm: Any = None,
    ) -> LocalResources:
        """Create the DLQ, ContactQueue (redriving to it), both secrets, the tables and the SSM parameters,
        under unique names. `dynamodb` and `ssm` default to clients of the SQS client's endpoint."""
        # One suffix per stack, so several local stacks (and parallel tests) can share one moto server.
        suffix = uuid.uuid4().hex[:8]
        dlq_id = self.dead_letter_queue_id()
        max_receive_count = self.max_receive_count()

        dlq_attributes = dict(self.queue(dlq_id).attributes)
        dlq_url = sqs.create_queue(QueueName=f"{dlq_id}-{suffix}", Attributes=dlq_attributes)["QueueUrl"]
        dlq_arn = _queue_arn(sqs, dlq_url)
        queue_attributes = dict(self.queue(CONTACT_QUEUE_ID).attributes)
        queue_attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        )
        created = sqs.create_queue(QueueName=f"{CONTACT_QUEUE_ID}-{suffix}", Attributes=queue_attributes)
        queue_url = created["QueueUrl"]

        webhook_secrets_arn = secretsmanager.create_secret(
            Name=f"{WEBHOOK_SECRETS_ID}-{suffix}", SecretString=json.dumps(dict(webhook_secrets))
        )["ARN"]
        heymarket_secret_arn = secretsmanager.create_secret(
            Name=f"{HEYMARKET_SECRET_ID}-{suffix}", SecretString=json.dumps(dict(heymarket_credentials))
        )["ARN"]
        queues = self._create_other_queues(sqs, suffix, {CONTACT_QUEUE_ID, dlq_id})
        tables = self._create_tables(_sibling_client(sqs, "dynamodb") if dynamodb is None else dynamodb, suffix)
        ssm_parameters = self._create_ssm_parameters(_sibling_client(sqs, "ssm") if ssm is None else ssm, suffix)
        return LocalResources(
            queues=queues,
            tables=tables,
            ssm_parameters=ssm_parameters,
            queue_url=queue_url,
            queue_arn=_queue_arn(sqs, queue_url),
            dlq_url=dlq_url,
            dlq_arn=dlq_arn,
            max_receive_count=max_receive_count,
            webhook_secrets_arn=webhook_secrets_arn,
            heymarket_secret_arn=heymarket_secret_arn,
        )

    def _create_other_queues(self, sqs: Any, suffix: str, known: set[str]) -> dict[str, str]:
        """Create the template's other queues (the fetch queue and its DLQ), dead-letter queues first, each redriving
        as its RedrivePolicy says."""
        ids = [i for i, r in self._resources.items() if isinstance(r, Mapping) and r.get("Type") == QUEUE_TYPE]
        redrives = {i: (self._resource(i, QUEUE_TYPE).get("RedrivePolicy") or {}) for i in ids if i not in known}
        created: dict[str, str] = {}
        for logical_id in sorted(redrives, key=lambda i: bool(redrives[i])):
            attributes = dict(self.queue(logical_id).attributes)
            if redrives[logical_id]:
                target = created[_get_att_target(redrives[logical_id].get("deadLetterTargetArn"), "Arn")]
                count = self._resolver({})(redrives[logical_id].get("maxReceiveCount"))
                policy = {"deadLetterTargetArn": _queue_arn(sqs, target), "maxReceiveCount": int(count)}
                attributes["RedrivePolicy"] = json.dumps(policy)
            url = sqs.create_queue(QueueName=f"{logical_id}-{suffix}", Attributes=attributes)["QueueUrl"]
            created[logical_id] = url
        return created

    def _create_ssm_parameters(self, ssm: Any, suffix: str) -> dict[str, str]:
        """Create the template's SSM parameters with their values. The local stack always creates its own, so a
        parameter named in a template parameter instead (SourceMappingsParameterName) is replaced by it too."""
        resolve = self._resolver({})
        created: dict[str, str] = {}
        for logical_id, resource in self._resources.items():
            if not isinstance(resource, Mapping) or resource.get("Type") != SSM_PARAMETER_TYPE:
                continue
            properties = resource.get("Properties") or {}
            name = f"{logical_id}-{suffix}"
            ssm.put_parameter(Name=name, Value=resolve(properties["Value"]), Type=str(properties.get("Type", "String")))
            created[logical_id] = name
        return created

    def table_ids(self) -> list[str]:
        """The logical ids of the template's DynamoDB tables, in template order."""
        return [
            logical_id
            for logical_id, resource in self._resources.items()
            if isinstance(resource, Mapping) and resource.get("Type") == TABLE_TYPE
        ]

    def _create_tables(self, dynamodb: Any, suffix: str) -> dict[str, str]:
        """Create the template's DynamoDB tables (keys, billing, TTL)."""
        definitions = {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self._resources.items()
            if isinstance(resource, Mapping) and resource.get("Type") == TABLE_TYPE
        }
        if not definitions:
            return {}
        tables: dict[str, str] = {}
        for logical_id, properties in definitions.items():
            name = f"{logical_id}-{suffix}"
            dynamodb.create_table(
                TableName=name,
                AttributeDefinitions=list(properties["AttributeDefinitions"]),
                KeySchema=list(properties["KeySchema"]),
                BillingMode=str(properties.get("BillingMode", "PAY_PER_REQUEST")),
            )
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])},
                )
            tables[logical_id] = name
        return tables

    def function_environment(
        self, function_id: str, resources: LocalResources, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The function's environment (Globals + its own) as strings, pointing at the local resources."""
        dlq_id = self.dead_letter_queue_id()
        # The local stack always provisions its own secrets and parameters, so an existing secret's ARN (or
        # parameter's name) given as a template parameter is replaced by the local one too, whichever branch
        # the template's !If takes.
        mappings_parameter = resources.ssm_parameters.get(SOURCE_MAPPINGS_ID)
        references = {
            **resources.tables,
            **resources.ssm_parameters,
            **({SOURCE_MAPPINGS_PARAMETER: mappings_parameter} if mappings_parameter else {}),
            **{f"{logical_id}.Arn": _table_arn(name) for logical_id, name in resources.tables.items()},
            CONTACT_QUEUE_ID: resources.queue_url,
            dlq_id: resources.dlq_url,
            HEYMARKET_SECRET_ID: resources.heymarket_secret_arn,
            HEYMARKET_SECRET_PARAMETER: resources.heymarket_secret_arn,
            WEBHOOK_SECRETS_ID: resources.webhook_secrets_arn,
            WEBHOOK_SECRETS_PARAMETER: resources.webhook_secrets_arn,
            f"{CONTACT_QUEUE_ID}.Arn": resources.queue_arn,
            f"{CONTACT_QUEUE_ID}.QueueUrl": resources.queue_url,
            f"{CONTACT_QUEUE_ID}.QueueName": resources.queue_url.rsplit("/", 1)[-1],
            f"{dlq_id}.Arn": resources.dlq_arn,
            f"{dlq_id}.QueueUrl": resources.dlq_url,
            f"{dlq_id}.QueueName": resources.dlq_url.rsplit("/", 1)[-1],
            **{logical_id: url for logical_id, url in resources.queues.items()},
            **{f"{logical_id}.QueueName": url.rsplit("/", 1)[-1] for logical_id, url in resources.queues.items()},
        }
        resolve = self._resolver(references)
        environment = {name: resolve(value) for name, value in self.function(function_id).environment.items()}
        environment.update(extra or {})
        return environment

    # ------------------------------------------------------------------ intrinsic functions

    def _resolver(self, references: Mapping[str, str]) -> Callable[[Any], str]:
        """A function resolving a template value to a string: parameters, `references`, conditions."""
        evaluate = self._evaluator(references)[0]

        def resolve(value: Any) -> str:
            result = evaluate(value)
            if not isinstance(result, str):
                raise ValueError(f"{value!r} is not a string: {result!r}")
            return result

        return resolve

    def _evaluator(self, references: Mapping[str, str]) -> tuple[Callable[[Any], Any], Callable[[str], bool]]:
        """(evaluate a template value, evaluate a named condition): parameters, `references`, pseudo parameters."""
        conditions: Mapping[str, Any] = self.document.get("Conditions") or {}

        def ref(name: str) -> Any:
            if name in references:
                return references[name]
            if name in self.parameters:
                return self.parameters[name]
            if name == "AWS::NoValue":
                return NO_VALUE
            if name in LOCAL_PSEUDO_PARAMETERS:
                return LOCAL_PSEUDO_PARAMETERS[name]
            raise ValueError(f"cannot resolve Ref {name} locally")

        def condition(name: str) -> bool:
            if name not in conditions:
                raise ValueError(f"unknown condition {name}")
            return truth(conditions[name])

        def truth(value: Any) -> bool:
            (function, argument), *rest = value.items()
            if rest:
                raise ValueError(f"not a condition: {value!r}")
            if function == "Condition":
                return condition(argument)
            if function == "Fn::Equals":
                return bool(text(argument[0]) == text(argument[1]))
            if function == "Fn::Not":
                return not truth(argument[0])
            if function == "Fn::And":
                return all(truth(item) for item in argument)
            if function == "Fn::Or":
                return any(truth(item) for item in argument)
            raise ValueError(f"unsupported condition function {function}")

        def substitute(template: str, variables: Mapping[str, Any]) -> str:
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name.startswith("!"):  # ${!Literal} stands for the text ${Literal}
                    return "${" + name[1:] + "}"
                if name in variables:
                    return text(variables[name])
                return text({"Fn::GetAtt": name.split(".", 1)} if "." in name else {"Ref": name})

            return re.sub(r"\$\{([^}]+)\}", one, template)

        def text(value: Any) -> str:
            result = evaluate(value)
            if not isinstance(result, str):
                raise ValueError(f"{value!r} is not a string: {result!r}")
            return result

        def evaluate(value: Any) -> Any:
            if isinstance(value, bool):
                return "true" if value else "false"
            if isinstance(value, str | int | float):
                return str(value)
            if isinstance(value, list):
                return [item for item in (evaluate(element) for element in value) if item is not NO_VALUE]
            if not isinstance(value, Mapping):
                raise ValueError(f"cannot resolve {value!r}")
            if len(value) != 1 or not _is_intrinsic(next(iter(value))):
                # A plain object (an IAM statement, say): its members evaluated, those that are NoValue left out.
                members = ((key, evaluate(member)) for key, member in value.items())
                return {key: member for key, member in members if member is not NO_VALUE}
            ((function, argument),) = value.items()
            if function == "Ref":
                return ref(argument)
            if function == "Fn::GetAtt":
                return ref(".".join(argument))
            if function == "Fn::If":
                return evaluate(argument[1] if condition(argument[0]) else argument[2])
            if function == "Fn::Sub":
                if isinstance(argument, str):
                    return substitute(argument, {})
                return substitute(argument[0], argument[1])
            if function == "Fn::Join":
                items = evaluate(argument[1])
                return str(argument[0]).join(text(item) for item in items)
            if function == "Fn::Split":
                return text(argument[1]).split(str(argument[0]))
            if function == "Fn::Select":
                items = evaluate(argument[1])
                return items[int(text(argument[0]))]
            raise ValueError(f"unsupported intrinsic function {function}")

        return evaluate, condition


class _NoValue:
    """AWS::NoValue: the property or list item it stands for is left out."""

    def __repr__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()


def _is_intrinsic(key: str) -> bool:
    return key == "Ref" or key.startswith("Fn::")


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_parameter(name: str, declaration: Mapping[str, Any], value: str) -> None:
    """Apply the constraints CloudFormation would, so the local stack refuses what a deploy would refuse."""
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in {_scalar(item) for item in allowed}:
        raise ValueError(f"parameter {name}={value!r} is not one of {allowed}")
    pattern = declaration.get("AllowedPattern")
    # A CommaDelimitedList's pattern must match each value in the list (CloudFormation's parameters reference).
    items = value.split(",") if declaration.get("Type") == "CommaDelimitedList" else [value]
    if pattern is not None and any(re.fullmatch(pattern, item) is None for item in items):
        raise ValueError(f"parameter {name}={value!r} does not match {pattern}")
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"parameter {name}={value!r} is not a number") from None
        if "MinValue" in declaration and number < float(declaration["MinValue"]):
            raise ValueError(f"parameter {name}={value} is below its MinValue {declaration['MinValue']}")
        if "MaxValue" in declaration and number > float(declaration["MaxValue"]):
            raise ValueError(f"parameter {name}={value} is above its MaxValue {declaration['MaxValue']}")


def _get_att_target(value: Any, attribute: str) -> str:
    """The logical id X of `!GetAtt X.<attribute>`."""
    if isinstance(value, Mapping) and "Fn::GetAtt" in value:
        target, name = value["Fn::GetAtt"]
        if name == attribute:
            return str(target)
    raise ValueError(f"expected !GetAtt <resource>.{attribute}, found {value!r}")


def _sibling_client(client: Any, service: str) -> Any:
    """A client of another service at the same endpoint and region: a local endpoint (moto server) serves every
    service, while AWS's own endpoints are per service (None lets boto3 pick)."""
    import boto3

    endpoint = str(client.meta.endpoint_url)
    local = None if ".amazonaws.com" in endpoint else endpoint
    return boto3.client(service, endpoint_url=local, region_name=client.meta.region_name)  # type: ignore[call-overload]


def _queue_arn(sqs: Any, queue_url: str) -> str:
    answer = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return str(answer["Attributes"]["QueueArn"])


def _table_arn(name: str) -> str:
    region, account = LOCAL_PSEUDO_PARAMETERS["AWS::Region"], LOCAL_PSEUDO_PARAMETERS["AWS::AccountId"]
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"
