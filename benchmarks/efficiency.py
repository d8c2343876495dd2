"""Efficiency: 10,000 contacts through the sync side, against one POST /v2/contact per contact (Zapier, n8n).

The bridge: the real sync handler (functions/sync/app.py) at the template's default settings (100 contacts per
Heymarket request, 500 requests a minute shared by 2 consumers), given the 10,000 contacts as Lambda's event source
would: batches of 100 (BatchSize) to 2 concurrent invocations (MaximumConcurrency), each in an execution
environment of its own. Its AWS calls (Secrets Manager, the DLQ) go to moto in this process; Heymarket is the
sandbox answering in 50 ms. The contact state table is left out (CONTACT_STATE_TABLE empty): it changes no request
for new contacts, and moto spends milliseconds of CPU per contact on it where DynamoDB answers a batch of 100 in a
few milliseconds (its requests and cost: benchmark 8). SQS itself is left out: moto's queue slows down with a
backlog of thousands, which says nothing about SQS (the local-stack runs in benchmarks 3 and 5 keep their queues
short).

The per-contact way: the same HTTP client, one POST /v2/contact per contact, from as many workers as the bridge
has consumers (2), against a sandbox with the same 50 ms latency and no rate limit; a sample of contacts is
timed and the time extrapolated linearly to 10,000 (at 50 ms a request, all 10,000 would take minutes).
Heymarket's 500 requests a minute would slow it further: at best 10,000 / 500 = 20 minutes; both are printed.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final

import boto3

from benchmarks.common import Figure, Section, progress
from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.contact import parse_contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_local.audit import WriteRecorder, audit, distinct_phones, expected_fields, load_contact
from heymarket_local.lambdas import LocalFunction
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 10_000
LATENCY_MS: Final = 50
MAX_BATCH: Final = 100  # HeymarketMaxBatch's default
RATE_LIMIT_PER_MINUTE: Final = 500
# At most 2 requests per HeymarketMaxBatch contacts (issue 12): a look-up of the chunk's phones and one bulk write.
REQUEST_TARGET: Final = 2.0


def sqs_records(contacts: Sequence[dict[str, Any]], run: str) -> list[dict[str, Any]]:
    """The contacts as the SQS records Lambda hands the sync function (bodies as the ingest function writes them)."""
    received_at = datetime.now(UTC).isoformat(timespec="milliseconds")
    sent_ms = str(int(time.time() * 1000))
    records: list[dict[str, Any]] = []
    for index, raw in enumerate(contacts):
        operation = ContactOperation(
            Operation.UPSERT, parse_contact(raw, "US"), "generic", received_at, f"{run}-{index}"
        )
        body = operation.to_json()
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": f"handle-{index}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": sent_ms,
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": sent_ms,
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ContactQueue",
                "awsRegion": "us-east-1",
            }
        )
    return records


# Settings the runs here change from the template's defaults (see the module docstring).
WITHOUT_CONTACT_STATE: Final = {"CONTACT_STATE_TABLE": ""}


@contextmanager
def sync_function(
    sandbox: HeymarketSandbox, environment: dict[str, str] | None = None
) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """The sync handler configured as deployed (template defaults, then `environment`) against moto and the
    sandbox, ready to invoke: each concurrent invocation in an execution environment of its own, built from its
    variables (nothing patched, os.environ untouched)."""
    from moto import mock_aws

    template = StackTemplate.load()
    region = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    with mock_aws():
        resources = template.provision(
            boto3.client("sqs", region_name="us-east-1"),
            boto3.client("secretsmanager", region_name="us-east-1"),
            webhook_secrets={"generic": "unused"},
            heymarket_credentials={"secret_id": sandbox.config.secret_id, "secret_key": sandbox.config.secret_key},
        )
        variables = {
            **os.environ,
            **region,
            **template.function_environment(
                "SyncFunction", resources, {"HEYMARKET_BASE_URL": sandbox.url, **(environment or {})}
            ),
        }
        yield LocalFunction.load(template.function("SyncFunction"), "SyncFunction", "us-east-1", variables).invoke


def bridge_run(consumers: int = 2, batch_size: int = 100) -> dict[str, Any]:
    phones = distinct_phones(CONTACTS)
    contacts = [load_contact(phone, index, "efficiency") for index, phone in enumerate(phones)]
    records = sqs_records(contacts, "efficiency")
    batches = [records[start : start + batch_size] for start in range(0, len(records), batch_size)]
    config = SandboxConfig(latency_ms=LATENCY_MS, rate_limit_per_minute=RATE_LIMIT_PER_MINUTE)
    with HeymarketSandbox(config) as sandbox, sync_function(sandbox, WITHOUT_CONTACT_STATE) as invoke:
        lock = threading.Lock()
        redelivered: list[int] = []

        def consumer() -> None:
            while True:
                with lock:
                    if not batches:
                        return
                    batch = batches.pop(0)
                response = invoke({"Records": batch})
                failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
                if failed:  # SQS would deliver them again
                    with lock:
                        batches.append([record for record in batch if record["messageId"] in failed])
                        redelivered.append(len(failed))

        with WriteRecorder(sandbox) as recorder:
            started = time.monotonic()
            threads = [threading.Thread(target=consumer, name=f"consumer-{n}") for n in range(consumers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
        stats = sandbox.stats()
        result = audit(
            {c["phone"].lstrip("+"): expected_fields(c) for c in contacts}, sandbox.contacts(), [], recorder.by_phone()
        )
        return {
            "seconds": elapsed,
            "requests": int(stats["requests"]),
            "by_status": stats["by_status"],
            "invocations": math.ceil(CONTACTS / batch_size) + len(redelivered),
            "redelivered": sum(redelivered),
            "audit": result.summary(),
            "audit_ok": result.ok and len(result.delivered) == CONTACTS,
        }


def per_contact_run(sample: int, workers: int) -> dict[str, Any]:
    """One POST /v2/contact per contact, `workers` at a time, against a 50 ms sandbox without a rate limit."""
    contacts = [load_contact(phone, index, "per-contact") for index, phone in enumerate(distinct_phones(sample))]
    config = SandboxConfig(latency_ms=LATENCY_MS, rate_limit_per_minute=1_000_000)
    with HeymarketSandbox(config) as sandbox:
        credentials = Credentials(secret_id=config.secret_id, secret_key=config.secret_key)
        http = HeymarketHttp(sandbox.url, Authenticator(lambda _refresh: credentials), RequestBudget(1e9))
        lock = threading.Lock()
        next_index = [0]

        def worker() -> None:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= len(contacts):
                    return
                contact = parse_contact(contacts[index], "US")
                http.call("POST", "/v2/contact", contact.to_heymarket(), Deadline.after(60))

        started = time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        stats = sandbox.stats()
        return {"seconds": elapsed, "requests": int(stats["requests"]), "stored": int(stats["contacts_stored"])}


def run(sample: int = 500) -> Section:
    section = Section(f"2. Efficiency: {CONTACTS:,} contacts through the sync side, sandbox at {LATENCY_MS} ms")
    progress(f"  bridge: {CONTACTS:,} contacts through the sync handler at default settings...")
    bridge = bridge_run()
    progress(f"  per-contact baseline: {sample} contacts, 2 workers...")
    baseline = per_contact_run(sample, workers=2)
    minimum = math.ceil(CONTACTS / MAX_BATCH)
    per_contact_s = baseline["seconds"] * CONTACTS / sample
    rate_bound_s = CONTACTS / RATE_LIMIT_PER_MINUTE * 60
    title = section.title
    section.figures += [
        Figure(
            title,
            "Heymarket requests, bridge",
            bridge["requests"],
            "req",
            baseline=CONTACTS,
            baseline_name="per contact",
            target=f"<= {REQUEST_TARGET * minimum:.0f} (2 x ceil({CONTACTS}/{MAX_BATCH}): look-up + write)",
            met=bridge["requests"] <= REQUEST_TARGET * minimum and bridge["audit_ok"],
        ),
        Figure(
            title,
            "wall time, bridge (first batch to last contact stored)",
            bridge["seconds"],
            "s",
            baseline=per_contact_s,
            baseline_name=f"per contact, 2 workers, extrapolated from {sample}",
        ),
        Figure(
            title,
            "wall time, bridge, against the rate-limit bound",
            bridge["seconds"],
            "s",
            baseline=rate_bound_s,
            baseline_name="per contact at 500 req/min (minimum)",
        ),
        Figure(title, "contacts per Heymarket request, bridge", CONTACTS / max(1, bridge["requests"]), "contacts"),
        Figure(
            title,
            "sync invocation duration, backlog (rate-limit waits included)",
            2 * bridge["seconds"] / bridge["invocations"] * 1000,
            "ms",
        ),
    ]
    section.details.update({"bridge": bridge, "per_contact_sample": baseline, "sample": sample})
    section.notes += [
        f"bridge: {bridge['audit']}; {bridge['invocations']} sync invocations ({bridge['redelivered']} messages "
        f"left for redelivery); Heymarket answered {bridge['by_status']}.",
        f"per-contact baseline measured on {sample} contacts ({baseline['seconds']:.1f} s, {baseline['requests']} "
        f"requests, {baseline['stored']} stored) and extrapolated linearly to {CONTACTS:,}: "
        f"{per_contact_s:.0f} s; at Heymarket's 500 requests/minute it cannot take less than {rate_bound_s:.0f} s.",
        "the contact state table is left out of this run (it changes no request for new contacts; moto spends "
        "milliseconds of CPU per contact on it): its requests and cost are benchmark 8.",
        "the bridge's time is set by its request budget (500 requests/min shared by 2 consumers, bursts included), "
        "not by Heymarket's latency; on AWS add the event source's polling (the batching window does not apply "
        "to a backlog: batches are full at once).",
    ]
    return section
