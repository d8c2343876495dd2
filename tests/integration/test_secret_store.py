"""Reading JSON secrets: what no retry can fix is told apart from what may work later."""

from __future__ import annotations

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from moto import mock_aws

from heymarket_bridge.adapters.aws.secrets import JsonSecretStore
from heymarket_bridge.domain.failures import SecretMisconfigured


@mock_aws
def test_a_secret_that_does_not_exist_is_misconfigured_and_named_with_aws_s_error_code() -> None:
    store = JsonSecretStore(SecretsProvider(boto3_client=boto3.client("secretsmanager")))

    with pytest.raises(SecretMisconfigured, match=r"team/heymarket-typo: ResourceNotFoundException") as raised:
        store.get("team/heymarket-typo")

    assert raised.value.code == "ResourceNotFoundException"


@mock_aws
def test_a_secret_that_exists_is_read_as_its_json_object() -> None:
    client = boto3.client("secretsmanager")
    arn = client.create_secret(Name="team/heymarket", SecretString='{"api_key": "k"}')["ARN"]

    assert JsonSecretStore(SecretsProvider(boto3_client=client)).get(arn) == {"api_key": "k"}
