"""The field mappings in their SSM parameter: validated at start-up, re-read so a deploy reaches warm instances."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from moto import mock_aws

from heymarket_bridge.adapters.aws.parameters import MappingsUnavailable, SourceMappingsParameter
from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.settings import ConfigError
from tests.doubles.clock import FakeClock
from tests.doubles.ssm import FakeSsm

NAME = "/bridge/mappings"
TYPEFORM_MOBILE = '{"typeform": {"phone": "mobile"}}'
TYPEFORM_CELL = '{"typeform": {"phone": "cell"}}'


@pytest.fixture
def ssm() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_the_mappings_are_read_from_ssm_through_powertools(ssm: Any) -> None:
    # Given the mappings stored as the template stores them
    ssm.put_parameter(Name=NAME, Value=TYPEFORM_MOBILE, Type="String")

    # When the function starts
    mappings = SourceMappingsParameter(SSMProvider(boto3_client=ssm), NAME)

    # Then each source's mapping is there
    assert mappings == {"typeform": SourceMapping({"phone": ("mobile",)})}


def test_an_invalid_mapping_stops_the_start_up_naming_the_parameter() -> None:
    with pytest.raises(ConfigError, match=f"SSM parameter {NAME} .*telephone"):
        SourceMappingsParameter(FakeSsm('{"typeform": {"telephone": "x"}}'), NAME)  # type: ignore[arg-type]


def test_an_unreachable_ssm_at_start_up_is_transient() -> None:
    ssm = FakeSsm("{}")
    ssm.unreachable = True

    with pytest.raises(MappingsUnavailable, match=NAME):
        SourceMappingsParameter(ssm, NAME)  # type: ignore[arg-type]


def test_a_changed_mapping_reaches_a_warm_instance_after_max_age() -> None:
    # Given a started function and then a deploy that changes the mapping
    ssm, clock = FakeSsm(TYPEFORM_MOBILE), FakeClock()
    mappings = SourceMappingsParameter(ssm, NAME, max_age_s=300, clock=clock)  # type: ignore[arg-type]
    ssm.value = TYPEFORM_CELL

    # When a webhook arrives before, then after, max_age
    clock.now += 299
    before = mappings["typeform"]
    clock.now += 2
    after = mappings["typeform"]

    # Then the new mapping is used from then on, read once
    assert before == SourceMapping({"phone": ("mobile",)})
    assert after == SourceMapping({"phone": ("cell",)})
    assert ssm.reads == 2


def test_an_invalid_new_mapping_keeps_the_last_valid_one() -> None:
    ssm, clock = FakeSsm(TYPEFORM_MOBILE), FakeClock()
    mappings = SourceMappingsParameter(ssm, NAME, max_age_s=300, clock=clock)  # type: ignore[arg-type]
    ssm.value = "{not json"

    clock.now += 301

    assert mappings["typeform"] == SourceMapping({"phone": ("mobile",)})


def test_an_unreachable_ssm_later_keeps_the_mappings_and_is_not_asked_again_at_every_webhook() -> None:
    # Given a started function, then SSM stalls
    ssm, clock = FakeSsm(TYPEFORM_MOBILE), FakeClock()
    mappings = SourceMappingsParameter(ssm, NAME, max_age_s=300, clock=clock)  # type: ignore[arg-type]
    ssm.unreachable = True

    # When many webhooks arrive after max_age
    clock.now += 301
    seen = [mappings.get("typeform") for _ in range(50)]

    # Then they all use the last mappings, and SSM was tried once, not once per webhook
    assert seen == [SourceMapping({"phone": ("mobile",)})] * 50
    assert ssm.reads == 2
