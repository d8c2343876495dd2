"""A stack the setup commands and the doctor act on: moto resources made from template.yaml, as a `Target`."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import boto3
from moto import mock_aws

from heymarket_bridge_tools.ops import StackQueues
from heymarket_bridge_tools.target import Target
from heymarket_local.template import SOURCE_MAPPINGS_ID, StackTemplate

WEBHOOK_BASE = "https://abc.execute-api.us-east-1.amazonaws.com/webhooks/"
SANDBOX_CREDENTIALS = {"secret_id": "sandbox-secret-id", "secret_key": "sandbox-secret-key"}


@contextmanager
def moto_stack(
    webhook_secrets: Mapping[str, str],
    *,
    mappings: Any = None,
    parameters: Mapping[str, str] | None = None,
    heymarket_url: str = "http://127.0.0.1:9",
) -> Iterator[Target]:
    """A deployed-like stack in moto: its secrets, queues and mappings parameter, its outputs as CloudFormation
    gives them (WebhookUrl, WebhookSecretsArn, SourceMappingsParameterName, HeymarketSecretArn)."""
    with mock_aws():
        ssm = boto3.client("ssm")
        resources = StackTemplate.load().provision(
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            webhook_secrets=webhook_secrets,
            heymarket_credentials=SANDBOX_CREDENTIALS,
            dynamodb=boto3.client("dynamodb"),
            ssm=ssm,
        )
        parameter = resources.ssm_parameters[SOURCE_MAPPINGS_ID]
        if mappings is not None:
            ssm.put_parameter(Name=parameter, Value=json.dumps(mappings), Type="String", Overwrite=True)
        yield Target(
            "stack hb (us-east-1)",
            StackQueues(resources.queue_url, resources.dlq_url, resources.heymarket_secret_arn, heymarket_url),
            lambda service: boto3.client(service),
            WEBHOOK_BASE.removesuffix("/webhooks/"),
            stack_name="hb",
            outputs={
                "WebhookUrl": WEBHOOK_BASE,
                "WebhookSecretsArn": resources.webhook_secrets_arn,
                "SourceMappingsParameterName": parameter,
                "HeymarketSecretArn": resources.heymarket_secret_arn,
            },
            parameters=dict(parameters or {}),
        )


def held_secret(target: Target) -> dict[str, Any]:
    """The webhook secret as Secrets Manager holds it now."""
    arn = target.outputs["WebhookSecretsArn"]
    secret: dict[str, Any] = json.loads(target.clients("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])
    return secret
