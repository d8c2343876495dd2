"""Heymarket requests spent while Heymarket is down, and the drain once it is back (issue 26).

1,000 contacts received `ROUNDS` times while the sandbox answers 500 to everything (each round one receive of every
contact, as SQS redelivers it after a visibility timeout; the last at MaxReceiveCount, where the contacts are put
back to wait), in batches of 100 by one execution environment whose circuit probes again after
`OPEN_S` seconds. Then the sandbox is back and one more round delivers them. The baseline is the requests one
receive of every contact costs when Heymarket is up. The sandbox counts requests and statuses (429s included).
"""

from __future__ import annotations

import json
import time
from typing import Any, Final

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import sqs_records, sync_function
from heymarket_local.audit import distinct_phones, load_contact
from heymarket_sandbox import HeymarketSandbox

CONTACTS: Final = 1_000
BATCH: Final = 100
ROUNDS: Final = 5  # the template's MaxReceiveCount
OPEN_S: Final = 0.5  # compressed: the default HEYMARKET_CIRCUIT_OPEN_SECONDS is 30


def _received(records: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    return [{**r, "attributes": {**r["attributes"], "ApproximateReceiveCount": str(count)}} for r in records]


def run_outage() -> dict[str, Any]:
    records = sqs_records([load_contact(p, i, "outage") for i, p in enumerate(distinct_phones(CONTACTS))], "outage")
    environment = {"HEYMARKET_CIRCUIT_OPEN_SECONDS": str(OPEN_S), "OUTAGE_BASE_DELAY_SECONDS": "0"}
    with HeymarketSandbox() as sandbox, sync_function(sandbox, environment) as invoke:

        def one_round(count: int) -> tuple[int, int, float]:
            began, before, failed = time.monotonic(), int(sandbox.stats()["requests"]), 0
            batch = _received(records, count)
            for start in range(0, len(batch), BATCH):
                failed += len(invoke({"Records": batch[start : start + BATCH]})["batchItemFailures"])
            return int(sandbox.stats()["requests"]) - before, failed, time.monotonic() - began

        sandbox.configure(fail_rate=1.0)
        down = [one_round(n) for n in range(1, ROUNDS + 1)]
        sandbox.configure(fail_rate=0.0)
        time.sleep(OPEN_S)
        back_requests, back_failed, _ = one_round(1)
        statuses = dict(sandbox.stats()["by_status"])
        held = len(sandbox.contacts())
    return {
        "requests_while_down": sum(r for r, _, _ in down),
        "seconds_while_down": round(sum(s for _, _, s in down), 1),
        "redelivered_per_round": [f for _, f, _ in down],
        "requests_back": back_requests,
        "redelivered_back": back_failed,
        "throttled_429": statuses.get("429", 0),
        "held": held,
    }


def run() -> Section:
    section = Section(f"10. Heymarket requests during an outage ({CONTACTS:,} contacts, {ROUNDS} receives each)")
    progress("  outage...")
    result = run_outage()
    section.details = result
    receives = CONTACTS * ROUNDS
    delivered = result["held"] == CONTACTS and result["redelivered_back"] == 0
    section.figures += [
        Figure(
            section.title,
            f"requests while down, per 100 contact receives ({result['seconds_while_down']} s)",
            result["requests_while_down"] * 100 / receives,
            "req/100",
            baseline=result["requests_back"] * 100 / CONTACTS,
            baseline_name="one receive of each with Heymarket up",
        ),
        Figure(
            section.title,
            "429s answered, outage and drain",
            result["throttled_429"],
            "429s",
            target="0",
            met=result["throttled_429"] == 0,
            note="" if delivered else "NOT every contact delivered once Heymarket was back",
        ),
    ]
    section.notes += [
        "while Heymarket is down the circuit of each execution environment stops its requests after 3 failures in a "
        f"row and probes once every HEYMARKET_CIRCUIT_OPEN_SECONDS (here {OPEN_S} s, compressed; 30 s by default: "
        "at most 2 probes a minute per concurrent consumer); an invocation that opened it makes no more requests.",
        "redelivered per round: "
        + json.dumps(result["redelivered_per_round"])
        + " (the last round is MaxReceiveCount: the contacts are put back to wait, not redelivered nor dead-lettered)",
    ]
    return section
