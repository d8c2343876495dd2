"""Heymarket requests per 100 contacts in each behaviour Heymarket leaves undocumented.

What a create of a phone Heymarket holds does (refuse / update / a second contact) and which identifiers its
answers carry (a UUID next to the integer id, or the integer id only) change what the bridge must send. For each
combination, the real sync handler (template defaults: 100 contacts per request) receives 1,000 contacts that are
new to Heymarket, 1,000 it already holds, and 1,000 of which half it holds; the sandbox counts the requests. Each
figure sits next to the per-contact baseline (one request per contact, the way Zapier and n8n integrations work);
the ideal is 1 request per 100 contacts.
"""

from __future__ import annotations

import itertools
from typing import Any, Final

import urllib3

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import sqs_records, sync_function
from heymarket_local.audit import distinct_phones, load_contact
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 1_000
BATCH: Final = 100
TARGET_PER_100: Final = 2.0  # issue 12: at most 2 requests per 100 contacts where answers carry UUIDs
CREATES: Final = ("refuse", "update", "duplicate")
IDENTIFIERS: Final = ("uuid", "integer")
MIXES: Final = {"new": 0.0, "existing": 1.0, "half existing": 0.5}


def seed(sandbox: HeymarketSandbox, phones: list[str]) -> None:
    """Contacts Heymarket already holds (made before the bridge saw them), in bulk with the team API key."""
    pool = urllib3.PoolManager()
    for start in range(0, len(phones), 500):
        body = {"contacts": [{"phone": p, "first": "Before"} for p in phones[start : start + 500]]}
        answer = pool.request(
            "POST",
            f"{sandbox.url}/v2/contacts",
            json=body,
            headers={"Authorization": f"Bearer {sandbox.config.api_key}"},
        )
        assert answer.status == 200, answer.data


def run_one(create: str, identifiers: str, held_fraction: float) -> dict[str, Any]:
    phones = distinct_phones(CONTACTS)
    contacts = [load_contact(phone, index, "behaviours") for index, phone in enumerate(phones)]
    records = sqs_records(contacts, f"behaviours-{create}-{identifiers}")
    config = SandboxConfig(duplicate_create=create, identifiers=identifiers, rate_limit_per_minute=1_000_000)
    # Requests are counted, not timed: a request budget far above Heymarket's keeps the run short.
    with (
        HeymarketSandbox(config) as sandbox,
        sync_function(sandbox, {"HEYMARKET_RATE_LIMIT_PER_MINUTE": "600000"}) as invoke,
    ):
        seed(sandbox, phones[: int(CONTACTS * held_fraction)])
        before = int(sandbox.stats()["requests"])
        batches = [records[start : start + BATCH] for start in range(0, len(records), BATCH)]
        failed = 0
        for batch in batches:
            failed += len(invoke({"Records": batch})["batchItemFailures"])
        requests = int(sandbox.stats()["requests"]) - before
        held = [c for c in sandbox.contacts() if c["phone"] in set(phones)]
        return {
            "requests": requests,
            "per_100": requests * 100 / CONTACTS,
            "redelivered": failed,
            "one_per_phone": len(held) == CONTACTS and len({c["phone"] for c in held}) == CONTACTS,
            "latest_values": all(c["first"] != "Before" for c in held),
        }


def run() -> Section:
    section = Section(f"6. Requests per 100 contacts in each undocumented Heymarket behaviour ({CONTACTS:,} each)")
    for create, identifiers in itertools.product(CREATES, IDENTIFIERS):
        for mix, held_fraction in MIXES.items():
            progress(f"  {create} / {identifiers} / {mix}...")
            result = run_one(create, identifiers, held_fraction)
            section.details[f"{create}/{identifiers}/{mix}"] = result
            correct = result["one_per_phone"] and result["latest_values"] and result["redelivered"] == 0
            uuid_mode = identifiers == "uuid"
            section.figures.append(
                Figure(
                    section.title,
                    f"create {create}, ids {identifiers}, contacts {mix}",
                    result["per_100"],
                    "req/100",
                    baseline=100.0,
                    baseline_name="per contact",
                    target=f"<= {TARGET_PER_100:g}" if uuid_mode else "",
                    met=(result["per_100"] <= TARGET_PER_100 and correct) if uuid_mode else None,
                    note="" if correct else "NOT one contact per phone with the latest values",
                )
            )
    section.notes += [
        "the ideal is 1 request per 100 contacts (one bulk write). The bridge looks each chunk's phones up first "
        "(POST /v2/contacts/search), because a create of a phone Heymarket holds may make a second contact: 2 "
        "requests per 100, new or existing.",
        "where answers carry only integer ids, an existing contact is updated with PUT /v1/contact/{id} (v2 "
        "updates need the UUID): one request per existing contact, plus the look-up and the creates.",
        "every run is checked: each phone held by exactly one contact, with the values sent, nothing redelivered.",
    ]
    return section
