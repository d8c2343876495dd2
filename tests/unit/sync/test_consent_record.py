"""The consent record's entries for a batch (heymarket_bridge.sync.consent_record.consent_changes), one rule per
test."""

from __future__ import annotations

from heymarket_bridge.domain.consent import ConsentAction, ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import TransientFailure
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_bridge.sync.consent_record import APPLIED, HELD_OPT_IN, OPTED_BACK_IN, OPTED_OUT_AGAIN, consent_changes
from heymarket_bridge.sync.model import Identity, NotDone, Stored

NOW = "2026-11-23T09:05:00.000+00:00"


def operation(opted_out: bool | None, consent: ConsentClaim | None = None, source: str = "shopify") -> ContactOperation:
    contact = Contact(phone="15105550123", first="Ann", is_opted_out=opted_out)
    return ContactOperation(
        Operation.UPSERT,
        contact,
        source,
        "2026-11-23T09:00:00.000+00:00",
        "req-1",
        operation_id="op-1",
        occurred_at="2026-11-23T08:59:00.000+00:00",
        consent=consent,
    )


def stored(opted_out: bool | None) -> Stored:
    return Stored(Identity(1), opted_out=opted_out)


def test_an_opt_out_heymarket_applied_is_recorded_as_applied_with_the_claim_as_sent() -> None:
    claim = ConsentClaim("sms_marketing_consent.state", "unsubscribed", "2026-11-23T08:58:00.000+00:00")
    op = operation(True, claim)

    [change] = consent_changes([([op], op.contact, stored(True))], NOW)

    assert (change.field, change.value, change.opted_out, change.action) == (
        "sms_marketing_consent.state",
        "unsubscribed",
        True,
        ConsentAction.APPLIED,
    )
    assert (change.occurred_at, change.received_at, change.recorded_at) == (
        "2026-11-23T08:58:00.000+00:00",
        "2026-11-23T09:00:00.000+00:00",
        NOW,
    )
    assert (change.source, change.delivery_id, change.event_id) == ("shopify", "req-1", "op-1")


def test_an_opt_in_the_contact_ends_opted_out_after_is_recorded_as_held_back() -> None:
    op = operation(False)

    [change] = consent_changes([([op], op.contact, stored(True))], NOW)

    assert (change.action, change.reason) == (ConsentAction.HELD_BACK, HELD_OPT_IN)


def test_the_gateways_reason_for_holding_an_opt_in_back_is_the_records_reason() -> None:
    # Given a gateway result saying why it held the opt-in back (the field the opt-out-wins work adds)
    op = operation(False)
    result = stored(None)
    object.__setattr__(result, "consent_held_back", "Heymarket holds the contact opted out (a STOP)")

    [change] = consent_changes([([op], op.contact, result)], NOW)

    assert (change.action, change.reason) == (ConsentAction.HELD_BACK, "Heymarket holds the contact opted out (a STOP)")


def test_without_a_claim_the_field_is_is_opted_out_with_the_value_queued() -> None:
    op = operation(True)

    [change] = consent_changes([([op], op.contact, stored(True))], NOW)

    assert (change.field, change.value, change.occurred_at) == ("is_opted_out", "true", op.occurred_at)


def test_a_contact_without_an_opt_out_value_records_nothing() -> None:
    op = operation(None)

    assert consent_changes([([op], op.contact, stored(False))], NOW) == []


def test_a_write_that_failed_records_nothing_until_its_outcome_is_known() -> None:
    op = operation(True)

    assert consent_changes([([op], op.contact, NotDone(TransientFailure("503")))], NOW) == []


def test_an_answer_that_does_not_say_means_the_contact_ends_as_sent() -> None:
    op = operation(True)

    [change] = consent_changes([([op], op.contact, stored(None))], NOW)

    assert change.action is ConsentAction.APPLIED


def test_an_opt_in_written_over_an_opt_out_heymarket_held_is_recorded_as_a_re_consent() -> None:
    op = operation(False)

    [change] = consent_changes([([op], op.contact, Stored(Identity(1), opted_out=False, opted_out_before=True))], NOW)

    assert (change.action, change.reason) == (ConsentAction.APPLIED, OPTED_BACK_IN)


def test_an_opt_out_written_over_an_opt_in_heymarket_held_says_so_and_one_already_held_does_not() -> None:
    op = operation(True)

    [turned] = consent_changes([([op], op.contact, Stored(Identity(1), opted_out=True, opted_out_before=False))], NOW)
    [same] = consent_changes([([op], op.contact, Stored(Identity(1), opted_out=True, opted_out_before=True))], NOW)

    assert (turned.reason, same.reason) == (OPTED_OUT_AGAIN, APPLIED)
