"""Contact state: Heymarket requests for contacts the bridge synced before, with the table and without it (baseline).

For each undocumented behaviour that decides the requests (what a create of a held phone does x which identifiers
answers carry; updates keeping what they leave out), the sync side as deployed (`compose_sync` from the template's
environment, moto for AWS, the sandbox for Heymarket) takes 100 new contacts (phone, names, email), then the same 100
with their last name changed three times (the first change, the change on which the instance learns what updates do
with what they leave out, a change once it knows), then the last change delivered again, one batch of 100 each; the
baseline is the same run with the table left out (CONTACT_STATE_TABLE empty: every batch looks its phones up before
writing). The request budget is raised far above the runs' needs: requests are counted here, not timed. The table's
own cost is counted by its adapter: items read (strongly consistent reads, 1 read unit each up to 4 KB) and items
written (in transactions, 2 write units each up to 1 KB), per contact and delivery. One run with updates that clear
what they leave out shows what the gateway does when Heymarket behaves that way (noted, no target).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import boto3

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import sqs_records
from heymarket_bridge.sync.model import QueueRecord
from heymarket_local.audit import audit, distinct_phones, expected_fields, load_contact
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 100
TARGET: Final = 1.05  # Heymarket requests per 100 contacts synced before
BEHAVIOURS: Final = [
    {"duplicate_create": create, "identifiers": identifiers}
    for create in ("refuse", "update", "duplicate")
    for identifiers in ("uuid", "integer")
]
STEPS: Final = (
    ("create", 1),
    ("first change", 2),
    ("second change", 3),
    ("later change", 4),
    ("unchanged", 4),
)
NEWEST: Final = 4  # the version the last change sends
UNLIMITED: Final = {"HEYMARKET_RATE_LIMIT_PER_MINUTE": "1000000"}


@contextmanager
def sync_side(sandbox: HeymarketSandbox, *, table: bool) -> Iterator[Any]:
    """The sync function's runtime as deployed (template environment), against moto and the sandbox."""
    from moto import mock_aws

    from heymarket_bridge.app.sync import compose_sync

    template = StackTemplate.load()
    with mock_aws():
        resources = template.provision(
            boto3.client("sqs"),
            boto3.client("secretsmanager"),
            webhook_secrets={"generic": "unused"},
            heymarket_credentials={"secret_id": sandbox.config.secret_id, "secret_key": sandbox.config.secret_key},
        )
        extra = {"HEYMARKET_BASE_URL": sandbox.url, **UNLIMITED, **({} if table else {"CONTACT_STATE_TABLE": ""})}
        environment = template.function_environment("SyncFunction", resources, extra)
        yield compose_sync({**os.environ, **environment})


def records(contacts: list[dict[str, Any]], run: str) -> list[QueueRecord]:
    return [
        QueueRecord(r["messageId"], r["body"], 1, int(r["attributes"]["SentTimestamp"]))
        for r in sqs_records(contacts, run)
    ]


def version(phone: str, n: int, number: int) -> dict[str, Any]:
    """The contact as the step with this `number` sends it: whole at first, then only its changed last name."""
    contact = load_contact(phone, n, "state")
    return contact if number == 1 else {"phone": contact["phone"], "last": f"state-v{number}-{n}"}


def steps(behaviour: Mapping[str, Any], *, table: bool) -> dict[str, Any]:
    """Requests (and table items) of each step for 100 contacts; the audit of the last values."""
    phones = distinct_phones(CONTACTS)
    requests: dict[str, int] = {}
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    with HeymarketSandbox(SandboxConfig(**behaviour)) as sandbox, sync_side(sandbox, table=table) as runtime:
        for name, number in STEPS:
            contacts = [version(phone, n, number) for n, phone in enumerate(phones)]
            state = runtime.contact_state
            before = (
                sandbox.stats()["requests"],
                state.items_read if state else 0,
                state.items_written if state else 0,
            )
            time.sleep(0.002)  # each step received after the one before
            report = runtime.service.process(records(contacts, name), lambda: 60.0)
            if report.failed_message_ids:
                raise RuntimeError(f"{name}: {len(report.failed_message_ids)} messages not delivered")
            requests[name] = int(sandbox.stats()["requests"]) - before[0]
            reads[name] = (state.items_read if state else 0) - before[1]
            writes[name] = (state.items_written if state else 0) - before[2]
        newest = {
            phone: {**expected_fields(load_contact(phone, n, "state")), "last": f"state-v{NEWEST}-{n}"}
            for n, phone in enumerate(phones)
        }
        result = audit(newest, sandbox.contacts(), [])
        largest = _largest_item(runtime) if table else 0
    return {
        "requests": requests,
        "items_read": reads,
        "items_written": writes,
        "audit_ok": result.ok and len(result.delivered) == CONTACTS,
        "largest_item_bytes": largest,
    }


def _largest_item(runtime: Any) -> int:
    """The size of the largest item in the table (attribute names and values, as DynamoDB counts them, roughly)."""
    dynamodb = boto3.client("dynamodb")
    items = dynamodb.scan(TableName=runtime.settings.contact_state_table)["Items"]
    return max(sum(len(name) + len(str(value)) for name, value in item.items()) for item in items)


def run() -> Section:
    section = Section(f"8. Contact state: Heymarket requests for {CONTACTS} contacts synced before")
    title = section.title
    runs: dict[str, dict[str, Any]] = {}
    for behaviour in BEHAVIOURS:
        name = "-".join(behaviour.values())
        progress(f"  {name}: with the table, then without it...")
        runs[name] = {"table": steps(behaviour, table=True), "baseline": steps(behaviour, table=False)}
        measured, baseline = runs[name]["table"], runs[name]["baseline"]
        for step, label in (
            ("first change", "first change after the bridge created them"),
            ("second change", "second change"),
        ):
            section.figures.append(
                Figure(
                    title,
                    f"{name}: requests, {label}",
                    measured["requests"][step],
                    "req",
                    baseline=baseline["requests"][step],
                    baseline_name="without the table",
                )
            )
        value = measured["requests"]["later change"]
        section.figures.append(
            Figure(
                title,
                f"{name}: requests, a change once the instance has learned",
                value,
                "req",
                baseline=baseline["requests"]["later change"],
                baseline_name="without the table",
                target=f"<= {TARGET}",
                met=value <= TARGET and measured["audit_ok"],
            )
        )
        section.figures.append(
            Figure(
                title,
                f"{name}: requests, {CONTACTS} deliveries that change nothing",
                measured["requests"]["unchanged"],
                "req",
                baseline=baseline["requests"]["unchanged"],
                baseline_name="without the table",
                target="0",
                met=measured["requests"]["unchanged"] == 0 and measured["audit_ok"],
            )
        )
    progress("  updates that clear what they leave out...")
    clearing = steps({"duplicate_create": "refuse", "identifiers": "uuid", "update_omitted": "clear"}, table=True)
    reference = runs["refuse-uuid"]["table"]
    for step in ("later change", "unchanged"):
        section.figures.append(
            Figure(
                title,
                f"DynamoDB items read per contact, {step}",
                reference["items_read"][step] / CONTACTS,
                "items",
            )
        )
        section.figures.append(
            Figure(
                title,
                f"DynamoDB items written per contact, {step} (in transactions)",
                reference["items_written"][step] / CONTACTS,
                "items",
            )
        )
    largest = max(r["table"]["largest_item_bytes"] for r in runs.values())
    section.details.update({"runs": runs, "clearing": clearing, "largest_item_bytes": largest})
    section.notes += [
        "known contacts are written without a look-up only once the stack has seen that Heymarket's updates keep "
        "what they leave out: the stack's first change of known contacts is looked up, and one of them leaves a "
        "field out to learn it (the probe: a field the sender left out, else one it sent unchanged), so that change "
        "costs 2 per 100; every later one 1, in every execution environment (the fact is kept in the table: "
        "benchmark 8b, docs/heymarket-behaviour.md).",
        "integer identifiers: the UUID that v2 updates need is documented only in the answers of Heymarket's v1 "
        "single-contact writes, so the first change of a contact the bridge created costs a look-up and one "
        "PUT /v1/contact/{id} each, as without the table; its answer gives the UUID, the next change is a look-up "
        "and one bulk update by it (the instance learns), and every later change one bulk request per 100.",
        f"updates that clear what they leave out (refuse-uuid): first change {clearing['requests']['first change']} "
        f"requests (the update, then the fields it cleared written back at once), later changes "
        f"{clearing['requests']['later change']} (look-up, then the completed update: a snapshot could undo a STOP), "
        f"unchanged {clearing['requests']['unchanged']}; audit {'ok' if clearing['audit_ok'] else 'FAILED'}.",
        f"table items are at most {largest} bytes here (1 read unit, and 2 write units in a transaction, each): a "
        "change costs 1 read and 2 transactional writes (take the lease, give it back with the outcome), 1 + 4 "
        "request units; a delivery that changes nothing 1 read and 1 write (its time recorded), 1 + 2.",
        f"every run's audit (the newest values in Heymarket, one contact per phone): "
        f"{'ok' if all(r['table']['audit_ok'] and r['baseline']['audit_ok'] for r in runs.values()) else 'FAILED'}.",
    ]
    section.details["usd_per_million_deliveries"] = _per_million(largest)
    return section


def _per_million(item_bytes: int) -> dict[str, float]:
    """On-demand list prices, us-east-1: $0.125 per million read units (4 KB, strongly consistent), $0.625 per
    million write units (1 KB; a transactional write takes 2)."""
    read_units, write_units = math.ceil(item_bytes / 4096), 2 * math.ceil(item_bytes / 1024)
    change = (1 * read_units * 0.125) + (2 * write_units * 0.625)
    unchanged = (1 * read_units * 0.125) + (1 * write_units * 0.625)
    return {"change": round(change, 3), "unchanged": round(unchanged, 3)}
