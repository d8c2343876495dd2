"""FakeHeymarket keeps the contract documented on HeymarketPort.upsert, so that the use case's tests over it mean
what they say: fields not sent are left as they were, and opt-out wins."""

from __future__ import annotations

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.sync.model import NotDone, Stored
from heymarket_bridge.sync.ports import HeymarketPort
from tests.doubles.fake_heymarket import FakeHeymarket

ANN = "15105551234"
STOP = "2026-11-10T00:00:00.000+00:00"


def upsert(port: HeymarketPort, contact: Contact, reconsent: str | None = None) -> Stored | NotDone:
    [result] = port.upsert([contact], Deadline.after(60), [], [reconsent] if reconsent else [])
    return result


def test_fields_not_sent_are_left_as_they_were() -> None:
    fake = FakeHeymarket()
    fake.add(ANN, first="Ann", last="Lee")

    result = upsert(fake, Contact(phone=ANN, first="Anna"))

    assert isinstance(result, Stored)
    assert result.existed
    assert (fake.held[ANN].contact.first, fake.held[ANN].contact.last) == ("Anna", "Lee")


def test_an_opt_in_over_a_held_opt_out_is_held_back_and_said_so() -> None:
    fake = FakeHeymarket()
    fake.add(ANN, opted_out_at=STOP)

    result = upsert(fake, Contact(phone=ANN, is_opted_out=False))

    assert isinstance(result, Stored)
    assert (result.opted_out, result.opted_out_before, result.consent_held_back is not None) == (True, True, True)


def test_an_opt_in_with_a_reconsent_time_after_the_opt_out_is_written() -> None:
    fake = FakeHeymarket()
    fake.add(ANN, opted_out_at=STOP)

    older = upsert(fake, Contact(phone=ANN, is_opted_out=False), reconsent="2026-11-09T00:00:00.000+00:00")
    newer = upsert(fake, Contact(phone=ANN, is_opted_out=False), reconsent="2026-11-11T00:00:00.000+00:00")

    assert isinstance(older, Stored)
    assert older.opted_out is True
    assert isinstance(newer, Stored)
    assert (newer.opted_out, newer.consent_held_back) == (False, None)


def test_a_failure_set_for_a_phone_is_answered_for_its_writes_only() -> None:
    fake = FakeHeymarket()
    fake.fail(ANN, "permanent", "invalid email", times=1)

    first, second = upsert(fake, Contact(phone=ANN)), upsert(fake, Contact(phone=ANN))

    assert isinstance(first, NotDone)
    assert first.failure.reason == "invalid email"
    assert isinstance(second, Stored)
    assert not second.existed
