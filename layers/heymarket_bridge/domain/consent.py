"""SMS consent as the bridge reads and records it. Pure values: no I/O.

Heymarket's own rule (help centre, "Opt-Out Management"): only the contact can opt back in, by texting START, YES or
UNSTOP. The bridge therefore never turns a contact Heymarket holds opted out into an opted-in one, unless the operator
has named the source as one that carries explicit, dated re-consent (a double opt-in flow).

Two values travel with the operations:
- `ConsentClaim`: what a source said about SMS consent, as it said it (the field, the value as sent, and the time the
  source gives for the consent), carried on a queued upsert beside the contact's `is_opted_out`.
- `ConsentChange`: one entry of the consent record (proof of consent): a consent change the bridge received, and
  what it did with it. Written by the sync side once the outcome is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from enum import StrEnum
from typing import Any

from heymarket_bridge.domain.records import record

# A value as sent is kept for the record, cut to this many characters (it is a consent flag, not free text).
MAX_CLAIM_TEXT = 200


@record
class ConsentClaim:
    """What a source said about SMS consent: `field` as the source names it (e.g. "sms_marketing_consent.state"),
    `value` as sent (text, cut to MAX_CLAIM_TEXT), and `consented_at`, the source's own time of the consent
    (ISO 8601, UTC) when the payload gives one, and `event_id`, the source's own id of the event that carried it
    (X-Shopify-Event-Id, Typeform's event_id, Jotform's submissionID, Calendly's invitee URI) when it gives one."""

    field: str
    value: str
    consented_at: str | None = None
    event_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "field", self.field[:MAX_CLAIM_TEXT])
        object.__setattr__(self, "value", self.value[:MAX_CLAIM_TEXT])

    def to_dict(self) -> dict[str, str]:
        out = {"field": self.field, "value": self.value}
        if self.consented_at is not None:
            out["consented_at"] = self.consented_at
        if self.event_id is not None:
            out["event_id"] = self.event_id
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsentClaim:
        """Raises ValueError for anything but the shape `to_dict` writes."""
        field, value, at = data.get("field"), data.get("value"), data.get("consented_at")
        event_id = data.get("event_id")
        if not isinstance(field, str) or not isinstance(value, str) or not isinstance(at, str | None):
            raise ValueError("a consent claim has a text field and value and an optional consented_at")
        if not isinstance(event_id, str | None):
            raise ValueError("a consent claim's event_id is text")
        return cls(field=field, value=value, consented_at=at, event_id=event_id)


class ConsentAction(StrEnum):
    """What the bridge did with a consent change it received."""

    APPLIED = "applied"
    HELD_BACK = "held back"


@record
class ConsentChange:
    """One entry of the consent record, per phone (E.164 digits).

    `opted_out` is what the source's value means; `action` what the bridge did with it and `reason` why (one
    sentence, no personal data). Times are ISO 8601 UTC: `occurred_at` the source's event time, `received_at` when
    the bridge received the delivery, `recorded_at` when the outcome was known.
    """

    phone: str
    source: str
    delivery_id: str
    event_id: str | None
    field: str
    value: str
    opted_out: bool
    occurred_at: str | None
    received_at: str
    recorded_at: str
    action: ConsentAction
    reason: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["action"] = self.action.value
        return out
