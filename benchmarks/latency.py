"""Latency at low load: from the sender's 202 to the contact stored in Heymarket, against the batching window.

The local stack at its default settings (BatchingWindowSeconds 5, batch size 100), a sandbox answering in 50 ms,
and one sender posting a one-contact webhook every half second over HTTP. The event source waits up to the window
for a batch to fill, so at low load a contact waits from (almost) nothing to the whole window: the median should
be about half the window and the p99 the window plus the sync invocation.
"""

from __future__ import annotations

import json
import time
from typing import Final

import urllib3

from benchmarks.common import Figure, Section, median, percentile, progress
from benchmarks.efficiency import LATENCY_MS
from heymarket_local.audit import WriteRecorder, distinct_phones, load_contact
from heymarket_local.stack import LocalStack, LocalStackConfig
from heymarket_local.template import StackTemplate
from heymarket_sandbox import SandboxConfig

WEBHOOKS: Final = 30
SPACING_S: Final = 0.5
TOKEN: Final = "benchmark-token"


def run() -> Section:
    window_s = float(StackTemplate.load().parameters["BatchingWindowSeconds"])
    section = Section(f"5. Latency, 202 to stored in Heymarket, one webhook every {SPACING_S} s")
    config = LocalStackConfig(sandbox=SandboxConfig(latency_ms=LATENCY_MS), webhook_secrets={"generic": TOKEN})
    phones = distinct_phones(WEBHOOKS)
    accepted_at: dict[str, float] = {}
    answer_s: list[float] = []
    progress(f"  {WEBHOOKS} webhooks, {SPACING_S} s apart, batching window {window_s:.0f} s...")
    with LocalStack(config) as stack, urllib3.PoolManager(maxsize=1, retries=False, timeout=10.0) as http:
        assert stack.sandbox is not None
        with WriteRecorder(stack.sandbox) as recorder:
            for index, phone in enumerate(phones):
                sent = time.monotonic()
                response = http.request(
                    "POST",
                    stack.webhook_url("generic"),
                    body=json.dumps(load_contact(phone, index, "latency")),
                    headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
                )
                if response.status != 202:
                    raise RuntimeError(f"webhook answered {response.status}: {response.data[:200]!r}")
                accepted_at[phone] = time.monotonic()
                answer_s.append(accepted_at[phone] - sent)
                time.sleep(max(0.0, SPACING_S - (time.monotonic() - sent)))
            deadline = time.monotonic() + window_s + 30
            while len(recorder.by_phone()) < WEBHOOKS and time.monotonic() < deadline:
                time.sleep(0.1)
            stored_at = {phone: writes[0].at for phone, writes in recorder.by_phone().items()}
        stack.wait_until_drained(30)
    latencies = [stored_at[phone] - accepted_at[phone] for phone in phones if phone in stored_at]
    if len(latencies) < WEBHOOKS:
        raise RuntimeError(f"only {len(latencies)} of {WEBHOOKS} contacts were stored")
    title = section.title
    section.figures += [
        Figure(title, "p50", median(latencies), "s", baseline=window_s, baseline_name="batching window"),
        Figure(title, "p99", percentile(latencies, 0.99), "s", baseline=window_s, baseline_name="batching window"),
        Figure(title, "fastest", min(latencies), "s", baseline=window_s, baseline_name="batching window"),
        Figure(title, "webhook answered (202), p50, one sender", median(answer_s) * 1000, "ms"),
    ]
    section.details["latencies_s"] = [round(value, 3) for value in latencies]
    section.notes.append(
        f"{WEBHOOKS} contacts; with a backlog the window does not apply (batches fill at once, see benchmark 2). "
        "BatchingWindowSeconds trades this latency for fewer, fuller Heymarket requests. The 202 answer time is the "
        "ingest function's duration plus the local API: three AWS calls to moto (idempotency record, SendMessageBatch, "
        "idempotency result) and under a millisecond of CPU (benchmark 4)."
    )
    return section
