"""Opt-out wins (issue 21): the bridge never turns a contact Heymarket holds opted out into an opted-in one, on any
path, unless the operator's re-consent rule allows it; what became of an opt-in is on each result."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.contacts.consent import (
    HELD_IGNORED,
    HELD_NO_TIME,
    HELD_NOT_NEWER,
    HELD_NOT_SHOWN,
    HELD_OPTED_OUT,
    HELD_REFUSED,
)
from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation, consent_of
from heymarket_bridge.domain.reconsent import ReconsentRule
from heymarket_bridge.settings import ConfigError, SyncSettings
from heymarket_bridge.sync.model import Identity, KnownContact, Stored
from heymarket_bridge.sync.service import QueueRecord
from tests.doubles.state_double import InMemoryContactState
from tests.support import load_event
from tests.unit.sources.harness import deliver, payload_of, with_json
from tests.unit.sync_harness import ANN, RECEIVED, Harness

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
BEFORE, STOPPED, AFTER = "2026-11-23T08:00:00.000Z", "2026-11-23T08:30:00.000Z", "2026-11-23T09:00:00.000Z"


def bulk_items(h: Harness) -> list[dict[str, Any]]:
    return [item for route, data in h.heymarket.log if route == CONTACTS for item in data["contacts"]]


def stored(result: object) -> Stored:
    assert isinstance(result, Stored), result
    return result


def opt_in(**fields: Any) -> Contact:
    return Contact(phone=ANN, is_opted_out=False, **fields)


# ---------------------------------------------------------------------- default: an opt-in is never written


def test_an_opt_in_over_an_opt_out_is_left_out_of_the_write_and_the_other_fields_are_written() -> None:
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [True]
    assert [c.fields["last"] for c in h.heymarket.holding(ANN)] == ["Lee"]
    assert stored(result).consent_held_back == HELD_OPTED_OUT


def test_a_held_back_opt_in_is_counted_and_logged_with_a_masked_phone(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True)

    h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert '"OptInsHeldBack"' in capsys.readouterr().out
    held = [record for record in caplog.records if record.getMessage().startswith("Opt-in held back")]
    assert [getattr(record, "phone", None) for record in held] == ["15*****1234"]
    assert ANN not in caplog.text


def test_an_opt_in_of_a_contact_opted_in_is_not_sent_and_is_reported_applied() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=False)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    assert all("is_opted_out" not in item for item in bulk_items(h))
    assert stored(result).consent_held_back is None


def test_a_new_contact_asking_for_an_opt_in_is_created_without_the_field_and_reported_applied() -> None:
    h = Harness()

    [result] = h.gateway.upsert([opt_in(first="Ann")], h.deadline())

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert stored(result).consent_held_back is None


def test_a_contact_that_asked_for_no_opt_in_has_nothing_held_back() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True)

    [result] = h.gateway.upsert([Contact(phone=ANN, last="Lee")], h.deadline())

    assert stored(result).consent_held_back is None


def test_an_update_that_leaves_the_opt_out_out_never_says_an_opt_in_again_where_updates_clear_what_they_omit() -> None:
    # Given updates that clear what they leave out, and a contact opted in as the look-up shows it
    h = Harness()
    h.heymarket.update_omitted = "clear"
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)

    h.gateway.upsert([Contact(phone=ANN, last="Lee")], h.deadline())

    # Then the update completes the names, but does not say is_opted_out false (it would undo a STOP texted since)
    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert [item.get("first") for item in bulk_items(h)] == ["Ann"]


def test_an_opt_in_of_a_known_contact_written_without_a_look_up_is_left_out_and_reported_held_back() -> None:
    # Given an instance that knows updates keep what they leave out, and a contact it stored, since opted out
    h = Harness()
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"
    # (the snapshot holds every field the update writes: a write by id that adds a field the snapshot lacks is looked
    # up first, issue 22's moved-contact rule)
    known = KnownContact(Identity(contact.id, contact.uuid), Contact(phone=ANN, first="Ann", last="Li"))

    [result] = gateway.upsert([opt_in(last="Lee")], h.deadline(), [known])

    assert SEARCH not in h.heymarket.routes()
    assert [item.get("is_opted_out") for item in bulk_items(h)] == [None]
    assert stored(result).consent_held_back == HELD_OPTED_OUT
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True


def test_an_opt_in_of_a_contact_named_by_contact_id_is_left_out() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(contact_id=contact.uuid, last="Lee")], h.deadline())

    assert all(item.get("is_opted_out") is not False for item in bulk_items(h))
    assert (contact.fields["is_opted_out"], contact.fields["last"]) == (True, "Lee")
    assert stored(result).consent_held_back == HELD_OPTED_OUT


def test_an_opt_in_of_a_contact_known_by_integer_id_only_is_left_out_of_the_v1_write() -> None:
    h = Harness()
    h.heymarket.uuids = False
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)
    known = KnownContact(Identity(contact.id, None), None)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"

    [result] = gateway.upsert([opt_in(last="Lee")], h.deadline(), [known])

    puts = [data for route, data in h.heymarket.log if route.startswith("PUT /v1/contact/")]
    # Looked up first (below), the v1 body is completed from the look-up: it may repeat the opt-out, never the opt-in.
    assert len(puts) == 1
    assert puts[0].get("is_opted_out") is not False
    assert contact.fields["is_opted_out"] is True
    # A contact known by its integer id only is looked up first (the v1 answer shows no phone to check the binding
    # against), so the look-up shows why: Heymarket holds it opted out.
    assert stored(result).consent_held_back == HELD_OPTED_OUT


@pytest.mark.parametrize(("overwrite", "reason"), [(True, HELD_OPTED_OUT), (False, HELD_NOT_SHOWN)])
def test_v1_mode_leaves_an_opt_in_out_of_the_batch(overwrite: bool, reason: str) -> None:
    h = Harness(v1=True, v1_overwrite=overwrite)
    contact = h.heymarket.add(ANN, first="Ann", is_opted_out=True)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline())

    [batch] = [data for route, data in h.heymarket.log if route == "POST /v1/batch/contacts"]
    assert [item.get("is_opted_out") for item in batch] == [True if overwrite else None]
    assert contact.fields["is_opted_out"] is True
    assert stored(result).consent_held_back == reason


# ---------------------------------------------------------------------- re-consent, where the operator allows it


def test_a_re_consent_newer_than_heymarkets_last_change_of_the_opted_out_contact_is_written() -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [False]
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is False
    assert stored(result).consent_held_back is None


@pytest.mark.parametrize(("updated", "reason"), [(STOPPED, HELD_NOT_NEWER), (None, HELD_NO_TIME)])
def test_a_re_consent_not_shown_newer_than_the_opt_out_is_held_back(updated: str | None, reason: str) -> None:
    h = Harness()
    h.heymarket.add(ANN, is_opted_out=True, **({"updated": updated} if updated else {}))

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[BEFORE])

    assert all(item.get("is_opted_out") is not False for item in bulk_items(h))
    assert stored(result).consent_held_back == reason


def test_a_re_consent_of_a_known_contact_is_looked_up_first() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)
    gateway = h.gateway
    gateway.omitted, gateway.custom_map = "keep", "merge"
    known = KnownContact(Identity(contact.id, contact.uuid), Contact(phone=ANN))

    gateway.upsert([opt_in(last="Lee")], h.deadline(), [known], [AFTER])

    assert h.heymarket.routes()[0] == SEARCH


def test_a_re_consent_heymarket_refuses_is_sent_again_without_it_and_the_other_fields_are_written() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    def refused(data: dict[str, Any]) -> tuple[int, Any]:
        return 200, {"contacts": [], "failed_contacts": [{"contact": data["contacts"][0], "error": "opted out"}]}

    h.heymarket.script(CONTACTS, refused)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert [item.get("is_opted_out") for item in bulk_items(h)] == [False, True]
    assert (contact.fields["is_opted_out"], contact.fields["last"]) == (True, "Lee")
    assert stored(result).consent_held_back == HELD_REFUSED


def test_a_re_consent_refused_with_a_400_is_sent_again_without_it() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)
    h.heymarket.script(CONTACTS, (400, {"error_code": "bad_data", "message": "is_opted_out"}))

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert contact.fields["last"] == "Lee"
    assert stored(result).consent_held_back == HELD_REFUSED


def test_a_re_consent_heymarket_ignores_is_reported_held_back() -> None:
    h = Harness()
    contact = h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    def ignored(data: dict[str, Any]) -> tuple[int, Any]:
        contact.fields.update({k: v for k, v in data["contacts"][0].items() if k not in ("contact_id", "is_opted_out")})
        return 200, {"contacts": [contact.as_answer(True)], "failed_contacts": []}

    h.heymarket.script(CONTACTS, ignored)

    [result] = h.gateway.upsert([opt_in(last="Lee")], h.deadline(), reconsent=[AFTER])

    assert stored(result).consent_held_back == HELD_IGNORED


# ---------------------------------------------------------------------- an opt-out reaches every holder of the phone


def test_an_opt_out_is_written_to_every_contact_holding_the_phone_keeping_their_fields() -> None:
    # Given two contacts holding Ann's phone (one made in Heymarket's app)
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)
    h.heymarket.add(ANN, first="Ann (app)", email="ann@example.com", is_opted_out=False)

    [result] = h.gateway.upsert([Contact(phone=ANN, is_opted_out=True)], h.deadline())

    assert stored(result).opted_out is True
    assert [(c.fields["first"], c.fields.get("email"), c.fields["is_opted_out"]) for c in h.heymarket.holding(ANN)] == [
        ("Ann", None, True),
        ("Ann (app)", "ann@example.com", True),
    ]


def test_an_opt_out_of_a_phone_held_by_one_contact_costs_no_request_more() -> None:
    h = Harness()
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)

    h.gateway.upsert([Contact(phone=ANN, is_opted_out=True)], h.deadline())

    assert h.heymarket.routes() == [SEARCH, CONTACTS]


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
