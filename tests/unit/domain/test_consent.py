"""Opt-out wins (issue 21): the re-consent rule, the setting, merges and the senders' consent claims, and the sync
service end to end. The gateway's part (an opt-in never written over an opt-out, what became of it, an opt-out written
to every holder of the phone) is tests/unit/adapters/heymarket/test_gateway_opt_out_wins.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation, consent_of
from heymarket_bridge.domain.reconsent import ReconsentRule
from heymarket_bridge.settings import ConfigError, SyncSettings
from heymarket_bridge.sync.model import QueueRecord
from tests.doubles.state_double import InMemoryContactState
from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, payload_of, with_json
from tests.unit.sync.harness import ANN, RECEIVED, Harness

BEFORE, STOPPED, AFTER = "2026-11-23T08:00:00.000Z", "2026-11-23T08:30:00.000Z", "2026-11-23T09:00:00.000Z"


def opt_in(**fields: Any) -> Contact:
    return Contact(phone=ANN, is_opted_out=False, **fields)


# ---------------------------------------------------------------------- the rule, the setting, merges, sources

RULE = ReconsentRule.parse("shopify=sms_marketing_consent.state, typeform=answers.consent")


def test_the_reconsent_rule_gives_the_consent_time_only_for_a_named_source_and_field() -> None:
    claim = ConsentClaim("sms_marketing_consent.state", "subscribed", AFTER)

    assert RULE.consent_time("shopify", claim) == AFTER
    assert RULE.consent_time("generic", claim) is None
    assert RULE.consent_time("shopify", ConsentClaim("email_marketing_consent.state", "subscribed", AFTER)) is None
    assert RULE.consent_time("shopify", ConsentClaim("sms_marketing_consent.state", "subscribed")) is None
    assert RULE.consent_time("shopify", ConsentClaim("sms_marketing_consent.state", "subscribed", "soon")) is None


@pytest.mark.parametrize(
    ("consented_at", "gives"),
    [
        ("2026-11-23T09:04:59.000Z", True),  # within the clock skew allowed of the receipt (09:00)
        ("2026-11-23T09:05:01.000Z", False),  # later than the skew: not a time the person consented at
        ("2099-01-01T00:00:00.000+00:00", False),
    ],
)
def test_a_consent_time_later_than_its_receipt_gives_no_re_consent(consented_at: str, gives: bool) -> None:
    claim = ConsentClaim("sms_marketing_consent.state", "subscribed", consented_at)

    time = RULE.consent_time("shopify", claim, received_at="2026-11-23T09:00:00.000+00:00")

    assert time == (consented_at if gives else None)


def test_no_source_may_re_consent_by_default() -> None:
    settings = SyncSettings.from_env({"HEYMARKET_SECRET_ARN": "arn", "DLQ_URL": "dlq", "QUEUE_URL": "q"})

    assert not settings.reconsent


def test_a_reconsent_setting_that_is_not_source_equals_field_is_refused_at_start() -> None:
    env = {"HEYMARKET_SECRET_ARN": "arn", "DLQ_URL": "dlq", "QUEUE_URL": "q", "RECONSENT_SOURCES": "shopify"}

    with pytest.raises(ConfigError, match="RECONSENT_SOURCES"):
        SyncSettings.from_env(env)


def operation(source: str, opted_out: bool | None, claim: ConsentClaim | None) -> ContactOperation:
    contact = Contact(phone=ANN, is_opted_out=opted_out, last="x")
    return ContactOperation(Operation.UPSERT, contact, source, RECEIVED, "corr", consent=claim)


def test_an_opt_out_merged_with_a_later_opt_in_stays_an_opt_out_with_its_claim() -> None:
    out_claim, in_claim = ConsentClaim("is_opted_out", "yes"), ConsentClaim("is_opted_out", "no")
    earlier, later = operation("generic", True, out_claim), operation("shopify", False, in_claim)

    assert earlier.contact.merged_with(later.contact).is_opted_out is True
    assert consent_of([earlier, later]) == ("generic", out_claim)
    assert consent_of([later, earlier]) == ("generic", out_claim)
    assert consent_of([earlier, operation("hubspot", None, None)]) == ("generic", out_claim)


def test_shopify_claims_its_sms_consent_state_dated_by_consent_updated_at() -> None:
    event = load_event("shopify/customers_create")
    payload = payload_of(event)
    payload["sms_marketing_consent"] = {"state": "subscribed", "consent_updated_at": "2026-11-23T03:59:51-05:00"}

    [message] = deliver(with_json(event, payload)).messages

    assert message["consent"] == {
        "field": "sms_marketing_consent.state",
        "value": "subscribed",
        "consented_at": "2026-11-23T08:59:51.000+00:00",
        "event_id": "98d1ac1c-3b5e-4f6a-9f0e-6b1c2d3e4f50",  # X-Shopify-Event-Id, for the record
    }


def test_a_generic_opt_in_is_claimed_as_sent_without_a_time() -> None:
    event = load_event("generic/single_contact")
    event["body"] = json.dumps({"phone": "+15105551234", "is_opted_out": "no"})

    [message] = deliver(event).messages

    assert message["consent"] == {"field": "is_opted_out", "value": "no"}


def test_a_contact_without_an_opt_out_carries_no_claim() -> None:
    event = load_event("generic/single_contact")
    event["body"] = json.dumps({"phone": "+15105551234", "first": "Ann"})

    [message] = deliver(event).messages

    assert "consent" not in message


def shopify_opt_in(n: int, consented_at: str) -> QueueRecord:
    claim = ConsentClaim("sms_marketing_consent.state", "subscribed", consented_at)
    received = f"2026-11-23T09:00:0{n}.000+00:00"
    operation = ContactOperation(Operation.UPSERT, opt_in(last="Lee"), "shopify", received, f"corr-{n}", consent=claim)
    return QueueRecord(f"msg-consent-{n}", operation.to_json(), 1, sent_timestamp_ms=n)


def test_through_the_sync_service_only_a_trusted_re_consent_newer_than_the_opt_out_opts_back_in() -> None:
    # Given re-consent for Shopify, a contact state, and a contact Heymarket holds opted out since STOPPED
    h = Harness(state=InMemoryContactState(), reconsent=RULE)
    h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    # When Shopify's opt-in dated before the STOP arrives, then the same opt-in dated after it
    first = h.process(shopify_opt_in(1, BEFORE))
    held_back = h.heymarket.holding(ANN)[0].fields["is_opted_out"]
    second = h.process(shopify_opt_in(2, AFTER))

    # Then the first is held back (the contact stays opted out), and the second, not skipped as unchanged, opts in
    assert (first.failed_message_ids, held_back) == ([], True)
    assert (second.failed_message_ids, second.unchanged_skipped) == ([], 0)
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is False


def test_an_opt_out_read_through_a_mapping_is_claimed_under_the_field_the_mapping_names() -> None:
    event = load_event("generic/single_contact")
    event["body"] = json.dumps({"phone": "+15105551234", "SMS_Opt_Out__c": "true"})

    [message] = deliver(event, mappings={"generic": {"is_opted_out": "SMS_Opt_Out__c"}}).messages

    assert message["consent"] == {"field": "SMS_Opt_Out__c", "value": "true"}
