"""The consent record names the source's own event id (review 21, finding 9)."""

from __future__ import annotations

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_bridge.sync.model import QueueRecord
from tests.doubles.consent_log import MemoryConsentLog
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, Harness

SHOPIFY_EVENT = "98d1ac1c-3b5e-4f6a-9f0e-6b1c2d3e4f50"


def test_a_consent_claim_keeps_the_sources_event_id_through_the_queue() -> None:
    claim = ConsentClaim("sms_marketing_consent.state", "unsubscribed", event_id=SHOPIFY_EVENT)

    assert ConsentClaim.from_dict(claim.to_dict()) == claim


def test_a_recorded_change_names_the_sources_own_event_id() -> None:
    # Given a Shopify opt-out queued with X-Shopify-Event-Id on its claim
    log = MemoryConsentLog()
    h = Harness(state=InMemoryContactState(), consent_log=log)
    h.heymarket.add(ANN, is_opted_out=False)
    claim = ConsentClaim("sms_marketing_consent.state", "unsubscribed", event_id=SHOPIFY_EVENT)
    operation = ContactOperation(
        Operation.UPSERT,
        Contact(phone=ANN, is_opted_out=True),
        "shopify",
        "2026-11-23T09:00:00.000+00:00",
        "req-1",
        consent=claim,
    )

    # When it is synced
    h.process(QueueRecord("msg-1", operation.to_json(), 1, sent_timestamp_ms=1))

    # Then the record's event id is Shopify's, not the bridge's operation id
    assert [change.event_id for change in log.changes] == [SHOPIFY_EVENT]
