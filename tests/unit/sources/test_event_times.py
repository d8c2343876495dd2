"""Sources that say when a change happened give that time with their contacts (queued as `occurred_at`): the contact
state orders the operations on one contact by it. Sources that do not (Jotform, generic) give none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from heymarket_bridge.sources.common import event_time
from heymarket_bridge_tools.signing import event_body
from tests.support import load_event
from tests.unit.sources.harness import SIGNED_AT, deliver, payload_of, read_delivery, with_body, with_json


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("sample", "occurred"),
    [
        ("shopify/customers_create", "2026-11-23T03:59:52-05:00"),  # the customer's updated_at
        ("hubspot/workflow_contact", "2026-11-23T08:59:51+00:00"),  # lastmodifieddate, in milliseconds
        ("typeform/form_response", "2026-11-23T08:59:58+00:00"),  # form_response.submitted_at
        ("calendly/invitee_created", "2026-11-23T08:59:57+00:00"),  # the event's created_at
    ],
)
def test_a_source_giving_an_event_time_queues_it_with_the_contact(sample: str, occurred: str) -> None:
    event = load_event(sample)

    delivery = read_delivery(event)
    delivered = deliver(event)

    assert delivery.occurred_at == (utc(occurred),)
    assert [m["occurred_at"] for m in delivered.messages] == [utc(occurred).isoformat(timespec="milliseconds")]


def test_salesforce_gives_each_notifications_last_modified_date_when_the_outbound_message_sends_it() -> None:
    event = load_event("salesforce/outbound_message")
    xml = event_body(event).decode()
    stamped = xml.replace(
        "<sf:Email>evelyn.boyd@example.com</sf:Email>",
        "<sf:Email>evelyn.boyd@example.com</sf:Email><sf:LastModifiedDate>2026-11-23T08:59:40.000Z</sf:LastModifiedDate>",
    )

    delivery = read_delivery(with_body(event, stamped))

    assert delivery.occurred_at[0] == utc("2026-11-23T08:59:40+00:00")
    assert delivery.occurred_at[1] is None  # the second notification does not say


@pytest.mark.parametrize("sample", ["jotform/submission", "generic/single_contact"])
def test_a_source_that_does_not_say_when_queues_only_when_the_bridge_received_it(sample: str) -> None:
    delivered = deliver(load_event(sample))

    assert delivered.messages
    assert all("occurred_at" not in message for message in delivered.messages)


def test_an_event_time_later_than_now_is_queued_as_now() -> None:
    event = load_event("typeform/form_response")
    payload = payload_of(event)
    # A sender whose clock runs two minutes fast (within the 5 minutes ahead Typeform's replay check allows)
    payload["form_response"]["submitted_at"] = "2026-11-23T09:02:00Z"

    delivered = deliver(with_json(event, payload))

    assert [m["occurred_at"] for m in delivered.messages] == [SIGNED_AT.isoformat(timespec="milliseconds")]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-11-23T08:59:58Z", "2026-11-23T08:59:58+00:00"),
        ("2026-11-23T03:59:52-05:00", "2026-11-23T08:59:52+00:00"),
        ("1795424391000", "2026-11-23T08:59:51+00:00"),
        ("2026-11-23T08:59:58", None),  # no time zone: not a moment
        ("0", None),
        ("yesterday", None),
        (1795424391000, None),  # HubSpot writes digits as text
        (None, None),
        ("1" * 40, None),
    ],
)
def test_event_times_are_read_from_iso_8601_with_a_zone_or_epoch_milliseconds(value: Any, expected: str | None) -> None:
    assert event_time(value) == (utc(expected) if expected else None)
