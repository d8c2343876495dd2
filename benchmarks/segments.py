"""Tags by name and lists: what they cost in Heymarket requests, next to the same contacts without them.

The real sync handler at the template's defaults (100 contacts per Heymarket request) against moto and the sandbox,
one consumer, batches of 100 (BatchSize). The same 1,000 new contacts twice, each run in a fresh execution
environment and a fresh sandbox account: once with two tags by id and no list (the baseline), once with the same two
tags by name and one list by name (a list the bridge manages: created on first use). Requests are counted by the
sandbox, per endpoint.

What tags by name and a list may add, at most (README, "Tags and lists"): reading the team's tags once per execution
environment (one request per 30 tags), creating the list once per stack, and ONE `PUT /v2/lists/{id}` per list per
chunk of contacts; nothing per contact.
"""

from __future__ import annotations

import math
from typing import Any, Final

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import sqs_records, sync_function
from heymarket_local.audit import distinct_phones, load_contact
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 1_000
BATCH_SIZE: Final = 100  # BatchSize's default, and HeymarketMaxBatch's: one chunk per batch
LIST: Final = "Spring open house"
TAGS_BY_ID: Final = [1, 2]
TAGS_BY_NAME: Final = ["VIP", "Newsletter"]  # the sandbox account's tags 1 and 2


def run_once(segmented: bool) -> dict[str, Any]:
    """The contacts through the sync handler; the sandbox's request counts, and where the contacts ended."""
    contacts = []
    for index, phone in enumerate(distinct_phones(CONTACTS)):
        contact = load_contact(phone, index, "segments")
        contact["tags"] = TAGS_BY_NAME if segmented else TAGS_BY_ID
        if segmented:
            contact["lists"] = [LIST]
        contacts.append(contact)
    records = sqs_records(contacts, "segments" if segmented else "baseline")
    with HeymarketSandbox(SandboxConfig()) as sandbox, sync_function(sandbox) as invoke:
        redelivered = 0
        for start in range(0, len(records), BATCH_SIZE):
            response = invoke({"Records": records[start : start + BATCH_SIZE]})
            redelivered += len(response["batchItemFailures"])
        stats = sandbox.stats()
        lists = sandbox.lists()
        tagged = sum(sorted(t["tag_id"] for t in c["tags"]) == TAGS_BY_ID for c in sandbox.contacts())
    return {
        "requests": int(stats["requests"]),
        "by_endpoint": dict(stats["by_endpoint"]),
        "stored": int(stats["contacts_stored"]),
        "tagged": tagged,
        "listed": sum(len(item["phones"]) for item in lists if item["title"] == LIST),
        "lists": len(lists),
        "redelivered": redelivered,
    }


def run() -> Section:
    section = Section(f"7. Tags by name and lists: {CONTACTS:,} new contacts in batches of {BATCH_SIZE}")
    progress("  baseline: tags by id, no list...")
    baseline = run_once(segmented=False)
    progress("  tags by name and one list by name...")
    segmented = run_once(segmented=True)
    chunks = math.ceil(CONTACTS / BATCH_SIZE)
    per_100 = 100 / CONTACTS
    by_endpoint = segmented["by_endpoint"]
    list_writes = int(by_endpoint.get("PUT /v2/lists/{id}", 0))
    one_off = int(by_endpoint.get("POST /v1/tags", 0)) + int(by_endpoint.get("POST /v2/lists", 0))
    extra = segmented["requests"] - baseline["requests"]
    per_contact = (extra - one_off - list_writes) / CONTACTS
    correct = (
        segmented["stored"] == segmented["tagged"] == segmented["listed"] == CONTACTS
        and baseline["stored"] == baseline["tagged"] == CONTACTS
        and segmented["lists"] == 1
        and segmented["redelivered"] == baseline["redelivered"] == 0
    )
    title = section.title
    section.figures += [
        Figure(
            title,
            "Heymarket requests per 100 contacts, tags by name + 1 list",
            segmented["requests"] * per_100,
            "req",
            baseline=baseline["requests"] * per_100,
            baseline_name="tags by id, no list",
            target=f"<= baseline + 1 list write per chunk of {BATCH_SIZE} (+ one-off reads and the list create)",
            met=correct and list_writes <= chunks and extra <= chunks + one_off,
        ),
        Figure(
            title,
            "Heymarket requests per batch of 100, warm (no tags read, list known)",
            (segmented["requests"] - one_off) / chunks,
            "req",
            baseline=baseline["requests"] / chunks,
            baseline_name="tags by id, no list",
            target="<= baseline + 1 (one list)",
            met=correct and (segmented["requests"] - one_off) / chunks <= baseline["requests"] / chunks + 1,
        ),
        Figure(
            title,
            "list writes (PUT /v2/lists/{id}) per chunk",
            list_writes / chunks,
            "req",
            target="<= 1 per list per chunk",
            met=list_writes <= chunks,
        ),
        Figure(
            title,
            "extra requests per contact (beyond list writes and one-off requests)",
            per_contact,
            "req",
            target="0",
            met=per_contact <= 0,
        ),
    ]
    section.details.update({"baseline": baseline, "segmented": segmented, "chunks": chunks})
    section.notes += [
        f"baseline: {baseline['requests']} requests ({baseline['by_endpoint']}); with tags by name and a list: "
        f"{segmented['requests']} ({by_endpoint}).",
        f"one-off requests, counted once per execution environment or stack: {one_off} (the team's tags read, the "
        f"list created); every contact stored with both tags ({segmented['tagged']}) and on the list "
        f"({segmented['listed']}) in one list ({segmented['lists']} in all).",
        "a warm execution environment reads no tags and creates no list: a batch of 100 costs the baseline's "
        "requests plus one list write per list.",
    ]
    return section
