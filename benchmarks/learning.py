"""Learned once per stack: Heymarket requests for contacts synced before, from senders that send every field, in one
batch and at a trickle spread over several execution environments (issue 27).

For each undocumented behaviour that decides the requests (what a create of a held phone does x which identifiers
answers carry), the sync side as deployed (`compose_sync` from the template's environment, one per execution
environment, all on one contact state table in moto; the sandbox for Heymarket) takes 100 new contacts (phone, names,
email), then three changes of every one of them, each sending EVERY field (only the last name differs): the way a CRM
workflow or a form posts. Two ways:

- "one batch": each change as one batch of 100 to one execution environment (benchmark 8's shape);
- "trickle": each change as batches of `TRICKLE_BATCH` (a webhook every few seconds, gathered by the batching window),
  handed in turn to `TRICKLE_ENVIRONMENTS` execution environments, and every change to new ones (Lambda starts new
  ones as the old ones go idle): each starts from what the stack learned, read on its first batch.

The figure is requests per batch of known contacts, the ideal being 1 (one bulk write; for the one-batch way it is
requests per 100 contacts, benchmark 8's figure). Baseline, measured in the same run: the trickle without the contact
state table (CONTACT_STATE_TABLE empty: every batch looks its phones up, then writes), which is what the bridge
before issue 27 cost with the table too whenever senders sent every field (its probe needed a field the sender left
out, and each execution environment learned alone). Requests are counted, not timed (the request budget is raised
far above the runs' needs).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import boto3

from benchmarks.common import Figure, Section, progress
from benchmarks.state import BEHAVIOURS, UNLIMITED, records
from heymarket_local.audit import audit, distinct_phones, expected_fields, load_contact
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 100
TARGET: Final = 1.05  # requests per batch of known contacts, from the stack's second change on
TRICKLE_BATCH: Final = 10
TRICKLE_ENVIRONMENTS: Final = 3
CHANGES: Final = ("first change", "second change", "third change")


@contextmanager
def environments(sandbox: HeymarketSandbox, *, table: bool = True) -> Iterator[Callable[[], Any]]:
    """A maker of sync runtimes as deployed, each one execution environment, all on one stack (moto, the sandbox)."""
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
        environment = template.function_environment(
            "SyncFunction",
            resources,
            {"HEYMARKET_BASE_URL": sandbox.url, **UNLIMITED, **({} if table else {"CONTACT_STATE_TABLE": ""})},
        )
        yield lambda: compose_sync({**os.environ, **environment})


def every_field(phone: str, n: int, number: int) -> dict[str, Any]:
    """The contact as change `number` posts it: every field, the last name that of the change (1: as created)."""
    contact = load_contact(phone, n, "learning")
    return contact if number == 1 else {**contact, "last": f"learning-v{number}-{n}"}


def run_one(behaviour: Mapping[str, Any], *, trickle: bool, table: bool = True) -> dict[str, Any]:
    """Requests and batches of each change; the audit of the last values."""
    phones = distinct_phones(CONTACTS)
    size = TRICKLE_BATCH if trickle else CONTACTS
    figures: dict[str, dict[str, int]] = {}
    with HeymarketSandbox(SandboxConfig(**behaviour)) as sandbox, environments(sandbox, table=table) as make:
        first = make()
        first.service.process(records([every_field(p, n, 1) for n, p in enumerate(phones)], "create"), lambda: 60.0)
        for number, name in enumerate(CHANGES, start=2):
            time.sleep(0.002)  # each change received after the one before
            batch = records([every_field(p, n, number) for n, p in enumerate(phones)], name)
            runtimes = [make() for _ in range(TRICKLE_ENVIRONMENTS)] if trickle else [first]
            turn = itertools.cycle(runtimes)
            before = int(sandbox.stats()["requests"])
            batches = 0
            for start in range(0, len(batch), size):
                report = next(turn).service.process(batch[start : start + size], lambda: 60.0)
                if report.failed_message_ids:
                    raise RuntimeError(f"{name}: {len(report.failed_message_ids)} messages not delivered")
                batches += 1
            figures[name] = {"requests": int(sandbox.stats()["requests"]) - before, "batches": batches}
        newest = {p: expected_fields(every_field(p, n, len(CHANGES) + 1)) for n, p in enumerate(phones)}
        result = audit(newest, sandbox.contacts(), [])
    return {"changes": figures, "audit_ok": result.ok and len(result.delivered) == CONTACTS}


def run() -> Section:
    section = Section(f"8b. Learned once per stack: requests for {CONTACTS} known contacts, every field sent")
    title = section.title
    runs: dict[str, dict[str, Any]] = {}
    for behaviour, trickle in itertools.product(BEHAVIOURS, (False, True)):
        way = "trickle" if trickle else "one batch"
        name = "-".join(behaviour.values())
        if f"{name}/baseline" not in runs:
            progress(f"  {name}, trickle without the table (baseline)...")
            runs[f"{name}/baseline"] = run_one(behaviour, trickle=True, table=False)
        progress(f"  {name}, {way}...")
        result = runs[f"{name}/{way}"] = run_one(behaviour, trickle=trickle)
        uuid_mode = behaviour["identifiers"] == "uuid"
        for change in ("first change", "second change"):
            counted, without = result["changes"][change], runs[f"{name}/baseline"]["changes"][change]
            value = counted["requests"] / counted["batches"]
            targeted = uuid_mode and change == "second change"
            section.figures.append(
                Figure(
                    title,
                    f"{name}, {way}: requests per batch of known contacts, {change}",
                    value,
                    "req/batch",
                    # (integer ids, one batch: a v1 write per contact, so a batch of 100 is not comparable with 10)
                    baseline=without["requests"] / without["batches"] if trickle or uuid_mode else None,
                    baseline_name="without the table",
                    target=f"<= {TARGET}" if targeted else "",
                    met=(value <= TARGET and result["audit_ok"]) if targeted else None,
                    note="" if result["audit_ok"] else "NOT the newest values in Heymarket",
                )
            )
    section.details["runs"] = runs
    section.notes += [
        "every change sends every field (phone, first, last, email; only the last name changes): the probe leaves "
        "out a field the sender sent unchanged (never the opt-out), so it teaches what updates do with what they "
        "leave out; the fact is the stack's (one item of the contact state table), read by each execution "
        "environment on its first batch.",
        f"trickle: batches of {TRICKLE_BATCH} handed in turn to {TRICKLE_ENVIRONMENTS} execution environments, new "
        "ones for every change; its first change costs a look-up in the first batch that meets a known contact (the "
        "probe), every later batch 1.",
        "integer identifiers: the UUID that v2 updates need is documented only in the answers of Heymarket's v1 "
        "single-contact writes, so the first change of a contact costs a look-up and one PUT /v1/contact/{id} each; "
        "no target.",
        f"every run's audit (the newest values in Heymarket, one contact per phone): "
        f"{'ok' if all(r['audit_ok'] for r in runs.values()) else 'FAILED'}.",
    ]
    return section
