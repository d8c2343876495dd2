"""The sync side writes the consent record once Heymarket answered, and a record it cannot write never holds a
contact back."""

from __future__ import annotations

import json

import pytest

from heymarket_bridge.domain.consent import ConsentAction
from heymarket_bridge.sync.consent_record import APPLIED, SUPERSEDED
from tests.doubles.consent_log import MemoryConsentLog
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"


def test_an_opt_out_delivered_is_recorded_as_applied_with_the_time_it_was_recorded() -> None:
    log = MemoryConsentLog()
    h = Harness(consent_log=log)

    report = h.process(upsert(ANN, is_opted_out=True), upsert(BOB, first="Bo"))

    [change] = log.changes
    assert (change.phone, change.opted_out, change.action) == (ANN, True, ConsentAction.APPLIED)
    assert change.recorded_at == "2026-11-23T09:05:00.000+00:00"
    assert report.consent_changes_recorded == 1


def test_a_contact_heymarket_did_not_store_is_not_recorded_yet() -> None:
    log = MemoryConsentLog()
    h = Harness(consent_log=log)
    h.heymarket.script(CONTACTS, *([(400, {"error": "invalid"})] * 5))

    h.process(upsert(ANN, is_opted_out=True))

    assert log.changes == []


def test_a_record_that_cannot_be_written_is_counted_and_the_contact_still_delivered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(consent_log=MemoryConsentLog(broken=True))

    report = h.process(upsert(ANN, is_opted_out=True))

    assert (report.failed_message_ids, report.delivered_contacts) == ([], 1)
    assert report.consent_records_failed == 1
    logged = " ".join(json.dumps(record.__dict__, default=str) for record in caplog.records)
    assert "Consent changes not recorded" in logged
    assert ANN not in logged  # the phone is masked


def test_an_opt_in_older_than_the_opt_out_applied_is_recorded_as_held_back() -> None:
    # Given an opt-out applied, received at 09:00:05
    log = MemoryConsentLog()
    h = Harness(consent_log=log, state=InMemoryContactState())
    h.process(upsert(ANN, received_at="2026-11-23T09:00:05.000+00:00", is_opted_out=True))

    # When an opt-in received before it arrives late (a retry)
    report = h.process(upsert(ANN, received_at="2026-11-23T09:00:01.000+00:00", is_opted_out=False))

    # Then it is skipped, and on record as held back
    assert report.superseded_operations == 1
    assert [(c.opted_out, c.action, c.reason) for c in log.changes] == [
        (True, ConsentAction.APPLIED, APPLIED),
        (False, ConsentAction.HELD_BACK, SUPERSEDED),
    ]
