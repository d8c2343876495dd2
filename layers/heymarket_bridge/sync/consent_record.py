"""The consent record's entries for one batch, from what each contact asked and what Heymarket's answer says. Pure.

Every queued upsert whose contact carries `is_opted_out` is a consent claim (its own `consent`, else the field
`is_opted_out` with the value as queued). Once Heymarket's answer for its contact is known (`Stored`), the claim was
applied if the contact ends as it asked, else held back, with the reason: the gateway's own (`consent_held_back`,
when it says why it left an opt-in out), else what the answer shows. A contact whose write failed (`NotDone`) has
no outcome yet: it is recorded when a later receive of its message knows one. An operation the contact state skipped
as older than the newest applied to its contact was held back. Which entries change what is on
record is the store's to decide (heymarket_bridge.sync.ports.ConsentLog).
"""

from __future__ import annotations

from collections.abc import Sequence

from heymarket_bridge.domain.consent import ConsentAction, ConsentChange, ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation
from heymarket_bridge.sync.model import Stored, UpsertResult

APPLIED = "the contact ends as the source said"
HELD_OPT_IN = "Heymarket holds the contact opted out; only the person can opt back in (START)"
LATER_IN_BATCH = "a later change of the same contact in the same batch decided its opt-out"
SUPERSEDED = "older than the newest change applied to the contact: not applied"
OPTED_BACK_IN = "Heymarket held the contact opted out (a STOP): the source's re-consent opted it back in"
OPTED_OUT_AGAIN = "Heymarket held the contact opted in (a START, or a duplicate): the source's opt-out opted it out"
# Reasons of changes that turned over the state Heymarket held: on record whatever the record last said of the
# source (the STOP or START between them was texted to Heymarket, not sent through the bridge).
TURNED_OVER = frozenset({OPTED_BACK_IN, OPTED_OUT_AGAIN})


def consent_changes(
    steps: Sequence[tuple[Sequence[ContactOperation], Contact, UpsertResult]], recorded_at: str
) -> list[ConsentChange]:
    """The entries of each (operations merged into one contact, that contact as sent, Heymarket's result), in the
    batch's order; `recorded_at` is now (ISO 8601 UTC)."""
    changes: list[ConsentChange] = []
    for operations, sent, result in steps:
        if not isinstance(result, Stored):
            continue
        held_back = result.consent_held_back  # the gateway's reason, where it gives one
        ends = _ends_opted_out(sent, result, held_back)
        for operation in operations:
            asked = operation.contact.is_opted_out
            if asked is None:
                continue
            if ends is None or asked == ends:
                action, reason = ConsentAction.APPLIED, APPLIED
                if result.opted_out_before is not None and result.opted_out_before != asked:
                    reason = OPTED_OUT_AGAIN if asked else OPTED_BACK_IN
            elif not asked and sent.is_opted_out is not True:
                action, reason = ConsentAction.HELD_BACK, str(held_back or HELD_OPT_IN)
            else:
                action, reason = ConsentAction.HELD_BACK, LATER_IN_BATCH
            changes.append(_change(operation, asked, recorded_at, action, reason))
    return changes


def superseded_changes(operations: Sequence[ContactOperation], recorded_at: str) -> list[ConsentChange]:
    """The entries of operations skipped as older than the newest applied to their contact (an opt-in retried after
    a newer STOP): held back, whatever they asked."""
    return [
        _change(operation, operation.contact.is_opted_out, recorded_at, ConsentAction.HELD_BACK, SUPERSEDED)
        for operation in operations
        if operation.contact.is_opted_out is not None
    ]


def _change(
    operation: ContactOperation, asked: bool, recorded_at: str, action: ConsentAction, reason: str
) -> ConsentChange:
    claim = operation.consent or ConsentClaim("is_opted_out", "true" if asked else "false")
    return ConsentChange(
        phone=operation.contact.phone,
        source=operation.source,
        delivery_id=operation.correlation_id,
        event_id=(operation.consent.event_id if operation.consent else None) or operation.operation_id or None,
        field=claim.field,
        value=claim.value,
        opted_out=asked,
        occurred_at=claim.consented_at or operation.occurred_at,
        received_at=operation.received_at,
        recorded_at=recorded_at,
        action=action,
        reason=reason,
    )


def _ends_opted_out(sent: Contact, result: Stored, held_back: object) -> bool | None:
    """Whether the contact ends opted out: as Heymarket's answer says, else as sent unless an opt-in was held back
    (None: nothing says, for a contact sent without an opt-out)."""
    if result.opted_out is not None:
        return result.opted_out
    if held_back:
        return True
    return sent.is_opted_out
