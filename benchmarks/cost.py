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
REGION: Final = "us-east-1"
MAX_SERIES: Final = 12  # issue 24: a stack with two sources
# Kinds of DynamoDB calls and the request units each item costs (on-demand, items under 1 KB / 4 KB).
_WRITES: Final = {"PutItem": 1.0, "UpdateItem": 1.0, "DeleteItem": 1.0}
_TRANSACT_WRITE: Final = 2.0
MetricSeries = tuple[str, frozenset[tuple[str, str]]]


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
        answer = sync.invoke(batch)
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
        "environment": {k: v for k, v in os.environ.items() if k == "POWERTOOLS_LOG_LEVEL"},
    }
    section.notes.append(
        "Each sample delivered once and synced on its own; DynamoDB units as billed on demand (items under 1 KB)."
    )
    return section
