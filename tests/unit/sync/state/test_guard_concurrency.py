"""SyncService with a contact state: concurrent invocations (two harnesses sharing the table and Heymarket), and
the table failing, which only delays."""

from __future__ import annotations

from datetime import timedelta

from heymarket_bridge.sync.model import SyncReport
from tests.doubles.heymarket_double import HeymarketDouble
from tests.doubles.state_double import InMemoryContactState
from tests.unit.sync.harness import ANN, Harness, again, delete, upsert
from tests.unit.sync.state.guarding import (
    CONTACTS,
    at,
    held,
    settled,
    stateful,
)

# ---------------------------------------------------------------------- concurrent invocations


def twins() -> tuple[Harness, Harness]:
    """Two invocations of one deployment: the same table, the same Heymarket."""
    state, heymarket = InMemoryContactState(), HeymarketDouble()
    heymarket.add(ANN, first="Ann")
    return Harness(state=state, heymarket=heymarket), Harness(state=state, heymarket=heymarket)


def test_a_newer_operation_meeting_an_older_one_being_applied_waits_and_is_applied_after_it() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    meanwhile: dict[str, SyncReport] = {}
    # Given invocation B receives the newer operation while invocation A is writing the older one to Heymarket
    a.heymarket.during(CONTACTS, lambda: meanwhile.setdefault("b", b.process(newer)))

    first = a.process(older)
    later = b.process(again(newer))

    # Then B's message waited (redelivered, untouched), and applied on its next receive: the newer one wins
    assert meanwhile["b"].failed_message_ids == [newer.message_id]
    assert (first.failed_message_ids, later.failed_message_ids) == ([], [])
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_an_older_operation_meeting_a_newer_one_being_applied_waits_and_is_then_skipped() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    meanwhile: dict[str, SyncReport] = {}
    b.heymarket.during(CONTACTS, lambda: meanwhile.setdefault("a", a.process(older)))

    b.process(newer)
    later = a.process(again(older))

    assert meanwhile["a"].failed_message_ids == [older.message_id]
    assert settled(later) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_an_invocation_whose_entry_changed_between_its_read_and_its_claim_decides_again_and_skips_the_older() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    assert a.state is not None
    # Given A read the entry, and B applied the newer operation before A's conditional claim reached the table
    a.state.before_write.append(lambda: b.process(newer) and None)

    report = a.process(older)

    assert settled(report) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_a_lease_left_by_an_invocation_that_failed_to_record_holds_off_others_until_it_expires() -> None:
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    assert a.state is not None
    # Given A wrote the older operation to Heymarket, but its lease could not be given back with the outcome
    a.state.unavailable.add("release")
    recorded = a.process(older)
    a.state.unavailable.clear()

    waiting = b.process(newer)
    b.now += timedelta(minutes=3)  # the lease has expired
    applied = b.process(again(newer))
    a.now += timedelta(minutes=3)
    skipped = a.process(again(older))

    assert recorded.failed_message_ids == [older.message_id]  # Heymarket has it, the table does not: sent again
    assert waiting.failed_message_ids == [newer.message_id]
    assert applied.failed_message_ids == []
    assert settled(skipped) == ([], 1, 0)
    assert [fields["first"] for fields in held(a)] == ["Newer"]


def test_after_a_request_whose_outcome_is_unknown_the_contact_stays_leased_a_while_and_newer_operations_wait() -> None:
    # A 5xx, a reset, no answer in time: the request may still take effect, and must not land after a newer write
    a, b = twins()
    older, newer = upsert(ANN, received_at=at(1), first="Older"), upsert(ANN, received_at=at(2), first="Newer")
    a.heymarket.down = True
    assert a.process(older, remaining_s=10).failed_message_ids == [older.message_id]
    a.heymarket.down = False

    waiting = b.process(newer)
    b.now += timedelta(seconds=31)  # the lease margin (30 s) has passed
    applied = b.process(again(newer))

    assert waiting.failed_message_ids == [newer.message_id]
    assert applied.failed_message_ids == []
    assert [fields["first"] for fields in held(a)] == ["Newer"]


# ---------------------------------------------------------------------- the table failing


def test_when_the_table_cannot_be_read_nothing_is_sent_skipped_or_dead_lettered_and_sqs_redelivers() -> None:
    h = stateful()
    assert h.state is not None
    h.state.unavailable.add("read")
    record = upsert(ANN, received_at=at(1), first="Ann")

    report = h.process(record)

    assert settled(report) == ([record.message_id], 0, 0)
    assert (h.heymarket.log, h.letters.letters) == ([], [])


def test_when_the_table_cannot_be_written_nothing_is_sent_and_sqs_redelivers() -> None:
    h = stateful()
    assert h.state is not None
    h.state.unavailable.add("write")
    record = upsert(ANN, received_at=at(1), first="Ann")

    report = h.process(record)

    assert settled(report) == ([record.message_id], 0, 0)
    assert h.heymarket.log == []


def test_on_its_last_receive_a_message_the_table_keeps_from_being_applied_waits_instead_of_being_dead_lettered() -> (
    None
):
    h = stateful(max_receive_count=5)
    assert h.state is not None
    h.state.unavailable.add("read")
    record = upsert(ANN, receive_count=5, received_at=at(1), first="Ann")

    report = h.process(record)

    assert (report.waiting_messages, h.letters.letters, h.waiting.bodies) == (1, [], [record.body])


def test_a_delete_by_contact_id_whose_time_the_table_could_not_record_is_sent_again() -> None:
    h = stateful()
    h.heymarket.add(ANN)
    [contact] = h.heymarket.holding(ANN)
    assert h.state is not None
    h.state.unavailable.add("void")
    record = delete(contact_id=contact.uuid, received_at=at(1))

    report = h.process(record)

    assert report.failed_message_ids == [record.message_id]
    assert held(h) == []


# ---------------------------------------------------------------------- no operation starved by an older one


def test_a_newer_delete_is_not_starved_by_an_older_upsert_whose_writes_keep_an_unknown_outcome() -> None:
    # Given an older upsert Heymarket keeps answering 503 with Retry-After (each receive keeps its lease, a write of
    # unknown outcome), and a newer delete by phone of the same contact received meanwhile
    a, b = twins()
    a.max_receive_count = 1000
    older = upsert(ANN, received_at=at(1), first="Older")
    erase = delete(phone=ANN, received_at=at(2))
    a.heymarket.script(CONTACTS, *[(503, {"error_code": "unavailable"}, {"Retry-After": "1"})] * 200)
    reports: list[tuple[SyncReport, SyncReport]] = []
    for _ in range(4):  # each receive of the older one, then of the delete, 1 s later; the next after the margin
        older_report = a.process(older, remaining_s=10)
        older = again(older)
        b.now = a.now + timedelta(seconds=1)
        reports.append((older_report, b.process(erase)))
        erase = again(erase)
        a.now += timedelta(seconds=31)  # the lease margin (30 s) has passed

    # Then the delete waits once, and is applied on its next receive, once the margin has passed (the older one,
    # back meanwhile, gave way to it); the older one, back again, is skipped as superseded: nothing older lands
    assert reports[0][1].failed_message_ids == [erase.message_id]
    assert reports[1][0].failed_message_ids == [older.message_id]
    assert reports[1][1].failed_message_ids == []
    assert settled(reports[2][0]) == ([], 1, 0)
    assert held(a) == []
