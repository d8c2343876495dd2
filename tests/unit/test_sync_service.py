from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.adapters.heymarket import (
    AuthFailed,
    BulkResult,
    FailedContact,
    HeymarketError,
    RequestRejected,
    Throttled,
    TransientError,
)
from heymarket_bridge.contact import Contact
from heymarket_bridge.messages import ContactOperation, DeadLetter, Operation
from heymarket_bridge.ratelimit import RequestBudget
from heymarket_bridge.sync import QueueRecord, SyncService


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class ScriptedGateway:
    """Answers each bulk call from a script: an exception to raise, or a function of the contacts sent."""

    def __init__(self, *script: Any, existing: Mapping[str, str] | None = None) -> None:
        self.script = list(script)
        self.calls: list[list[Mapping[str, Any]]] = []
        self.existing = dict(existing or {})  # phone -> contact id, for find_by_phone
        self.searches: list[list[str]] = []
        self.search_error: HeymarketError | None = None

    def find_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, str]:
        self.searches.append(list(phones))
        if self.search_error is not None:
            raise self.search_error
        return {phone: self.existing[phone] for phone in phones if phone in self.existing}

    def bulk_upsert(self, contacts: Sequence[Mapping[str, Any]], *, timeout_s: float | None = None) -> BulkResult:
        self.calls.append(list(contacts))
        step = self.script.pop(0) if self.script else "ok"
        if isinstance(step, HeymarketError):
            raise step
        if callable(step):
            return step(contacts)  # type: ignore[no-any-return]
        return BulkResult(contacts=list(contacts), request_id="hm-req")


class FakeDeadLetters:
    def __init__(self, refuse: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        if self.refuse:
            return list(range(len(letters)))
        self.letters.extend(letters)
        return []


def record(
    n: int, phone: str, receive_count: int = 1, received_at: str = "2026-11-23T09:00:00.000+00:00", **fields: Any
) -> QueueRecord:
    operation = ContactOperation(Operation.UPSERT, Contact(phone=phone, **fields), "generic", received_at, f"corr-{n}")
    return QueueRecord(f"msg-{n}", operation.to_json(), receive_count, sent_timestamp_ms=n)


def service(
    gateway: ScriptedGateway,
    letters: FakeDeadLetters,
    clock: FakeClock,
    *,
    max_batch: int = 100,
    max_receive_count: int = 5,
) -> SyncService:
    budget = RequestBudget(6000, clock=clock, sleep=clock.sleep)
    return SyncService(
        gateway,
        letters,
        budget,
        max_batch=max_batch,
        max_receive_count=max_receive_count,
        deadline_reserve_s=5,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
    )


def test_a_clean_batch_is_delivered_in_one_request_and_nothing_is_redelivered() -> None:
    clock, gateway, letters = FakeClock(), ScriptedGateway(), FakeDeadLetters()
    report = service(gateway, letters, clock).process([record(1, "15105551234"), record(2, "15105550000")], lambda: 60)
    assert len(gateway.calls) == 1
    assert report.failed_message_ids == []
    assert report.delivered_contacts == 2
    assert letters.letters == []


def test_duplicate_phones_in_a_batch_are_sent_once_with_later_values_winning() -> None:
    clock, gateway, letters = FakeClock(), ScriptedGateway(), FakeDeadLetters()
    records = [
        record(2, "15105551234", received_at="2026-11-23T09:00:05.000+00:00", last="Jones", custom={"2": "b"}),
        record(1, "15105551234", first="Alice", last="Smith", custom={"1": "a"}),
    ]
    report = service(gateway, letters, clock).process(records, lambda: 60)
    [sent] = gateway.calls
    assert len(sent) == 1
    assert sent[0]["first"] == "Alice"
    assert sent[0]["last"] == "Jones"
    assert sent[0]["custom"] == {"1": "a", "2": "b"}
    assert report.merged_messages == 1
    assert report.failed_message_ids == []


def test_contacts_heymarket_fails_go_to_the_dlq_with_the_error_and_the_rest_are_done() -> None:
    def fail_second(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        return BulkResult(
            contacts=[contacts[0]], failed=[FailedContact(dict(contacts[1]), "invalid email")], request_id="hm-1"
        )

    clock, gateway, letters = FakeClock(), ScriptedGateway(fail_second), FakeDeadLetters()
    report = service(gateway, letters, clock).process([record(1, "15105551234"), record(2, "15105550000")], lambda: 60)
    assert report.failed_message_ids == []
    [letter] = letters.letters
    assert letter.error == "invalid email"
    assert letter.contact is not None
    assert letter.contact["phone"] == "15105550000"
    assert letter.heymarket_request_id == "hm-1"
    assert json.loads(letter.to_json())["attempts"] == 1


def test_transient_errors_are_retried_with_backoff_inside_the_invocation() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(TransientError("500"), Throttled("429"), "ok")
    report = service(gateway, letters, clock).process([record(1, "15105551234")], lambda: 60)
    assert len(gateway.calls) == 3
    assert report.delivered_contacts == 1
    assert report.failed_message_ids == []
    assert clock.now - 1000.0 >= 0.5 + 1.0  # two backoffs, each at least the full base delay


def test_retry_after_is_honoured_when_heymarket_sends_one() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(Throttled("429", retry_after_s=7), "ok")
    service(gateway, letters, clock).process([record(1, "15105551234")], lambda: 60)
    assert clock.now - 1000.0 >= 7


def test_transient_errors_until_the_deadline_become_batch_item_failures() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(*[TransientError("Heymarket answered 500: boom")] * 100)
    report = service(gateway, letters, clock).process([record(1, "15105551234"), record(2, "15105550000")], lambda: 30)
    assert sorted(report.failed_message_ids) == ["msg-1", "msg-2"]
    assert letters.letters == []
    assert clock.now <= 1000.0 + 30 - 5  # stopped before the reserve kept for reporting


def test_on_the_final_receive_a_transient_failure_goes_to_the_dlq_with_the_last_error() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(*[TransientError("Heymarket answered 503: maintenance")] * 100)
    records = [record(1, "15105551234", receive_count=5), record(2, "15105550000", receive_count=2)]
    report = service(gateway, letters, clock, max_receive_count=5).process(records, lambda: 20)
    assert report.failed_message_ids == ["msg-2"]
    [letter] = letters.letters
    assert letter.error == "Heymarket answered 503: maintenance"
    assert letter.attempts == 5


def test_a_rejected_chunk_is_split_until_the_bad_contact_is_isolated() -> None:
    bad = "15105550003"

    def reject_if_bad(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        if any(c["phone"] == bad for c in contacts):
            raise RequestRejected("Heymarket answered 400: bad_data phone", status=400)
        return BulkResult(contacts=list(contacts))

    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(*[reject_if_bad] * 20)
    records = [record(i, f"1510555000{i}") for i in range(8)]
    report = service(gateway, letters, clock).process(records, lambda: 60)
    assert [letter.contact["phone"] for letter in letters.letters if letter.contact] == [bad]
    assert report.delivered_contacts == 7
    assert len(gateway.calls) <= 1 + 2 * 3  # a bisection, not one request per contact


def test_chunks_respect_the_maximum_batch_size() -> None:
    clock, gateway, letters = FakeClock(), ScriptedGateway(), FakeDeadLetters()
    records = [record(i, f"151055510{i:02d}") for i in range(25)]
    service(gateway, letters, clock, max_batch=10).process(records, lambda: 60)
    assert [len(call) for call in gateway.calls] == [10, 10, 5]


def test_auth_failure_is_not_hammered_and_the_messages_are_redelivered() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(AuthFailed("Heymarket answered 401: unauthorized", status=401))
    report = service(gateway, letters, clock).process([record(1, "15105551234")], lambda: 60)
    assert len(gateway.calls) == 1
    assert report.failed_message_ids == ["msg-1"]


def test_a_message_whose_dead_letter_cannot_be_written_is_kept_in_the_queue() -> None:
    def fail_all(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        return BulkResult(failed=[FailedContact(dict(c), "nope") for c in contacts])

    clock, letters = FakeClock(), FakeDeadLetters(refuse=True)
    report = service(ScriptedGateway(fail_all), letters, clock).process([record(1, "15105551234")], lambda: 60)
    assert report.failed_message_ids == ["msg-1"]
    assert report.dead_lettered_messages == 0


def test_an_unreadable_message_is_dead_lettered_with_its_body() -> None:
    clock, gateway, letters = FakeClock(), ScriptedGateway(), FakeDeadLetters()
    report = service(gateway, letters, clock).process([QueueRecord("msg-x", "{not json", 1)], lambda: 60)
    assert gateway.calls == []
    [letter] = letters.letters
    assert letter.message == "{not json"
    assert "unreadable" in letter.error
    assert report.failed_message_ids == []


def test_a_failure_heymarket_does_not_tie_to_a_contact_never_counts_as_delivered() -> None:
    def vague(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        return BulkResult(contacts=[contacts[0]], failed=[FailedContact({}, "something failed")])

    clock, letters = FakeClock(), FakeDeadLetters()
    report = service(ScriptedGateway(vague), letters, clock).process(
        [record(1, "15105551234"), record(2, "15105550000")], lambda: 60
    )
    assert report.delivered_contacts == 1
    assert [letter.contact["phone"] for letter in letters.letters if letter.contact] == ["15105550000"]


def refuse_creates_of(*phones: str) -> Any:
    """A bulk answer refusing creates (no contact_id) for the given phones, as Heymarket may for duplicates."""

    def answer(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        failed = [c for c in contacts if c["phone"] in phones and "contact_id" not in c]
        return BulkResult(
            contacts=[c for c in contacts if c not in failed],
            failed=[FailedContact(c, "contact already exists") for c in failed],
            request_id="hm-req",
        )

    return answer


def test_a_create_refused_for_an_existing_phone_is_sent_again_as_an_update_of_that_contact() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(refuse_creates_of("15105551234", "15105550000"), existing={"15105551234": "uuid-ann"})
    records = [record(1, "15105551234", first="Ann"), record(2, "15105550000"), record(3, "15105559999")]

    report = service(gateway, letters, clock).process(records, lambda: 60)

    assert gateway.searches == [["15105551234", "15105550000"]]  # one search for every refused create
    assert gateway.calls[1] == [Contact(phone="15105551234", first="Ann", contact_id="uuid-ann").to_heymarket()]
    assert report.failed_message_ids == []
    assert report.delivered_contacts == 2
    assert report.updated_existing == 1
    assert [(letter.contact or {}).get("phone") for letter in letters.letters] == ["15105550000"]
    assert letters.letters[0].error == "contact already exists"


def test_a_failed_lookup_leaves_the_refused_creates_for_redelivery() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()
    gateway = ScriptedGateway(refuse_creates_of("15105551234"), existing={"15105551234": "uuid-ann"})
    gateway.search_error = TransientError("Heymarket answered 503", status=503)

    report = service(gateway, letters, clock).process([record(1, "15105551234")], lambda: 60)

    assert report.failed_message_ids == ["msg-1"]
    assert letters.letters == []


def test_a_refused_update_is_not_looked_up_again() -> None:
    clock, letters = FakeClock(), FakeDeadLetters()

    def refuse_all(contacts: Sequence[Mapping[str, Any]]) -> BulkResult:
        return BulkResult(failed=[FailedContact(c, "contact not found") for c in contacts])

    gateway = ScriptedGateway(refuse_all, existing={"15105551234": "uuid-other"})
    contact_id = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"

    service(gateway, letters, clock).process([record(1, "15105551234", contact_id=contact_id)], lambda: 60)

    assert gateway.searches == []
    assert letters.letters[0].error == "contact not found"
