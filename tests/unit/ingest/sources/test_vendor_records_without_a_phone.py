"""A Stripe or Square customer that simply has no phone has nothing an operator could fix: acknowledged with the
reason in the reply's `rejected` and a count in the logs, but no refusal letter (RefusalLettersAlarm would fire for
every phone-less customer; Stripe sends customer.updated for many changes). A phone that is present but does not
read, or a mapped phone reference with no value (perhaps a misspelt mapping), stays a letter.

The first wave's CRM sources (HubSpot, Shopify) still write a letter for a contact without a phone: unchanged here."""

from __future__ import annotations

import json
from typing import Any

import pytest

from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.domain.operations import DeadLetter
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.settings import IngestSettings
from tests.doubles.dead_letters import SerializingDeadLetters
from tests.doubles.queue import RecordingQueue
from tests.support import demo_webhook_secrets, load_event
from tests.unit.ingest.sources.harness import SIGNED_AT, payload_of, with_json

# (sample, where its object is in the payload, the phone's member)
CUSTOMERS = [
    ("stripe/customer_created", ("data", "object"), "phone"),
    ("square/customer_created", ("data", "object", "customer"), "phone_number"),
]


def customer_with(sample: str, path: tuple[str, ...], member: str, value: Any) -> dict[str, Any]:
    payload = payload_of(load_event(sample))
    target = payload
    for key in path:
        target = target[key]
    if value is _ABSENT:
        target.pop(member, None)
    else:
        target[member] = value
    return with_json(load_event(sample), payload)


_ABSENT = object()


def handled(event: dict[str, Any], mappings: dict[str, Any] | None = None) -> tuple[int, dict, list[DeadLetter]]:
    letters = SerializingDeadLetters()
    settings = IngestSettings(
        queue_url="https://queue",
        webhook_secrets_arn="arn:secret",
        mappings={name: SourceMapping.from_json(doc) for name, doc in (mappings or {}).items()},
    )
    queue = RecordingQueue()
    service = IngestService(
        settings, demo_webhook_secrets, queue, clock=lambda: SIGNED_AT, sources=default_sources(), refusals=letters
    )
    reply = service.handle(event)
    assert queue.sent == []
    return reply.status, json.loads(reply.body), letters.letters


@pytest.mark.parametrize(("sample", "path", "member"), CUSTOMERS)
@pytest.mark.parametrize("value", [None, "", "  ", _ABSENT])
def test_a_customer_without_a_phone_is_acknowledged_with_the_reason_and_no_letter(
    sample: str, path: tuple[str, ...], member: str, value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    status, body, letters = handled(customer_with(sample, path, member, value))

    assert status == 202
    assert "no phone" in json.dumps(body["rejected"])
    assert letters == []
    assert any("without a refusal letter" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(("sample", "path", "member"), CUSTOMERS)
def test_a_phone_that_is_present_but_does_not_read_stays_a_letter(
    sample: str, path: tuple[str, ...], member: str
) -> None:
    status, _body, letters = handled(customer_with(sample, path, member, "call me"))

    assert status == 202
    assert len(letters) == 1


@pytest.mark.parametrize(("sample", "path", "member"), CUSTOMERS)
def test_a_mapped_phone_reference_with_no_value_stays_a_letter(sample: str, path: tuple[str, ...], member: str) -> None:
    source = sample.split("/")[0]
    mapping = {source: {"phone": "metadata.mobile_misspelt"}}

    _status, _body, letters = handled(customer_with(sample, path, member, None), mapping)

    assert len(letters) == 1
    assert "metadata.mobile_misspelt" in letters[0].error
