"""Typed, validated configuration, read once per cold start from the function's environment."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import field
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.domain.records import record

if TYPE_CHECKING:  # the ingest and fetch functions load it through their sources; the sync function never needs it
    from heymarket_bridge.domain.mapping import SourceMapping

T = TypeVar("T")

DEFAULT_HEYMARKET_URL = "https://api.heymarket.com"


class ConfigError(ValueError):
    """A required environment variable is missing or has a bad value."""


class ApiMode(StrEnum):
    """Which Heymarket endpoint receives upserts: v2 bulk create/update, or the legacy v1 batch create."""

    V2 = "v2"
    V1 = "v1"


def _read(env: Mapping[str, str], name: str, parse: Callable[[str], T], default: T | None = None) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        if default is None:
            raise ConfigError(f"environment variable {name} is required")
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}={raw!r} is invalid: {exc}") from exc


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("must be a positive integer")
    return value


def _whole_number(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("must be 0 or a positive integer")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value <= 0:
        raise ValueError("must be a positive number")
    return value


def _delay_seconds(raw: str) -> int:
    value = int(raw)
    if not 0 <= value <= 900:
        raise ValueError("must be between 0 and 900 (SQS DelaySeconds)")
    return value


def _country(raw: str) -> str:
    if len(raw) != 2 or not raw.isalpha():
        raise ValueError("must be an ISO 3166 alpha-2 code such as US")
    return raw.upper()


def _url(raw: str) -> str:
    # https only: every request carries the JWT. http:// only to this machine, for a local test double.
    if not (raw.startswith("https://") or _LOCAL_HTTP.match(raw)):
        raise ValueError("must be an https:// URL (http:// only on 127.0.0.1 or localhost, for a local test)")
    return raw.rstrip("/")


_LOCAL_HTTP = re.compile(r"http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/|$)")


def _api_mode(raw: str) -> ApiMode:
    try:
        return ApiMode(raw.lower())
    except ValueError:
        raise ValueError(f"must be one of {', '.join(mode.value for mode in ApiMode)}") from None


def _flag(raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return raw.lower() == "true"


def _names(raw: str) -> frozenset[str]:
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


DEFAULT_SOURCE_LIMITS: tuple[int, dict[str, int]] = (30_000, {})


def _per_source_limits(raw: str) -> tuple[int, dict[str, int]]:
    """SourceContactsPerMinute: "30000" (every source), "30000,generic=600" (generic 600, the others 30000) or
    "generic=600" (generic 600, the others the default 30000)."""
    default, limits = 30_000, dict[str, int]()
    for part in (part.strip() for part in raw.split(",")):
        if not part:
            continue
        name, equals, value = part.rpartition("=")
        if equals and not name.strip():
            raise ValueError(f"{part!r} names no source")
        if equals:
            limits[name.strip().lower()] = _positive_int(value.strip())
        else:
            default = _positive_int(value.strip())
    return default, limits


def _fraction(raw: str) -> float:
    value = float(raw)
    if not 0 <= value <= 1:
        raise ValueError("must be between 0 and 1")
    return value


def parse_source_mappings(raw: str, origin: str, source_names: frozenset[str]) -> dict[str, SourceMapping]:
    """The field mappings JSON (heymarket_bridge.domain.mapping) read from `origin` (named in the error) for the
    sources named `source_names` (heymarket_bridge.ingest.sources.base.SOURCE_NAMES, passed in by the caller): `{}`
    for none; raises ConfigError naming the origin and what is wrong (not JSON, unknown source or field)."""
    from heymarket_bridge.domain.mapping import parse_mappings  # loaded already by the sources of its callers

    try:
        return parse_mappings(raw, source_names)
    except ValueError as exc:
        raise ConfigError(f"{origin} is invalid: {exc}") from exc


# The local stack serves http on this machine, and a signature check there must rebuild the URL it serves
# (tools/heymarket_local); no sender reaches a deployment through a loopback URL, so allowing it risks nothing.
_LOOPBACK_HTTP = re.compile(r"http://(127\.0\.0\.1|localhost)(:[0-9]+)?(/.*)?")


def _public_url(raw: str) -> str:
    secure = raw.startswith("https://") or _LOOPBACK_HTTP.fullmatch(raw) is not None
    if not secure or any(ch in raw for ch in "?# "):
        raise ValueError("must be an https:// URL without query or fragment, e.g. https://hooks.example.com/bridge")
    return raw.rstrip("/")


@record
class IngestSettings:
    """Configuration of the webhook ingest function."""

    queue_url: str
    webhook_secrets_arn: str
    allow_unauthenticated: frozenset[str] = frozenset()
    default_country: str = "US"
    max_body_bytes: int = 1_048_576
    max_contacts_per_request: int = 500
    secrets_max_age_s: int = 300
    # Per-source field mappings (see heymarket_bridge.domain.mapping); empty means every default. from_env() leaves them
    # empty: they live in the SSM parameter named by SOURCE_MAPPINGS_PARAMETER (an environment variable cannot
    # hold them: Lambda allows 4 KB of variables per function), which the composition root reads into this field.
    mappings: Mapping[str, SourceMapping] = field(default_factory=dict)
    source_mappings_parameter: str = ""
    # DynamoDB table recording deliveries already buffered (empty: repeated deliveries are not detected).
    idempotency_table: str = ""
    idempotency_retention_s: int = 4 * 24 * 3600
    # The URL senders call up to /webhooks (a custom domain with its API mapping path), for signatures that cover
    # the URL (HubSpot); empty: the URL API Gateway saw.
    public_base_url: str = ""
    # HubSpot requests must carry the v3 signature (the only one that signs a time): v1/v2 alone are refused.
    hubspot_require_v3: bool = False
    # The DLQ, where contacts refused for their content are written as refusal letters (empty: only answered).
    dlq_url: str = ""
    # LeadFetchQueue: the records id-only notifications name (Meta, Acuity), to fetch (empty: such sources get 503).
    fetch_queue_url: str = ""
    # Contacts per minute per source (heymarket_bridge.ingest.limits): (default, {source: limit}).
    contacts_per_minute: tuple[int, Mapping[str, int]] = DEFAULT_SOURCE_LIMITS
    # Load shed: new deliveries are refused (429) while the queue holds more than the sync side can drain within the
    # queue's retention (Heymarket's rate x HeymarketMaxBatch x retention), times this margin; 0: never shed.
    load_shed_margin: float = 0.0
    heymarket_rate_per_minute: int = 500
    heymarket_max_batch: int = 100
    queue_retention_s: int = 345_600
    queue_depth_max_age_s: int = 10
    # IngestReservedConcurrency: the most executions counting at once (0: not reserved, every delivery is counted in
    # the shared counter); with it, each execution counts a small share of a limit locally (ingest/limits.py).
    ingest_executions: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if env is None else env
        return cls(
            queue_url=_read(env, "QUEUE_URL", str),
            webhook_secrets_arn=_read(env, "WEBHOOK_SECRETS_ARN", str),
            allow_unauthenticated=_read(env, "ALLOW_UNAUTHENTICATED_SOURCES", _names, frozenset()),
            default_country=_read(env, "DEFAULT_COUNTRY", _country, "US"),
            max_body_bytes=_read(env, "MAX_BODY_BYTES", _positive_int, 1_048_576),
            max_contacts_per_request=_read(env, "MAX_CONTACTS_PER_REQUEST", _positive_int, 500),
            source_mappings_parameter=_read(env, "SOURCE_MAPPINGS_PARAMETER", str, ""),
            idempotency_table=_read(env, "IDEMPOTENCY_TABLE", str, ""),
            idempotency_retention_s=_read(env, "IDEMPOTENCY_RETENTION_SECONDS", _positive_int, 4 * 24 * 3600),
            public_base_url=_read(env, "PUBLIC_BASE_URL", _public_url, ""),
            hubspot_require_v3=_read(env, "HUBSPOT_REQUIRE_SIGNATURE_V3", _flag, False),
            dlq_url=_read(env, "DLQ_URL", str, ""),
            contacts_per_minute=_read(env, "SOURCE_CONTACTS_PER_MINUTE", _per_source_limits, DEFAULT_SOURCE_LIMITS),
            load_shed_margin=_read(env, "LOAD_SHED_MARGIN", _fraction, 0.0),
            heymarket_rate_per_minute=_read(env, "HEYMARKET_RATE_LIMIT_PER_MINUTE", _positive_int, 500),
            heymarket_max_batch=_read(env, "HEYMARKET_MAX_BATCH", _positive_int, 100),
            queue_retention_s=_read(env, "QUEUE_RETENTION_SECONDS", _positive_int, 345_600),
            queue_depth_max_age_s=_read(env, "QUEUE_DEPTH_MAX_AGE_SECONDS", _positive_int, 10),
            fetch_queue_url=_read(env, "FETCH_QUEUE_URL", str, ""),
            ingest_executions=_read(env, "INGEST_RESERVED_CONCURRENCY", _whole_number, 0),
        )


def _graph_version(raw: str) -> str:
    if not re.fullmatch(r"v[0-9]{1,3}\.[0-9]{1,2}", raw):
        raise ValueError("must be a Graph API version such as v23.0")
    return raw


@record
class FetchSettings:
    """Configuration of the function that fetches what id-only notifications name (Meta leads, Acuity appointments)
    and buffers their contacts as the ingest function does."""

    fetch_queue_url: str  # LeadFetchQueue: notices waiting or retried are put back on it
    fetch_dlq_url: str  # LeadFetchDeadLetterQueue: notices that cannot be fetched, with the reason
    queue_url: str  # ContactQueue
    webhook_secrets_arn: str
    dlq_url: str = ""  # ContactDeadLetterQueue: refusal letters
    default_country: str = "US"
    source_mappings_parameter: str = ""
    mappings: Mapping[str, SourceMapping] = field(default_factory=dict)
    idempotency_table: str = ""
    idempotency_retention_s: int = 4 * 24 * 3600
    secrets_max_age_s: int = 300
    graph_base_url: str = "https://graph.facebook.com"
    graph_api_version: str = "v23.0"
    acuity_base_url: str = "https://acuityscheduling.com"
    max_attempts: int = 10
    wait_delay_s: int = 900
    max_wait_s: int = 345_600

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FetchSettings:
        env = os.environ if env is None else env
        return cls(
            fetch_queue_url=_read(env, "FETCH_QUEUE_URL", str),
            fetch_dlq_url=_read(env, "FETCH_DLQ_URL", str),
            queue_url=_read(env, "QUEUE_URL", str),
            webhook_secrets_arn=_read(env, "WEBHOOK_SECRETS_ARN", str),
            dlq_url=_read(env, "DLQ_URL", str, ""),
            default_country=_read(env, "DEFAULT_COUNTRY", _country, "US"),
            source_mappings_parameter=_read(env, "SOURCE_MAPPINGS_PARAMETER", str, ""),
            idempotency_table=_read(env, "IDEMPOTENCY_TABLE", str, ""),
            idempotency_retention_s=_read(env, "IDEMPOTENCY_RETENTION_SECONDS", _positive_int, 4 * 24 * 3600),
            graph_base_url=_read(env, "GRAPH_BASE_URL", _url, "https://graph.facebook.com"),
            graph_api_version=_read(env, "GRAPH_API_VERSION", _graph_version, "v23.0"),
            acuity_base_url=_read(env, "ACUITY_BASE_URL", _url, "https://acuityscheduling.com"),
            max_attempts=_read(env, "FETCH_MAX_ATTEMPTS", _positive_int, 10),
            wait_delay_s=_read(env, "WAIT_DELAY_SECONDS", _delay_seconds, 900),
            max_wait_s=_read(env, "QUEUE_RETENTION_SECONDS", _positive_int, 345_600),
        )


@record
class SyncSettings:
    """Configuration of the queue consumer that calls Heymarket."""

    heymarket_secret_arn: str
    dlq_url: str
    # The contact queue itself: messages that wait for a configuration fix are put back on it.
    queue_url: str = ""
    heymarket_base_url: str = DEFAULT_HEYMARKET_URL
    max_batch: int = 100
    rate_limit_per_minute: int = 500
    max_concurrency: int = 2
    max_receive_count: int = 5
    connect_timeout_s: float = 3.05
    read_timeout_s: float = 15.0
    secrets_max_age_s: int = 300
    # Time kept back from the Lambda deadline to report batch item failures and write the DLQ.
    deadline_reserve_s: float = 5.0
    api_mode: ApiMode = ApiMode.V2
    # v1 mode only: whether the batch create overwrites contacts whose phone already exists (else skips them).
    v1_overwrite: bool = True
    # While the bridge is misconfigured, messages are put back with this delay (SQS allows 0-900 s) ...
    wait_delay_s: int = 900
    # ... for at most as long as the queue keeps messages (ContactQueue's MessageRetentionPeriod), then dead-lettered.
    max_wait_s: int = 345_600
    # Tags by name and lists (heymarket_bridge.sync.lists.rules): the table remembering the tags and lists the bridge
    # creates
    # (empty: names of lists and tag creation are refused), the stack name in the lists' local_id, whether unknown tag
    # names are created, whether opted-out contacts are taken off their lists, and how long (SQS DelaySeconds) a list
    # write that failed waits before its follow-up is received.
    managed_lists_table: str = ""
    stack_name: str = "heymarket-bridge"
    create_missing_tags: bool = False
    remove_opted_out_from_lists: bool = True
    list_retry_delay_s: int = 60
    # The contact state table (heymarket_bridge.sync.state.rules); empty: none (each batch is ordered on its own, every
    # contact is looked up, every upsert is sent).
    contact_state_table: str = ""
    # Upserts that would change nothing the table knows of are not sent; false sends every one.
    skip_unchanged: bool = True
    # How long a delete keeps older upserts of its phone out: longer than a message can wait in the queue and the DLQ.
    tombstone_s: int = 1_900_800
    # How long a contact's lease outlasts its invocation's deadline, and is kept after a request whose outcome is
    # unknown (it may still take effect): Lambda hosts' clocks, and a request Heymarket is still processing.
    lease_margin_s: float = 30.0
    # The consent record (heymarket_bridge.adapters.aws.consent_log): its table (empty: none kept) and how many days
    # each
    # change is kept.
    consent_record_table: str = ""
    consent_record_retention_days: int = 1827
    # Sources (and their consent field) that may opt a person back in after an opt-out
    # (heymarket_bridge.domain.reconsent).
    reconsent: ReconsentRule = NO_RECONSENT
    # While Heymarket is down (heymarket_bridge.sync.settle.Backoff): contacts are put back for half as long as they
    # have waited, at least the first and at most the second delay (SQS DelaySeconds, 0-900), and dead-lettered once
    # waiting again would bring them within the margin of the queue's retention.
    outage_base_delay_s: int = 60
    outage_max_delay_s: int = 900
    outage_expiry_margin_s: int = 3600
    # The circuit of an execution environment (heymarket_bridge.adapters.heymarket.circuit): this many calls in a row
    # that Heymarket fails open it, for this many seconds before one probe.
    circuit_failures: int = 3
    circuit_open_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SyncSettings:
        env = os.environ if env is None else env
        return cls(
            heymarket_secret_arn=_read(env, "HEYMARKET_SECRET_ARN", str),
            dlq_url=_read(env, "DLQ_URL", str),
            queue_url=_read(env, "QUEUE_URL", str),
            heymarket_base_url=_read(env, "HEYMARKET_BASE_URL", _url, DEFAULT_HEYMARKET_URL),
            max_batch=_read(env, "HEYMARKET_MAX_BATCH", _positive_int, 100),
            rate_limit_per_minute=_read(env, "HEYMARKET_RATE_LIMIT_PER_MINUTE", _positive_int, 500),
            max_concurrency=_read(env, "SYNC_MAX_CONCURRENCY", _positive_int, 2),
            max_receive_count=_read(env, "MAX_RECEIVE_COUNT", _positive_int, 5),
            connect_timeout_s=_read(env, "HEYMARKET_CONNECT_TIMEOUT", _positive_float, 3.05),
            read_timeout_s=_read(env, "HEYMARKET_READ_TIMEOUT", _positive_float, 15.0),
            deadline_reserve_s=_read(env, "SYNC_DEADLINE_RESERVE", _positive_float, 5.0),
            api_mode=_read(env, "HEYMARKET_API_MODE", _api_mode, ApiMode.V2),
            v1_overwrite=_read(env, "HEYMARKET_V1_OVERWRITE", _flag, True),
            wait_delay_s=_read(env, "WAIT_DELAY_SECONDS", _delay_seconds, 900),
            max_wait_s=_read(env, "QUEUE_RETENTION_SECONDS", _positive_int, 345_600),
            managed_lists_table=_read(env, "MANAGED_LISTS_TABLE", str, ""),
            stack_name=_read(env, "STACK_NAME", str, "heymarket-bridge"),
            create_missing_tags=_read(env, "CREATE_MISSING_TAGS", _flag, False),
            remove_opted_out_from_lists=_read(env, "REMOVE_OPTED_OUT_FROM_LISTS", _flag, True),
            list_retry_delay_s=_read(env, "LIST_RETRY_DELAY_SECONDS", _delay_seconds, 60),
            contact_state_table=_read(env, "CONTACT_STATE_TABLE", str, ""),
            skip_unchanged=_read(env, "SKIP_UNCHANGED_CONTACTS", _flag, True),
            reconsent=_read(env, "RECONSENT_SOURCES", ReconsentRule.parse, NO_RECONSENT),
            tombstone_s=_read(env, "CONTACT_TOMBSTONE_SECONDS", _positive_int, 1_900_800),
            lease_margin_s=_read(env, "CONTACT_LEASE_MARGIN_SECONDS", _positive_float, 30.0),
            consent_record_table=_read(env, "CONSENT_RECORD_TABLE", str, ""),
            consent_record_retention_days=_read(env, "CONSENT_RECORD_RETENTION_DAYS", _positive_int, 1827),
            outage_base_delay_s=_read(env, "OUTAGE_BASE_DELAY_SECONDS", _delay_seconds, 60),
            outage_max_delay_s=_read(env, "OUTAGE_MAX_DELAY_SECONDS", _delay_seconds, 900),
            outage_expiry_margin_s=_read(env, "OUTAGE_EXPIRY_MARGIN_SECONDS", _positive_int, 3600),
            circuit_failures=_read(env, "HEYMARKET_CIRCUIT_FAILURES", _positive_int, 3),
            circuit_open_s=_read(env, "HEYMARKET_CIRCUIT_OPEN_SECONDS", _positive_float, 30.0),
        )

    @property
    def requests_per_minute_per_consumer(self) -> float:
        """Each concurrent consumer gets an equal share of the account's request budget."""
        return self.rate_limit_per_minute / self.max_concurrency
