"""The sync function's composition root defers what a batch of plain upserts never needs (issue 27): the consent
record's DynamoDB adapter is made on the first change to record, then kept."""

from __future__ import annotations

from heymarket_bridge.app.sync import DeferredConsentLog
from heymarket_bridge.domain.consent import ConsentAction, ConsentChange
from tests.doubles.consent_log import MemoryConsentLog


def _change(n: int) -> ConsentChange:
    return ConsentChange(
        phone="15105550123",
        source="shopify",
        delivery_id=f"req-{n}",
        event_id=f"op-{n}",
        field="sms_marketing_consent.state",
        value="unsubscribed",
        opted_out=True,
        occurred_at="2026-11-23T08:59:00.000+00:00",
        received_at="2026-11-23T09:00:00.000+00:00",
        recorded_at=f"2026-11-23T09:00:{n:02d}.000+00:00",
        action=ConsentAction.APPLIED,
        reason="the contact ends as the source said",
    )


def test_the_consent_log_is_made_on_the_first_change_to_record_then_kept() -> None:
    made: list[MemoryConsentLog] = []

    def build() -> MemoryConsentLog:
        made.append(MemoryConsentLog())
        return made[-1]

    deferred = DeferredConsentLog(build)
    assert made == []  # composing the function makes nothing

    assert deferred.record([_change(1)]) == 1
    assert deferred.record([_change(2), _change(3)]) == 2

    [log] = made
    assert [change.event_id for change in log.changes] == ["op-1", "op-2", "op-3"]
