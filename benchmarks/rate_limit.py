"""Rate limit: the local stack at its default concurrency against a sandbox that enforces 500 requests a minute.

Heymarket counts requests in a sliding 60-second window, and so does the sandbox: a run shorter than a minute can
never be refused, so this one lasts longer than a full window. The bridge runs at its defaults (2 consumers, each in
its own execution environment with half of HeymarketRateLimitPerMinute = 500), except that each Heymarket request
carries 1 contact instead of up to 100, so that a backlog of 600 contacts keeps it busy for over a minute.

The backlog is fed to the local queue as the bridge drains it, about a batch ahead: moto's queue takes about 1 ms
per queued message for every ReceiveMessage (a second per call at 1,000 messages), which would make the local
event source, not the bridge, the bottleneck. Requests (look-ups and writes) are timed by when the sandbox's rate limit
admitted them.
"""

from __future__ import annotations

import bisect
import time
from typing import Any, Final

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import LATENCY_MS, sqs_records
from heymarket_local.audit import WriteRecorder, audit, distinct_phones, expected_fields, load_contact
from heymarket_local.stack import LocalStack, LocalStackConfig
from heymarket_sandbox import SandboxConfig

PER_MINUTE: Final = 500
CONTACTS_PER_REQUEST: Final = 1
CONTACTS: Final = 600
AHEAD: Final = 300  # contacts sent to the queue and not yet stored: two batches in flight and one waiting
WINDOW_S: Final = 60.0
SUSTAINED_TARGET: Final = 0.90
THROTTLED_TARGET: Final = 0.02


def feed(stack: LocalStack, contacts: list[dict[str, Any]], recorder: WriteRecorder, timeout_s: float) -> None:
    """Send the contacts to the queue, keeping at most AHEAD of them queued and not yet stored; then wait for all."""
    bodies = [record["body"] for record in sqs_records(contacts, "rate")]
    sent = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stored = len(recorder.by_phone())
        if stored >= len(bodies):
            return
        while sent < len(bodies) and sent - stored < AHEAD:
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[sent : sent + 10])]
            answer = stack.sqs.send_message_batch(QueueUrl=stack.resources.queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"SQS refused {len(answer['Failed'])} messages")
            sent += len(entries)
        time.sleep(0.2)


def run() -> Section:
    section = Section(f"3. Rate limit: sandbox at {PER_MINUTE} requests/min (sliding 60 s window), 2 consumers")
    contacts = [load_contact(phone, index, "rate") for index, phone in enumerate(distinct_phones(CONTACTS))]
    config = LocalStackConfig(
        sandbox=SandboxConfig(latency_ms=LATENCY_MS, rate_limit_per_minute=PER_MINUTE),
        parameter_overrides={"HeymarketMaxBatch": CONTACTS_PER_REQUEST, "HeymarketRateLimitPerMinute": PER_MINUTE},
    )
    progress(f"  {CONTACTS} contacts, {CONTACTS_PER_REQUEST} per request, over more than a minute...")
    with LocalStack(config) as stack:
        sandbox = stack.sandbox
        assert sandbox is not None
        with WriteRecorder(sandbox) as recorder:
            feed(stack, contacts, recorder, timeout_s=240)
            stack.wait_until_drained(30)
            writes = recorder.by_phone()
        result = audit(
            {c["phone"].lstrip("+"): expected_fields(c) for c in contacts},
            sandbox.contacts(),
            stack.dead_letter_bodies(),
            writes,
        )
        stats = sandbox.stats()
        invocations = stack.status().poller.invocations
    # Every request the sandbox's rate limit admitted (look-ups and writes alike), at the time it admitted it.
    admitted = sorted(sandbox.admitted_times)
    started, ended = admitted[0], admitted[-1]
    first_window = bisect.bisect_left(admitted, started + WINDOW_S)
    busiest_requests = max(bisect.bisect_left(admitted, at + WINDOW_S) - i for i, at in enumerate(admitted))
    sustained = len(admitted) / (ended - started) * 60
    throttled = int(stats["by_status"].get("429", 0))
    answered = sum(int(n) for n in stats["by_status"].values())
    title = section.title
    section.figures += [
        Figure(
            title,
            "requests admitted in the first 60 s",
            first_window,
            "req",
            baseline=PER_MINUTE,
            baseline_name="limit",
            target=f">= {SUSTAINED_TARGET:.0%} of the limit",
            met=first_window >= SUSTAINED_TARGET * PER_MINUTE,
        ),
        Figure(
            title,
            "sustained rate, first to last request",
            sustained,
            "req/min",
            baseline=PER_MINUTE,
            baseline_name="limit",
            target=f">= {SUSTAINED_TARGET:.0%}",
            met=sustained >= SUSTAINED_TARGET * PER_MINUTE,
        ),
        Figure(
            title,
            "most requests admitted in any 60 s",
            busiest_requests,
            "req",
            baseline=PER_MINUTE,
            baseline_name="limit",
            target="<= 1x",
            met=busiest_requests <= PER_MINUTE,
        ),
        Figure(
            title,
            "requests answered 429",
            100 * throttled / max(1, answered),
            "%",
            target=f"<= {THROTTLED_TARGET:.0%}",
            met=throttled <= THROTTLED_TARGET * answered,
        ),
        Figure(
            title,
            "contacts lost",
            len(result.lost) + len(result.wrong_values),
            "contacts",
            baseline=CONTACTS,
            baseline_name="sent",
            target="0",
            met=result.ok and len(result.delivered) == CONTACTS,
        ),
    ]
    section.details.update({"by_status": stats["by_status"], "seconds_first_to_last_request": ended - started})
    section.notes += [
        f"{result.summary()}; {answered} Heymarket answers {stats['by_status']} in {ended - started:.0f} s; "
        f"{invocations} sync invocations.",
        "each consumer's token bucket refills at (250 - its burst of 8.3) a minute, so that a full bucket plus a "
        "minute of refill never exceeds its half of the window (heymarket_bridge/adapters/heymarket/ratelimit.py); "
        "two consumers starting at once therefore stay within 500 in every 60 s window, "
        "and lose 3% of it to the burst.",
    ]
    return section
