"""A STOP is final (issue 21 review): an opt-out is never lost to ordering; a re-consent comes only from an
allowed source, dated before receipt and after the STOP."""

from __future__ import annotations

from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, Harness, upsert

EARLY, LATE = "2026-11-23T09:00:00.000+00:00", "2026-11-23T09:01:00.000+00:00"


def test_an_opt_out_dated_before_a_later_applied_name_change_still_applies() -> None:
    # Given a contact opted in, and a name change dated LATE applied (no consent in it)
    h = Harness(state=InMemoryContactState())
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)
    h.process(upsert(ANN, occurred_at=LATE, last="Lee"))
    assert h.heymarket.holding(ANN)[0].fields["last"] == "Lee"

    # When the person's opt-out, dated EARLY (a Shopify consent event delivered after the customers/update, a
    # Salesforce outbound message retried), arrives
    h.process(upsert(ANN, occurred_at=EARLY, is_opted_out=True))

    # Then it applies: "Opt-outs from sources always apply"; nothing newer ever said the person opted in
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True


def test_a_re_consent_dated_in_the_future_does_not_opt_back_in_over_a_stop() -> None:
    # Given re-consent for Shopify, and a contact Heymarket holds opted out (a STOP texted at STOPPED)
    from tests.unit.domain.test_consent import RULE, STOPPED, shopify_opt_in

    h = Harness(state=InMemoryContactState(), reconsent=RULE)
    h.heymarket.add(ANN, is_opted_out=True, updated=STOPPED)

    # When Shopify's opt-in arrives (received 2026-11-23T09:00) with a consent_updated_at in 2099: a consent time
    # later than when the bridge received it is not a time the person consented at
    h.process(shopify_opt_in(1, "2099-01-01T00:00:00.000+00:00"))

    # Then it is held back: the STOP stands
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True


def _hubspot_opt_out(n: int) -> object:
    from heymarket_bridge.domain.consent import ConsentClaim
    from heymarket_bridge.domain.contact import Contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation
    from heymarket_bridge.sync.model import QueueRecord

    operation = ContactOperation(
        Operation.UPSERT,
        Contact(phone=ANN, is_opted_out=True),
        "hubspot",
        f"2026-11-23T09:02:0{n}.000+00:00",
        f"corr-hs-{n}",
        consent=ConsentClaim("sms_opt_out", "true"),
    )
    return QueueRecord(f"msg-hs-{n}", operation.to_json(), 1, sent_timestamp_ms=10_000 + n)


def test_an_opt_out_after_a_start_texted_in_heymarket_applies_although_the_last_stored_state_was_opted_out() -> None:
    # Given an opt-out applied (generic), then the person texts START to Heymarket (no request from the bridge)
    from tests.doubles.consent_log import MemoryConsentLog

    log = MemoryConsentLog()
    h = Harness(state=InMemoryContactState(), consent_log=log)
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)
    h.process(upsert(ANN, is_opted_out=True))
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True
    h.heymarket.holding(ANN)[0].fields["is_opted_out"] = False  # START

    # When HubSpot (another source) sends the person's opt-out
    report = h.process(_hubspot_opt_out(1))

    # Then it applies (an opt-out always applies; "unchanged" is the bridge's memory, not Heymarket's state), and
    # the HubSpot opt-out, a change the bridge received, is on record
    assert report.unchanged_skipped == 0
    assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is True
    assert [(c.source, c.opted_out) for c in log.changes] == [("generic", True), ("hubspot", True)]


# ---------------------------------------------------------------- Shopify's consent event: opt-outs refused 401
import pytest  # noqa: E402

from tests.support import load_event  # noqa: E402
from tests.unit.ingest.sources.harness import deliver, with_headers, with_json  # noqa: E402


def _consent_event(state: str, at: str | None) -> dict:
    payload = {
        "id": 7608123457651,
        "phone": "+13125550143",
        "sms_marketing_consent": {
            "state": state,
            "opt_in_level": "single_opt_in",
            "consent_updated_at": at,
            "consent_collected_from": "SHOPIFY",
        },
    }
    updated = load_event("shopify/customers_update")  # X-Shopify-Triggered-At: 2026-11-23T09:00:00Z (now)
    return with_json(with_headers(updated, x_shopify_topic="customers_marketing_consent/update"), payload)


@pytest.mark.parametrize(
    "at",
    [
        None,  # Shopify: "if no date is provided, ... when the consent information was sent"; its example has null
        "2026-11-22T12:00:00Z",  # an unsubscribe recorded in Shopify with the day it was collected (backdated)
    ],
)
def test_a_signed_shopify_unsubscribe_is_taken_whatever_its_consent_time(at: str | None) -> None:
    delivered = deliver(_consent_event("unsubscribed", at))

    # An opt-out is never refused as a "replay": replaying an opt-out cannot opt anyone in, and a 401 makes Shopify
    # retry for 4 hours, then drop it (and in the end remove the subscription): the person's STOP never arrives
    assert delivered.status == 202
    assert delivered.queued == [{"phone": "13125550143", "is_opted_out": True}]


def _shopify(n: int, consented_at: str, **fields: object) -> object:
    from heymarket_bridge.domain.consent import ConsentClaim
    from heymarket_bridge.domain.contact import Contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation
    from heymarket_bridge.sync.model import QueueRecord

    claim = ConsentClaim("sms_marketing_consent.state", "subscribed", consented_at)
    contact = Contact(phone=ANN, is_opted_out=False, **fields)  # type: ignore[arg-type]
    operation = ContactOperation(
        Operation.UPSERT, contact, "shopify", f"2026-11-23T09:00:0{n}.000+00:00", f"corr-s-{n}", consent=claim
    )
    return QueueRecord(f"msg-s-{n}", operation.to_json(), 1, sent_timestamp_ms=20_000 + n)


@pytest.mark.parametrize("fields", [{"last": "Lee"}, {}], ids=["customers/update", "consent event"])
def test_a_re_consent_after_a_stop_texted_in_heymarket_is_applied_and_on_record(fields: dict) -> None:
    import boto3
    from moto import mock_aws

    from heymarket_bridge.adapters.aws.consent_log import DynamoDbConsentLog, read_changes
    from heymarket_local.moto_dynamodb import item_scoped_transactions
    from heymarket_local.template import StackTemplate
    from tests.unit.domain.test_consent import AFTER, BEFORE, RULE, STOPPED

    item_scoped_transactions()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        table = StackTemplate.load()._create_tables(client, "test")["ConsentRecordTable"]
        # Given re-consent for Shopify (the consent record as deployed); a customer created subscribed (on record:
        # subscribed, applied); then a STOP texted to Heymarket at STOPPED
        h = Harness(state=InMemoryContactState(), reconsent=RULE, consent_log=DynamoDbConsentLog(table, client))
        h.process(_shopify(1, BEFORE, first="Ann"))
        contact = h.heymarket.holding(ANN)[0]
        contact.fields["is_opted_out"] = True
        contact.fields["updated"] = STOPPED

        # When the person re-subscribes in Shopify (double opt-in) after the STOP: a customers/update, or Shopify's
        # dedicated customers_marketing_consent/update (nothing but the consent)
        h.process(_shopify(2, AFTER, **fields))

        # Then they are opted back in, and the re-consent, the change that most needs documenting, is on record
        assert h.heymarket.holding(ANN)[0].fields["is_opted_out"] is False
        changes = list(read_changes(client, table, ANN))
        assert [(c["source"], c["opted_out"], c["action"]) for c in changes] == [
            ("shopify", False, "applied"),
            ("shopify", False, "applied"),
        ]


def test_a_customers_update_reads_its_sms_unsubscribe_in_any_case_as_the_consent_event_does() -> None:
    # The consent event reads "UNSUBSCRIBED" (Shopify's GraphQL spelling) as an opt-out; customers/update drops it
    from tests.unit.ingest.sources.harness import payload_of

    updated = load_event("shopify/customers_update")
    customer = payload_of(updated)
    customer["phone"] = "+13125550143"
    customer["sms_marketing_consent"] = {
        "state": "UNSUBSCRIBED",
        "opt_in_level": "single_opt_in",
        "consent_updated_at": "2026-11-23T03:59:00-05:00",
        "consent_collected_from": "OTHER",
    }

    delivered = deliver(with_json(updated, customer))

    assert delivered.status == 202
    assert [contact.get("is_opted_out") for contact in delivered.queued] == [True]


def test_an_opt_out_reaches_every_contact_heymarket_holds_for_the_phone() -> None:
    # Given two contacts holding one phone (one made in Heymarket's app: README, "DuplicateContactsFound")
    h = Harness(state=InMemoryContactState())
    h.heymarket.add(ANN, first="Ann", is_opted_out=False)
    h.heymarket.add(ANN, first="Ann (app)", is_opted_out=False)

    # When a source sends the person's opt-out
    h.process(upsert(ANN, is_opted_out=True))

    # Then neither contact can still be texted: an opt-out is about the number, not one of its contacts
    assert [c.fields["is_opted_out"] for c in h.heymarket.holding(ANN)] == [True, True]
