"""Sources that say when a change happened give that time with their contacts (queued as `occurred_at`): the contact
state orders the operations on one contact by it. Sources that do not (Jotform, generic) give none."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heymarket_bridge.ingest.times import event_time
from heymarket_bridge_tools.signing import event_body
from tests.support import load_event
from tests.unit.ingest.sources.harness import SIGNED_AT, deliver, payload_of, read_delivery, with_body, with_json


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
        (1795424391000, "2026-11-23T08:59:51+00:00"),  # changed (review 22, 6): a generic sender's JSON number too
        ("9999999999999999", None),  # past any calendar: ignored, never a 500
        ("9999-12-31T23:59:59-12:00", None),
        (None, None),
        ("1" * 40, None),
    ],
)
def test_event_times_are_read_from_iso_8601_with_a_zone_or_epoch_milliseconds(value: Any, expected: str | None) -> None:
    assert event_time(value) == (utc(expected) if expected else None)


def _with_time(source: str, value: Any) -> dict[str, Any]:
    """A one-contact delivery of `source` whose event time is `value` (in the field that source reads it from)."""
    from tests.unit.ingest.sources.payloads import calendly, generic, hubspot, salesforce, shopify, typeform

    if source == "generic":
        return generic({"phone": "+15105550157", "occurred_at": value})
    if source == "hubspot":
        return hubspot({"mobilephone": "+15105550157", "lastmodifieddate": value})
    if source == "salesforce":
        return salesforce({"MobilePhone": "+15105550157", "LastModifiedDate": value})
    if source == "shopify":
        return shopify({"phone": "+15105550157", "updated_at": value})
    event = typeform(("mobile", "Your mobile", "phone_number", "+15105550157")) if source == "typeform" else None
    if event is not None:
        payload = payload_of(event)
        payload["form_response"]["submitted_at"] = value
        return with_json(event, payload)
    event = calendly("+15105550157")
    payload = payload_of(event)
    payload["created_at"] = value
    return with_json(event, payload)


EVENT_TIME_VALUES = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="0123456789-+:TZ. ", max_size=40),
    st.from_regex(
        r"\A[0-9]{1,6}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2})\Z"
    ),
    st.lists(st.text(max_size=30), max_size=2),
    st.none(),
    st.booleans(),
)


@pytest.mark.parametrize("source", ["generic", "hubspot", "salesforce", "shopify", "typeform", "calendly"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=EVENT_TIME_VALUES)
def test_no_event_time_value_makes_a_server_error_in_any_source(source: str, value: Any) -> None:
    # Given any value where a source reads its event time (out of range, unparseable, a wrong type)
    event = _with_time(source, str(value) if source == "salesforce" else value)

    # When it is delivered
    delivered = deliver(event)

    # Then the answer is never a 500, and a time that is kept is a real moment no later than now
    assert delivered.status < 500, delivered.reply.body
    for message in delivered.messages:
        if message.get("occurred_at"):
            assert datetime.fromisoformat(message["occurred_at"]) <= SIGNED_AT
