"""The second half of taking a delivery in, shared by the webhook (heymarket_bridge.ingest.service) and by the fetch of
what an id-only notification names (heymarket_bridge.ingest.fetch): validate each submission (`plan_delivery`), then
buffer the valid contacts in SQS once per delivery the sender names (the delivery ledger), the refusal letters to the
DLQ. One path: a fetched lead is planned, de-duplicated and buffered exactly as a posted one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import field
from datetime import datetime

from heymarket_bridge.domain.contact import Contact, DroppedField
from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import printable
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.failures import (
    BufferUnavailable,
    DeliveryInProgress,
    DeliveryKeyConflict,
    DeliveryLedgerBusy,
    DeliveryLedgerUnavailable,
    IdempotencyKeyReused,
    NothingValid,
)
from heymarket_bridge.ingest.planning import DeliveryPlan, PlanInputs, plan_delivery
from heymarket_bridge.ingest.ports import DeliveryLedger
from heymarket_bridge.ingest.replies import IngestOutcome
from heymarket_bridge.ingest.sources.common import Delivery, DeliveryIdentity
from heymarket_bridge.observability import logger


@record
class Arrival:
    """Who sent a delivery and when: the source's name, whether it wants a 422 when nothing in it is valid, the
    request id (the correlation id of its contacts) and the time it was received."""

    source: str
    request_id: str
    now: datetime
    refuses_when_nothing_valid: bool = False
    # What the token that sent the delivery may send (heymarket_bridge.ingest.scopes.TokenScopes.restrict); unscoped:
    # the contact as it is.
    restrict: Callable[[Contact], tuple[Contact, list[DroppedField]]] = field(default=lambda contact: (contact, []))


def nothing_valid(plan: DeliveryPlan, refuses_when_nothing_valid: bool) -> NothingValid | None:
    """The 422 a delivery with no valid contact gets from a source that refuses such a delivery (the generic
    source: its sender can fix and resend), each rejection in its details; None when it is taken. Also what
    `heymarket-bridge explain` says, so that the two cannot disagree."""
    if plan.operations or not refuses_when_nothing_valid:
        return None
    return NothingValid("no valid contact in the request", {"rejected": [r.to_dict() for r in plan.rejected]})


class Intake:
    """Plans a delivery and buffers its contacts: the buffer, the delivery ledger (optional), the deployment's
    DefaultCountry and mappings."""

    def __init__(
        self,
        buffer: ContactBuffer,
        deliveries: DeliveryLedger | None,
        default_country: str,
        mappings: Mapping[str, SourceMapping],
    ) -> None:
        self.buffer = buffer
        self.deliveries = deliveries
        self._default_country = default_country
        self._mappings = mappings

    def take(self, delivery: Delivery, arrival: Arrival) -> IngestOutcome:
        """Validate and buffer `delivery`. Raises NothingValid (422, for a source that refuses such a delivery),
        PayloadTooLarge, BufferUnavailable (503: retry), DeliveryInProgress, IdempotencyKeyReused."""
        inputs = PlanInputs(
            arrival.source, arrival.request_id, arrival.now, self._default_country, self._mappings, arrival.restrict
        )
        plan = plan_delivery(delivery, inputs)
        refusal = nothing_valid(plan, arrival.refuses_when_nothing_valid)
        if refusal is not None:
            self.buffer.write_letters(plan)
            raise refusal
        key = ledger_key(arrival.source, delivery.identity)
        if key is None or self.deliveries is None:
            return self.buffer.buffer(arrival.source, delivery.identity.sender_id, plan)
        return self._once(self.deliveries, key, arrival.source, delivery, plan)

    def _once(
        self, ledger: DeliveryLedger, key: str, source: str, delivery: Delivery, plan: DeliveryPlan
    ) -> IngestOutcome:
        """Buffer a delivery the sender names once per name: a repeat gets the first answer back."""
        sender_id = delivery.identity.sender_id
        try:
            answer, first_time = ledger.once(
                key, delivery.identity.body_digest, lambda: self.buffer.buffer(source, sender_id, plan).to_dict()
            )
        except DeliveryLedgerBusy as exc:
            raise DeliveryInProgress("this delivery is being handled right now; retry in a few seconds") from exc
        except DeliveryKeyConflict as exc:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was already used for a request with a different body: send a new key "
                "for a new request"
            ) from exc
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot check for repeated deliveries right now; retry later") from exc
        opt_outs = [operation for operation in plan.operations if operation.contact.is_opted_out is True]
        if not first_time and opt_outs:
            # An opt-out is never answered as a duplicate: sent again (the same key too), it may re-assert a STOP the
            # person undid by texting START in Heymarket, which the bridge does not see. Queued again (idempotent);
            # the delivery's other contacts and its letters are not.
            self.buffer.buffer(source, sender_id, DeliveryPlan(opt_outs, [], len(opt_outs)))
            return dataclasses.replace(IngestOutcome.from_dict(answer, duplicate=False), duplicate=False)
        if not first_time:
            logger.info(
                "Repeated delivery answered as the first one",
                extra={"source": source, "outcome": "duplicate", "delivery_id": printable(sender_id[:200])},
            )
        return IngestOutcome.from_dict(answer, duplicate=not first_time)


def ledger_key(source: str, identity: DeliveryIdentity) -> str | None:
    """The delivery's key in the ledger: the sender's id, with the body's digest unless the id promises the body."""
    if not identity.sender_id:
        return None
    if identity.id_covers_body:
        return f"{source}\n{identity.sender_id}"
    return f"{source}\n{identity.sender_id}\n{identity.body_digest}"
