from __future__ import annotations

import pytest

from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from heymarket_bridge.settings import (
    ApiMode,
    ConfigError,
    FetchSettings,
    IngestSettings,
    SyncSettings,
    parse_source_mappings,
)


def test_ingest_settings_apply_defaults() -> None:
    settings = IngestSettings.from_env({"QUEUE_URL": "https://q", "WEBHOOK_SECRETS_ARN": "arn:s"})
    assert settings.default_country == "US"
    assert settings.max_contacts_per_request == 500
    assert settings.allow_unauthenticated == frozenset()


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRETS_ARN"):
        IngestSettings.from_env({"QUEUE_URL": "https://q"})


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEFAULT_COUNTRY", "USA"), ("MAX_BODY_BYTES", "-1"), ("MAX_CONTACTS_PER_REQUEST", "ten")],
)
def test_a_bad_value_is_named_with_its_value(name: str, value: str) -> None:
    env = {"QUEUE_URL": "https://q", "WEBHOOK_SECRETS_ARN": "arn:s", name: value}
    with pytest.raises(ConfigError, match=name):
        IngestSettings.from_env(env)


def test_unauthenticated_sources_are_a_lower_case_set() -> None:
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "ALLOW_UNAUTHENTICATED_SOURCES": " Generic, typeform ,"}
    assert IngestSettings.from_env(env).allow_unauthenticated == {"generic", "typeform"}


def test_each_sync_consumer_gets_its_share_of_the_request_budget() -> None:
    env = {
        "HEYMARKET_SECRET_ARN": "s",
        "DLQ_URL": "d",
        "QUEUE_URL": "q",
        "HEYMARKET_RATE_LIMIT_PER_MINUTE": "500",
        "SYNC_MAX_CONCURRENCY": "4",
        "HEYMARKET_BASE_URL": "http://127.0.0.1:9/",
    }
    settings = SyncSettings.from_env(env)
    assert settings.requests_per_minute_per_consumer == 125
    assert settings.heymarket_base_url == "http://127.0.0.1:9"


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ConfigError, match="HEYMARKET_BASE_URL"):
        SyncSettings.from_env(
            {"HEYMARKET_SECRET_ARN": "s", "DLQ_URL": "d", "QUEUE_URL": "q", "HEYMARKET_BASE_URL": "ftp://x"}
        )


def test_the_mappings_are_named_by_their_ssm_parameter_not_held_in_the_environment() -> None:
    # Lambda allows 4 KB of environment variables per function in all: the mappings live in an SSM parameter.
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "SOURCE_MAPPINGS_PARAMETER": "/bridge/mappings"}

    settings = IngestSettings.from_env(env)

    assert settings.source_mappings_parameter == "/bridge/mappings"
    assert settings.mappings == {}


def test_source_mappings_are_read_per_source() -> None:
    raw = '{"typeform": {"phone": "mobile", "constants": {"tags": [7]}}}'

    assert parse_source_mappings(raw, "SSM parameter m", SOURCE_NAMES) == {
        "typeform": SourceMapping({"phone": ("mobile",)}, {}, {"tags": [7]})
    }


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("{not json", "not valid JSON"),
        ('["typeform"]', "JSON object"),
        ('{"typefrom": {}}', "typefrom"),
        ('{"typeform": {"telephone": "x"}}', "telephone"),
    ],
)
def test_bad_source_mappings_are_configuration_errors_naming_where_they_come_from(raw: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as error:
        parse_source_mappings(raw, "SSM parameter /bridge/mappings (SOURCE_MAPPINGS_PARAMETER)", SOURCE_NAMES)
    assert "/bridge/mappings (SOURCE_MAPPINGS_PARAMETER)" in str(error.value)


SYNC_ENV = {"HEYMARKET_SECRET_ARN": "arn:h", "DLQ_URL": "https://dlq", "QUEUE_URL": "https://queue"}


def test_sync_settings_default_to_v2_and_to_overwriting_in_v1() -> None:
    settings = SyncSettings.from_env(SYNC_ENV)

    assert (settings.api_mode, settings.v1_overwrite) == (ApiMode.V2, True)


def test_v1_mode_and_its_overwrite_flag_are_read() -> None:
    settings = SyncSettings.from_env({**SYNC_ENV, "HEYMARKET_API_MODE": "v1", "HEYMARKET_V1_OVERWRITE": "false"})

    assert (settings.api_mode, settings.v1_overwrite) == (ApiMode.V1, False)


@pytest.mark.parametrize(("name", "value"), [("HEYMARKET_API_MODE", "v3"), ("HEYMARKET_V1_OVERWRITE", "yes")])
def test_a_bad_api_mode_or_overwrite_flag_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        SyncSettings.from_env({**SYNC_ENV, name: value})


def test_the_public_base_url_is_read_without_its_trailing_slash() -> None:
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "PUBLIC_BASE_URL": "https://hooks.example.com/bridge/"}

    assert IngestSettings.from_env(env).public_base_url == "https://hooks.example.com/bridge"


@pytest.mark.parametrize(
    "value",
    [
        "http://hooks.example.com",
        "https://hooks.example.com/?x=1",
        "hooks.example.com",
        "http://127.0.0.1.example.com",
        "http://localhost@hooks.example.com",
    ],
)
def test_a_public_base_url_that_is_not_a_plain_https_url_is_named(value: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        IngestSettings.from_env({"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "PUBLIC_BASE_URL": value})


@pytest.mark.parametrize("value", ["http://127.0.0.1:3000", "http://localhost:8080/bridge"])
def test_the_local_stack_s_own_http_url_on_this_machine_is_a_public_base_url(value: str) -> None:
    # The local stack serves http on 127.0.0.1: signatures covering the URL are checked against the URL it serves.
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "PUBLIC_BASE_URL": value}

    assert IngestSettings.from_env(env).public_base_url == value


def test_sync_settings_read_the_contact_state_table_and_its_options() -> None:
    settings = SyncSettings.from_env(
        {
            **SYNC_ENV,
            "CONTACT_STATE_TABLE": "ContactStateTable-abc",
            "SKIP_UNCHANGED_CONTACTS": "false",
            "CONTACT_TOMBSTONE_SECONDS": "1900800",
            "CONTACT_LEASE_MARGIN_SECONDS": "2.5",
        }
    )

    assert (settings.contact_state_table, settings.skip_unchanged, settings.tombstone_s, settings.lease_margin_s) == (
        "ContactStateTable-abc",
        False,
        1_900_800,
        2.5,
    )


def test_without_a_contact_state_table_the_sync_settings_say_so_and_skip_unchanged_contacts_by_default() -> None:
    settings = SyncSettings.from_env(SYNC_ENV)

    assert (settings.contact_state_table, settings.skip_unchanged, settings.lease_margin_s) == ("", True, 30.0)


@pytest.mark.parametrize(
    ("name", "value"),
    [("SKIP_UNCHANGED_CONTACTS", "maybe"), ("CONTACT_TOMBSTONE_SECONDS", "0"), ("CONTACT_LEASE_MARGIN_SECONDS", "-1")],
)
def test_a_bad_contact_state_option_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        SyncSettings.from_env({**SYNC_ENV, name: value})


# ------------------------------------------------------------------ the fetch function (Meta, Acuity)

FETCH_ENV = {"FETCH_QUEUE_URL": "f", "FETCH_DLQ_URL": "fd", "QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s"}


def test_the_fetch_settings_default_to_the_vendors_https_addresses_and_a_graph_version() -> None:
    settings = FetchSettings.from_env(FETCH_ENV)

    assert (settings.graph_base_url, settings.acuity_base_url) == (
        "https://graph.facebook.com",
        "https://acuityscheduling.com",
    )
    assert settings.graph_api_version.startswith("v")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GRAPH_BASE_URL", "http://graph.facebook.com"),
        ("ACUITY_BASE_URL", "http://evil.example"),
        ("GRAPH_API_VERSION", "23"),
        ("GRAPH_API_VERSION", "v23.0/../me"),
    ],
)
def test_a_vendor_address_in_clear_or_a_version_that_is_not_one_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        FetchSettings.from_env({**FETCH_ENV, name: value})


def test_a_stand_in_on_this_machine_may_be_http() -> None:
    settings = FetchSettings.from_env({**FETCH_ENV, "GRAPH_BASE_URL": "http://127.0.0.1:8123"})

    assert settings.graph_base_url == "http://127.0.0.1:8123"


@pytest.mark.parametrize(
    ("raw", "limits"),
    [
        ("", (30_000, {})),
        ("600", (600, {})),
        ("30000, Generic=600 ,typeform=20", (30_000, {"generic": 600, "typeform": 20})),
        ("generic=600", (30_000, {"generic": 600})),
    ],
)
def test_source_contacts_per_minute_is_a_default_and_source_pairs(raw: str, limits: object) -> None:
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "SOURCE_CONTACTS_PER_MINUTE": raw}
    assert IngestSettings.from_env(env).contacts_per_minute == limits


@pytest.mark.parametrize(
    ("name", "value"),
    [("SOURCE_CONTACTS_PER_MINUTE", "generic=0"), ("SOURCE_CONTACTS_PER_MINUTE", "=5"), ("LOAD_SHED_MARGIN", "1.5")],
)
def test_a_bad_limit_is_named_with_its_value(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        IngestSettings.from_env({"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", name: value})


@pytest.mark.parametrize(("raw", "executions"), [("", 0), ("0", 0), ("50", 50)])
def test_the_ingest_reserved_concurrency_is_read_empty_or_0_meaning_unreserved(raw: str, executions: int) -> None:
    env = {"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "INGEST_RESERVED_CONCURRENCY": raw}
    assert IngestSettings.from_env(env).ingest_executions == executions


@pytest.mark.parametrize("raw", ["-1", "fifty"])
def test_a_bad_ingest_reserved_concurrency_is_named_with_its_value(raw: str) -> None:
    with pytest.raises(ConfigError, match="INGEST_RESERVED_CONCURRENCY"):
        IngestSettings.from_env({"QUEUE_URL": "q", "WEBHOOK_SECRETS_ARN": "s", "INGEST_RESERVED_CONCURRENCY": raw})
