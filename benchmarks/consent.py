"""Heymarket requests per 100 contacts for updates that carry an opt-in, next to the same updates without one.

1,000 contacts the bridge stored before (a first round creates them, a second updates each, so that the instance has
learned what Heymarket's updates do with what they leave out), a fifth of them then texting STOP to Heymarket. Then
one more update of each, its last name changed: without `is_opted_out`; with `is_opted_out: false` at default settings
(the opt-in is left out of every write: held back for those who texted STOP); and with `is_opted_out: false` from a
source the operator trusts for re-consent, with a consent time older than the STOP (each chunk is looked up first).
The sandbox counts the requests; each run is checked: the contacts who texted STOP stay opted out, every last name is
written, nothing is redelivered.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from benchmarks.common import Figure, Section, progress
from benchmarks.efficiency import sqs_records, sync_function
from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_local.audit import distinct_phones, load_contact
from heymarket_sandbox import HeymarketSandbox, SandboxConfig

CONTACTS: Final = 1_000
BATCH: Final = 100
STOP_EVERY: Final = 5
SOURCE: Final = "shopify"
FIELD: Final = "sms_marketing_consent.state"


def _records(contacts: list[dict[str, Any]], run: str, claim: ConsentClaim | None) -> list[dict[str, Any]]:
    """SQS records of the contacts; with `claim`, each as Shopify's SMS consent would queue it."""
    records = sqs_records(contacts, run)
    if claim is not None:
        for record in records:
            body = json.loads(record["body"])
            body.update(source=SOURCE, consent=claim.to_dict())
            record["body"] = json.dumps(body)
    return records


def run_one(variant: str) -> dict[str, Any]:
    phones = distinct_phones(CONTACTS)
    environment = {"HEYMARKET_RATE_LIMIT_PER_MINUTE": "600000"}
    if variant == "re-consent":
        environment["RECONSENT_SOURCES"] = f"{SOURCE}={FIELD}"
    consented = datetime.now(UTC).isoformat(timespec="milliseconds")  # before the STOPs below
    config = SandboxConfig(rate_limit_per_minute=1_000_000)
    with HeymarketSandbox(config) as sandbox, sync_function(sandbox, environment) as invoke:

        def sync(records: list[dict[str, Any]]) -> int:
            return sum(
                len(invoke({"Records": records[start : start + BATCH]})["batchItemFailures"])
                for start in range(0, len(records), BATCH)
            )

        for round_name in ("created", "updated"):
            sync(_records([load_contact(p, i, round_name) for i, p in enumerate(phones)], round_name, None))
        stopped = set(phones[::STOP_EVERY])
        for phone in stopped:
            sandbox.text(phone, "STOP")
        contacts = [load_contact(p, i, "measured") for i, p in enumerate(phones)]
        if variant != "no opt-in":
            contacts = [{**contact, "is_opted_out": False} for contact in contacts]
        claim = ConsentClaim(FIELD, "subscribed", consented) if variant == "re-consent" else None
        before = int(sandbox.stats()["requests"])
        redelivered = sync(_records(contacts, "measured", claim))
        requests = int(sandbox.stats()["requests"]) - before
        held = {c["phone"]: c for c in sandbox.contacts()}
        return {
            "requests": requests,
            "per_100": requests * 100 / CONTACTS,
            "redelivered": redelivered,
            "stops_kept": all(held[p]["is_opted_out"] is True for p in stopped),
            "written": all(held[p]["last"] == f"measured-{i}" for i, p in enumerate(phones)),
        }


def run() -> Section:
    section = Section(f"9. Requests per 100 contacts for updates carrying an opt-in ({CONTACTS:,} known contacts)")
    results = {}
    for variant in ("no opt-in", "opt-in", "re-consent"):
        progress(f"  {variant}...")
        results[variant] = result = run_one(variant)
        section.details[variant] = result
    baseline = results["no opt-in"]["per_100"]
    for variant, result in results.items():
        correct = result["stops_kept"] and result["written"] and result["redelivered"] == 0
        section.figures.append(
            Figure(
                section.title,
                {
                    "no opt-in": "update without is_opted_out",
                    "opt-in": "update with is_opted_out false (default settings)",
                    "re-consent": "update with is_opted_out false, source trusted for re-consent",
                }[variant],
                result["per_100"],
                "req/100",
                baseline=baseline,
                baseline_name="update without an opt-in",
                note="" if correct else "NOT every STOP kept and every field written",
            )
        )
    section.notes += [
        "a fifth of the contacts texted STOP to Heymarket before the measured update. Measured (make bench, 1,000 "
        "contacts): 2.00 requests per 100 in all three (one search, one bulk write per chunk): every update here is "
        "looked up, whatever it carries, so an opt-in adds nothing at default settings (it is left out of the "
        "write) and a re-consent's look-up is the one every update already has.",
        "where an instance writes known contacts without a look-up (once it has seen that updates keep what they "
        "leave out), an opt-in still costs nothing, and a chunk carrying a re-consent costs one search more.",
    ]
    return section
