"""Who goes next on a contact (heymarket_bridge.sync.state.priority): a newer operation that met another invocation's
lease marks that it waits, and older operations give way to it until it is applied or the mark lapses."""

from __future__ import annotations

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_bridge.sync.model import ContactState, Lease, Member, QueueRecord
from heymarket_bridge.sync.state.priority import WAIT_PRIORITY_MS, gives_way, waits_to_record
from heymarket_bridge.sync.state.rules import operation_rank

ANN = "15105551234"
NOW = 1_795_424_460_000


def member(second: int, *, force: bool = False) -> Member:
    operation = ContactOperation(
        Operation.UPSERT,
        Contact(ANN, first="Ann"),
        "generic",
        f"2026-11-23T09:00:{second:02d}.000+00:00",
        "c",
        force=force,
    )
    return Member(QueueRecord(f"m{second}", operation.to_json(), 1, 0), operation)


def leased(**fields: int) -> ContactState:
    return ContactState(ANN, rev=3, lease=Lease("other", NOW + 30_000), **fields)


def test_a_newer_operation_meeting_another_invocations_lease_marks_that_it_goes_next() -> None:
    newer = member(2)

    waits = waits_to_record([newer], [ANN], {ANN: leased()}, "mine", NOW)

    assert [(w.phone, w.rank, w.until_ms) for w in waits] == [
        (ANN, operation_rank(newer.operation), NOW + WAIT_PRIORITY_MS)
    ]


def test_no_mark_is_written_again_for_an_operation_no_newer_than_the_one_waiting() -> None:
    newer = member(2)
    entry = leased(waiting_rank=operation_rank(newer.operation), waiting_until_ms=NOW + 1)

    assert waits_to_record([member(1), newer], [ANN], {ANN: entry}, "mine", NOW) == []
    assert waits_to_record([newer], [ANN], {ANN: ContactState(ANN)}, "mine", NOW) == []  # no lease: nothing to wait on


def test_an_older_operation_gives_way_to_the_newer_one_waiting_until_it_is_applied_or_the_mark_lapses() -> None:
    older, newer = member(1), member(2)
    rank = operation_rank(newer.operation)
    waiting = ContactState(ANN, waiting_rank=rank, waiting_until_ms=NOW + 1_000)

    assert gives_way(older, {ANN: waiting}, NOW)
    assert not gives_way(newer, {ANN: waiting}, NOW)  # the one waiting goes
    assert not gives_way(member(1, force=True), {ANN: waiting}, NOW)  # an operator's redrive
    assert not gives_way(older, {ANN: waiting}, NOW + 1_000)  # the mark lapsed (the newer one never came back)
    applied = ContactState(ANN, applied_ms=rank, waiting_rank=rank, waiting_until_ms=NOW + 1_000)
    assert not gives_way(older, {ANN: applied}, NOW)  # applied: the usual rules skip it as superseded
