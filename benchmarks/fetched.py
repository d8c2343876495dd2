"""A fetched source (Meta Lead Ads): requests to the vendor per lead, and latency from the webhook's answer to the
contact stored in Heymarket, through the whole local stack (ingest -> LeadFetchQueue -> FetchFunction -> the Graph API
stand-in -> ContactQueue -> SyncFunction -> the sandbox).

One sender posts a signed leadgen notification every half second, each for a new lead the stand-in serves; every
fifth notification is sent twice, as Meta retries one: a retry must cost no request to Graph.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Final

import urllib3

from benchmarks.common import Figure, Section, median, percentile, progress
from benchmarks.efficiency import LATENCY_MS
from heymarket_bridge_tools.signing import sign
from heymarket_local.audit import WriteRecorder, distinct_phones
from heymarket_local.stack import LocalStack, LocalStackConfig
from heymarket_local.template import StackTemplate
from heymarket_sandbox import SandboxConfig
from vendor_standins.records import sample_lead

LEADS: Final = 20
SPACING_S: Final = 0.5
SECRET: Final = "benchmark-app-secret"


def notification(lead_id: str) -> bytes:
    now = int(time.time())
    change = {"field": "leadgen", "value": {"leadgen_id": lead_id, "page_id": "1", "created_time": now}}
    return json.dumps({"object": "page", "entry": [{"id": "1", "time": now, "changes": [change]}]}).encode()


def run() -> Section:
    window_s = float(StackTemplate.load().parameters["BatchingWindowSeconds"])
    section = Section(f"10. Fetched source (Meta Lead Ads), one lead every {SPACING_S} s, through the Graph stand-in")
    config = LocalStackConfig(sandbox=SandboxConfig(latency_ms=LATENCY_MS), webhook_secrets={"meta": SECRET})
    phones = distinct_phones(LEADS, area_code="628")
    accepted_at: dict[str, float] = {}
    answer_s: list[float] = []
    progress(f"  {LEADS} leads, {SPACING_S} s apart, every fifth notification sent twice...")
    with LocalStack(config) as stack, urllib3.PoolManager(maxsize=1, retries=False, timeout=10.0) as http:
        assert stack.sandbox is not None
        assert stack.fetching is not None
        standins = stack.fetching.standins
        with WriteRecorder(stack.sandbox) as recorder:
            for index, phone in enumerate(phones):
                lead_id = str(900_000_000 + index)
                lead = sample_lead(lead_id)
                lead["field_data"] = [
                    {"name": "phone_number", "values": [f"+{phone}"]},
                    {"name": "full_name", "values": [f"Lead {index}"]},
                ]
                standins.leads[lead_id] = lead
                body = notification(lead_id)
                headers = {**sign("meta", body, SECRET, now=datetime.now(UTC)), "Content-Type": "application/json"}
                sent = time.monotonic()
                for _ in range(2 if index % 5 == 0 else 1):
                    response = http.request("POST", stack.webhook_url("meta"), body=body, headers=headers)
                    if response.status != 200:
                        raise RuntimeError(f"webhook answered {response.status}: {response.data[:200]!r}")
                accepted_at[phone] = time.monotonic()
                answer_s.append(accepted_at[phone] - sent)
                time.sleep(max(0.0, SPACING_S - (time.monotonic() - sent)))
            deadline = time.monotonic() + window_s + 30
            while len(recorder.by_phone()) < LEADS and time.monotonic() < deadline:
                time.sleep(0.1)
            stored_at = {phone: writes[0].at for phone, writes in recorder.by_phone().items()}
        stack.wait_until_drained(30)
        graph_requests = standins.requests["graph"]
    latencies = [stored_at[phone] - accepted_at[phone] for phone in phones if phone in stored_at]
    if len(latencies) < LEADS:
        raise RuntimeError(f"only {len(latencies)} of {LEADS} leads were stored")
    title = section.title
    section.figures += [
        Figure(title, "Graph requests per lead", graph_requests / LEADS, "x", baseline=1.0, baseline_name="one fetch"),
        Figure(title, "p50, 200 to stored", median(latencies), "s", baseline=window_s, baseline_name="batching window"),
        Figure(
            title,
            "p99, 200 to stored",
            percentile(latencies, 0.99),
            "s",
            baseline=window_s,
            baseline_name="batching window",
        ),
        Figure(title, "notification answered (200), p50", median(answer_s) * 1000, "ms"),
    ]
    section.details["latencies_s"] = [round(value, 3) for value in latencies]
    section.notes.append(
        f"{LEADS} leads, {LEADS // 5} notifications sent twice (a retry is answered as the first: no second fetch). "
        "The fetch adds one Graph request and one SQS hop before the contact queue; the batching window dominates."
    )
    return section
