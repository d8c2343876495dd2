"""Cost: what one webhook of one contact costs in metric series, log bytes and DynamoDB request units, and what a month
of them costs at published us-east-1 prices (docs/cost.md reads the figures printed here).

`measure()` runs the real handlers (functions/*/app.py, each in an execution environment of its own, over the
template's environment) against moto and the Heymarket sandbox, as AWS would: a signed HubSpot delivery and a signed
Typeform delivery (events/, re-signed for now), each taken off the queue by the sync function on its own (the
low-volume case: one sync invocation per webhook). Everything the handlers print is captured per function: JSON log
lines and the EMF lines of the metrics, which CloudWatch Logs ingests (and bills) like any log line. Every DynamoDB
call is counted in request units as DynamoDB bills them on demand: a standard write 1 unit per KB, a transactional
write 2, a strongly consistent read 1 per 4 KB (eventually consistent: half), a transactional read 2; items here are
under 1 KB, so each item written or read is counted once at its kind's rate (the largest item of the contact state
is about 600 bytes: benchmark 8).
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from unittest import mock

import boto3
import botocore.client

from benchmarks.common import Figure, Section, progress
from heymarket_bridge.observability import METRICS, logger
from heymarket_bridge_tools.signing import demo_webhook_secrets, resign_event
from heymarket_local.lambdas import LocalFunction
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

EVENTS: Final = Path(__file__).resolve().parents[1] / "events"
SAMPLES: Final = ("hubspot/workflow_contact.json", "typeform/form_response.json")
WARM_UP: Final = "generic/single_contact.json"
REGION: Final = "us-east-1"
MAX_SERIES: Final = 12  # issue 24: a stack with two sources
# Kinds of DynamoDB calls and the request units each item costs (on-demand, items under 1 KB / 4 KB).
_WRITES: Final = {"PutItem": 1.0, "UpdateItem": 1.0, "DeleteItem": 1.0}
_TRANSACT_WRITE: Final = 2.0
MetricSeries = tuple[str, frozenset[tuple[str, str]]]

# Published on-demand prices, us-east-1 (USD), as stated on these pages on PRICES_DATE; docs/cost.md repeats them.
PRICES_DATE: Final = "2026-12-07"
PRICES: Final = {
    "api_request": (1.00e-6, "https://aws.amazon.com/api-gateway/pricing/ (HTTP API, first 300 million a month)"),
    "lambda_request": (0.20e-6, "https://aws.amazon.com/lambda/pricing/"),
    "lambda_gb_second": (0.0000133334, "https://aws.amazon.com/lambda/pricing/ (Arm)"),
    "sqs_request": (0.40e-6, "https://aws.amazon.com/sqs/pricing/ (standard queue, after the first million free)"),
    "dynamodb_write_unit": (0.625e-6, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "dynamodb_read_unit": (0.125e-6, "https://aws.amazon.com/dynamodb/pricing/on-demand/"),
    "log_ingested_gb": (0.50, "https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard class)"),
    "log_stored_gb_month": (0.03, "https://aws.amazon.com/cloudwatch/pricing/"),
    "metric_month": (0.30, "https://aws.amazon.com/cloudwatch/pricing/ (custom metric, prorated by the hour)"),
    "alarm_month": (0.10, "https://aws.amazon.com/cloudwatch/pricing/ (standard resolution)"),
    "dashboard_month": (3.00, "https://aws.amazon.com/cloudwatch/pricing/ (beyond 3 free)"),
}
# What CloudWatch Logs also ingests per webhook besides the handlers' lines: Lambda's START, END and REPORT lines of
# each invocation (its documented text format, a request id of 36 characters) when its system logs are at INFO (the
# default), and the API's access log line (the template's Format with a HubSpot request's values). With the template's
# LoggingConfig (JSON, SystemLogLevel WARN) Lambda sends none of them for an invocation that succeeds ("Log-level
# filtering": https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
_PLATFORM_LINES: Final = (
    "START RequestId: 3f5a8c2e-1b7d-4e9a-9c3f-2a6b8d4e1f70 Version: $LATEST\n"
    "END RequestId: 3f5a8c2e-1b7d-4e9a-9c3f-2a6b8d4e1f70\n"
    "REPORT RequestId: 3f5a8c2e-1b7d-4e9a-9c3f-2a6b8d4e1f70\tDuration: 102.35 ms\tBilled Duration: 103 ms\t"
    "Memory Size: 256 MB\tMax Memory Used: 88 MB\t\n"
)
_ACCESS_LOG_VALUES: Final = {
    "requestId": "Qk3xSgHAIAMEVnw=",
    "requestTime": "07/Dec/2026:22:16:35 +0000",
    "sourceIp": "54.174.62.108",
    "routeKey": "POST /webhooks/{source}",
    "path": "/webhooks/hubspot",
    "protocol": "HTTP/1.1",
    "status": "202",
    "responseLength": "83",
    "responseLatency": "131",
    "integrationStatus": "200",
    "integrationError": "-",
    "integrationLatency": "129",
    "userAgent": "HubSpot Connect 2.0 (http://dev.hubspot.com/) - WebhooksExecutorDaemon-executor",
}
LOG_RETENTION_MONTHS: Final = 1.0  # LogRetentionDays' default, 30 days


@dataclass
class Units:
    """DynamoDB use of one table: calls, read request units and write request units."""

    calls: int = 0
    reads: float = 0.0
    writes: float = 0.0


@dataclass
class Footprint:
    """What the webhooks measured cost: metric series written, log bytes and lines by function, DynamoDB units by
    table (logical id), SQS calls, and the ingest invocations' wall time (s)."""

    webhooks: int = 0
    series: set[MetricSeries] = field(default_factory=set)
    log_bytes: Counter[str] = field(default_factory=Counter)
    log_lines: Counter[str] = field(default_factory=Counter)
    emf_bytes: Counter[str] = field(default_factory=Counter)
    tables: dict[str, Units] = field(default_factory=dict)
    sqs_calls: int = 0
    ingest_seconds: list[float] = field(default_factory=list)
    sync_seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def per_webhook(self, counter: Mapping[str, float]) -> float:
        return sum(counter.values()) / max(self.webhooks, 1)


def emitted_series(output: str) -> set[MetricSeries]:
    """(name, dimensions with their values) of every metric in the EMF lines of `output`: CloudWatch bills each
    distinct pair as one custom metric."""
    series: set[MetricSeries] = set()
    for line in output.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        record = json.loads(line)
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimensions in directive["Dimensions"]:
                values = frozenset((name, str(record[name])) for name in dimensions)
                series.update((metric["Name"], values) for metric in directive["Metrics"])
    return series


@contextmanager
def printed() -> Iterator[io.StringIO]:
    """Everything the handlers print meanwhile: the logger's lines and the EMF lines (print)."""
    buffer = io.StringIO()
    handler = logger.registered_handler
    previous = handler.setStream(buffer) if isinstance(handler, logging.StreamHandler) else None
    try:
        with redirect_stdout(buffer):
            yield buffer
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)


@contextmanager
def dynamodb_counted(footprint: Footprint, tables: Mapping[str, str]) -> Iterator[None]:
    """Count every DynamoDB and SQS call made meanwhile in `footprint` (by table logical id)."""
    by_name = {name: logical_id for logical_id, name in tables.items()}
    original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        if service == "sqs":
            footprint.sqs_calls += 1
        elif service == "dynamodb":
            _count(footprint, by_name, operation, params)
        return original(client, operation, params)

    with mock.patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield


def _count(footprint: Footprint, by_name: Mapping[str, str], operation: str, params: dict[str, Any]) -> None:
    def units(table: str) -> Units:
        return footprint.tables.setdefault(by_name.get(table, table), Units())

    if operation in _WRITES:
        one = units(params["TableName"])
        one.calls, one.writes = one.calls + 1, one.writes + _WRITES[operation]
    elif operation == "GetItem":
        one = units(params["TableName"])
        one.calls, one.reads = one.calls + 1, one.reads + (1.0 if params.get("ConsistentRead") else 0.5)
    elif operation == "BatchGetItem":
        for table, request in params["RequestItems"].items():
            one = units(table)
            one.calls += 1
            one.reads += len(request["Keys"]) * (1.0 if request.get("ConsistentRead") else 0.5)
    elif operation == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            one = units(table)
            one.calls, one.writes = one.calls + 1, one.writes + len(requests)
    elif operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            (kind,) = item
            one = units(item[kind]["TableName"])
            one.writes += _TRANSACT_WRITE
        units(next(iter(params["TransactItems"][0].values()))["TableName"]).calls += 1


def _receive(sqs: Any, queue_url: str, queue_arn: str) -> dict[str, Any]:
    """The queue's messages as the SQS event Lambda hands the sync function."""
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", [])
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": {
                    k: {"stringValue": v.get("StringValue"), "dataType": v["DataType"]}
                    for k, v in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": REGION,
            }
            for m in messages
        ]
    }


def measure(samples: tuple[str, ...] = SAMPLES, log_level: str = "INFO") -> Footprint:
    """Each sample delivered once (signed afresh) and synced on its own, through the real handlers; what it cost."""
    from moto import mock_aws

    footprint = Footprint()
    secrets = demo_webhook_secrets(EVENTS / "webhook_secrets.json")
    level = logger.log_level
    logger.setLevel(log_level)
    with HeymarketSandbox(SandboxConfig()) as sandbox, mock_aws():
        template = StackTemplate.load()
        sqs = boto3.client("sqs", region_name=REGION)
        credentials = {"secret_id": sandbox.config.secret_id, "secret_key": sandbox.config.secret_key}
        resources = template.provision(
            sqs,
            boto3.client("secretsmanager", region_name=REGION),
            webhook_secrets=secrets,
            heymarket_credentials=credentials,
        )
        ingest = LocalFunction.load(
            template.function("IngestFunction"),
            "IngestFunction",
            REGION,
            template.function_environment("IngestFunction", resources),
        )
        sync = LocalFunction.load(
            template.function("SyncFunction"),
            "SyncFunction",
            REGION,
            template.function_environment("SyncFunction", resources, {"HEYMARKET_BASE_URL": sandbox.url}),
        )
        try:
            # One delivery first, not counted: each function's first invocation builds its clients and reads its
            # secrets (a cold start, once per execution environment), which a month of webhooks does not repeat.
            _one(Footprint(), WARM_UP, secrets, ingest, sync, sqs, resources.queue_url, resources.queue_arn)
            with dynamodb_counted(footprint, resources.tables):
                for sample in samples:
                    _one(footprint, sample, secrets, ingest, sync, sqs, resources.queue_url, resources.queue_arn)
        finally:
            logger.setLevel(level)
    return footprint


def _one(
    footprint: Footprint,
    sample: str,
    secrets: Mapping[str, str],
    ingest: LocalFunction,
    sync: LocalFunction,
    sqs: Any,
    queue_url: str,
    queue_arn: str,
) -> None:
    event = json.loads((EVENTS / sample).read_text(encoding="utf-8"))
    source = event["pathParameters"]["source"]
    event = resign_event(event, secrets[source], datetime.now(UTC))
    with printed() as out:
        started = time.monotonic()
        response = ingest.invoke(event)
        footprint.ingest_seconds.append(time.monotonic() - started)
    footprint.statuses.append(int(response["statusCode"]))
    footprint.webhooks += 1
    _tally(footprint, "ingest", out.getvalue())
    with printed() as out:
        batch = _receive(sqs, queue_url, queue_arn)
        started = time.monotonic()
        answer = sync.invoke(batch)
        footprint.sync_seconds.append(time.monotonic() - started)
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        for record in batch["Records"]:
            if record["messageId"] not in failed:
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"])
    _tally(footprint, "sync", out.getvalue())


def _tally(footprint: Footprint, function: str, output: str) -> None:
    footprint.series |= emitted_series(output)
    for line in output.splitlines():
        size = len(line.encode("utf-8")) + 1  # the newline
        footprint.log_lines[function] += 1
        footprint.log_bytes[function] += size
        if line.startswith('{"_aws"'):
            footprint.emf_bytes[function] += size


def platform_bytes_per_invocation() -> int:
    """Bytes of Lambda's own lines for one invocation that succeeds, as the template's Globals configure its logs at
    the parameters' defaults: START, END and REPORT in the text format or at system level INFO; none at WARN."""
    template = StackTemplate.load()
    config = template.evaluate(template.document["Globals"]["Function"].get("LoggingConfig", {"Ref": "AWS::NoValue"}))
    if isinstance(config, Mapping) and config.get("LogFormat") == "JSON" and config.get("SystemLogLevel") == "WARN":
        return 0
    return len(_PLATFORM_LINES.encode("utf-8"))


def access_log_bytes() -> int:
    """Bytes of one line of the API's access log (template.yaml's Format with a HubSpot request's values)."""
    return len(json.dumps(_ACCESS_LOG_VALUES, separators=(",", ":")).encode("utf-8")) + 1


def per_webhook_cost(footprint: Footprint) -> dict[str, float]:
    """USD per one-contact webhook, by item: each measured quantity times its price (PRICES). One sync invocation per
    webhook (the low-volume case); Lambda duration from the local wall times measured (no network: a lower bound)."""
    n = max(footprint.webhooks, 1)
    price = {name: value for name, (value, _source) in PRICES.items()}
    units = footprint.tables
    log_bytes = sum(footprint.log_bytes.values()) / n + 2 * platform_bytes_per_invocation() + access_log_bytes()
    gb_seconds = (256 * sum(footprint.ingest_seconds) + 512 * sum(footprint.sync_seconds)) / 1024 / n
    cost = {
        "API Gateway (HTTP API request)": price["api_request"],
        "SQS (send, receive, delete)": footprint.sqs_calls / n * price["sqs_request"],
        "Logs (ingested and stored 30 days)": log_bytes
        / 1e9
        * (price["log_ingested_gb"] + LOG_RETENTION_MONTHS * price["log_stored_gb_month"]),
        "Lambda (2 invocations and their duration)": 2 * price["lambda_request"]
        + gb_seconds * price["lambda_gb_second"],
    }
    for table, use in sorted(units.items()):
        cost[f"DynamoDB {table}"] = (
            use.writes / n * price["dynamodb_write_unit"] + use.reads / n * price["dynamodb_read_unit"]
        )
    return cost


def fixed_cost(footprint: Footprint) -> dict[str, float]:
    """USD a month whatever the traffic, by item (Secrets Manager left out: $0.40 a secret): the template's alarms,
    and the metric series measured, each billed in full once written in every hour of the month (a month with a
    webhook every hour; an hour without any costs nothing). The dashboard is off by default, the budget is free
    (an account's first two), the tables' storage is a few KB."""
    from heymarket_local.template import load_template_document

    resources = load_template_document()["Resources"].values()
    alarms = sum(1 for resource in resources if resource["Type"] == "AWS::CloudWatch::Alarm")
    return {
        f"CloudWatch alarms ({alarms})": alarms * PRICES["alarm_month"][0],
        f"custom metric series ({len(footprint.series)})": len(footprint.series) * PRICES["metric_month"][0],
    }


def run() -> Section:
    section = Section(
        "9. Cost: metric series, log bytes and DynamoDB units per one-contact webhook (HubSpot, Typeform)"
    )
    title = section.title
    progress("  one HubSpot and one Typeform delivery, each synced...")
    footprint = measure()
    per = footprint.per_webhook
    section.figures += [
        Figure(
            title,
            "custom metric series written",
            len(footprint.series),
            "series",
            target=f"<= {MAX_SERIES}",
            met=len(footprint.series) <= MAX_SERIES,
        ),
        Figure(
            title,
            "log bytes per webhook, ingest (JSON lines and EMF)",
            footprint.log_bytes["ingest"] / max(footprint.webhooks, 1),
            "B",
        ),
        Figure(title, "log bytes per webhook, sync", footprint.log_bytes["sync"] / max(footprint.webhooks, 1), "B"),
        Figure(title, "of which EMF (metrics) bytes", per(footprint.emf_bytes), "B"),
        Figure(title, "log lines per webhook", per(footprint.log_lines), "lines"),
    ]
    for table, units in sorted(footprint.tables.items()):
        section.figures += [
            Figure(title, f"{table}: write request units per webhook", units.writes / footprint.webhooks, "WRU"),
            Figure(title, f"{table}: read request units per webhook", units.reads / footprint.webhooks, "RRU"),
            Figure(title, f"{table}: calls per webhook", units.calls / footprint.webhooks, "calls"),
        ]
    section.figures.append(
        Figure(
            title, "SQS calls per webhook (send, receive, delete)", footprint.sqs_calls / footprint.webhooks, "calls"
        )
    )
    section.figures.append(
        Figure(
            title,
            "Lambda platform lines per invocation (START, END, REPORT; none at WARN)",
            platform_bytes_per_invocation(),
            "B",
        )
    )
    section.figures.append(Figure(title, "API access log line per webhook", access_log_bytes(), "B"))
    cost = per_webhook_cost(footprint)
    for item, usd in cost.items():
        section.figures.append(Figure(title, f"$ per million webhooks: {item}", usd * 1e6, "USD"))
    total = sum(cost.values()) * 1e6
    section.figures.append(Figure(title, "$ per million one-contact webhooks, all of the above", total, "USD"))
    fixed = fixed_cost(footprint)
    for item, usd in fixed.items():
        section.figures.append(Figure(title, f"$ a month, fixed: {item}", usd, "USD"))
    for contacts in (10_000, 100_000, 1_000_000):
        month = sum(fixed.values()) + total * contacts / 1e6
        section.figures.append(Figure(title, f"$ a month for {contacts:,} one-contact webhooks", month, "USD"))
    section.details = {
        "webhooks": footprint.webhooks,
        "statuses": footprint.statuses,
        "series": sorted(f"{name} {dict(sorted(dims))}" for name, dims in footprint.series),
        "catalogue": sorted(METRICS),
        "log_bytes": dict(footprint.log_bytes),
        "log_lines": dict(footprint.log_lines),
        "emf_bytes": dict(footprint.emf_bytes),
        "tables": {t: vars(u) for t, u in footprint.tables.items()},
        "sqs_calls": footprint.sqs_calls,
        "ingest_seconds": footprint.ingest_seconds,
        "sync_seconds": footprint.sync_seconds,
        "cost_per_million_usd": {item: round(usd * 1e6, 4) for item, usd in cost.items()},
        "prices": {name: {"usd": value, "source": source} for name, (value, source) in PRICES.items()},
        "prices_date": PRICES_DATE,
        "fixed_usd_a_month": fixed,
        "environment": {k: v for k, v in os.environ.items() if k == "POWERTOOLS_LOG_LEVEL"},
    }
    section.notes.append(
        "Each sample delivered once and synced on its own; DynamoDB units as billed on demand (items under 1 KB)."
    )
    return section
