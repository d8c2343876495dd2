"""The operator's re-consent rule: which sources may opt a person back in after an opt-out. Pure: no I/O.

By default none may: Heymarket's rule (help centre, "Opt-Out Management") is that only the contact opts back in, by
texting START, YES or UNSTOP, and consent given after a revocation must be clear and documented (TCPA). An operator
whose source runs a double opt-in flow can name it, with the field that carries the person's explicit, dated consent
(`ConsentClaim.field`, as the source names it). Such an opt-in is written only over an opt-out older than its consent
time (heymarket_bridge.adapters.heymarket.contacts.consent decides, after a look-up); one without a consent time
never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import UTC, datetime, timedelta

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.records import record

# How far a source's consent time may run ahead of the bridge's receipt of it: the sender's clock and Lambda's may
# differ by this much (NTP keeps both within seconds; minutes allow for a source's own queueing clock). Later than
# that, the consent time cannot be when the person consented.
CONSENT_CLOCK_SKEW = timedelta(minutes=5)


@record
class ReconsentRule:
    """Sources that carry explicit, dated re-consent: source name -> the consent field it uses. Empty: none."""

    fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> ReconsentRule:
        """`source=field` pairs separated by commas (e.g. "shopify=sms_marketing_consent.state"); "" or "none":
        none. Raises ValueError naming a pair that is not of that form."""
        fields: dict[str, str] = {}
        if text.strip().lower() in ("", "none"):
            return cls()
        for pair in text.split(","):
            source, sep, name = (part.strip() for part in pair.partition("="))
            if not sep or not source or not name:
                raise ValueError(f"{pair.strip()!r} is not source=field (e.g. shopify=sms_marketing_consent.state)")
            fields[source] = name
        return cls(fields)

    def consent_time(
        self, source: str | None, claim: ConsentClaim | None, received_at: str | None = None
    ) -> str | None:
        """The time of the consent an opt-in may opt a person back in with: the claim's `consented_at`, when the
        source is named with the claim's field, the time reads as ISO 8601 and it is no later than `received_at`
        (when the bridge received the delivery, ISO 8601) plus `CONSENT_CLOCK_SKEW`; None otherwise. A consent
        dated after its own delivery is not a time the person consented at (a backdated or mistyped field, e.g.
        2099): it would outrank every STOP to come. Without `received_at` the time is not checked against it."""
        if source is None or claim is None or self.fields.get(source) != claim.field or claim.consented_at is None:
            return None
        consented = _instant(claim.consented_at)
        if consented is None:
            return None
        received = _instant(received_at) if received_at is not None else None
        if received_at is not None and (received is None or consented > received + CONSENT_CLOCK_SKEW):
            return None
        return claim.consented_at

    def __bool__(self) -> bool:
        return bool(self.fields)


NO_RECONSENT = ReconsentRule()


def _instant(text: str) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no offset), or None."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
