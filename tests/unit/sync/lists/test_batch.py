"""DeferredSegmenter (sync/lists/batch.py): the lists steps made on the first batch with list or tag work only, and
for a batch without any the same answers as the steps themselves (issue 27: the sync function's cold start)."""

from __future__ import annotations

from collections.abc import Sequence

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_bridge.sync.lists.batch import DeferredSegmenter, Finished, Prepared, has_list_work
from heymarket_bridge.sync.lists.steps import Segmenter
from heymarket_bridge.sync.model import Member
from heymarket_bridge.sync.plan import read_batch
from tests.doubles.clock import FakeClock
from tests.unit.sync.harness import ANN, BOB, Harness, upsert


def _members(*records: object) -> list[Member]:
    members, unreadable = read_batch(list(records))  # type: ignore[arg-type]
    assert unreadable == []
    return members


def _lists_follow_up(phone: str) -> list[Member]:
    [member] = _members(upsert(phone, lists=(42,)))
    operation = member.operation
    assert isinstance(operation, ContactOperation)
    follow_up = ContactOperation(Operation.LISTS, operation.contact, "generic", operation.received_at, "corr")
    return [Member(member.record, follow_up)]


class Counted:
    """A build that counts its calls and makes the real steps (without Heymarket or a table)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> Segmenter:
        self.calls += 1
        return Segmenter.disabled()


def _deadline() -> Deadline:
    clock = FakeClock()
    return Deadline(clock() + 60, clock)


def test_plain_upserts_never_build_the_steps_and_get_the_steps_own_answers() -> None:
    build = Counted()
    deferred, real = DeferredSegmenter(build), Segmenter.disabled()
    members = _members(upsert(ANN, first="Ann"), upsert(BOB, email="bob@example.com"))
    contact = Contact(phone=ANN, first="Ann")
    stored: Sequence[tuple[tuple[Member, ...], Contact, bool | None]] = [((members[0],), contact, True)]

    prepared = deferred.prepare(members, _deadline())

    assert prepared == real.prepare(members, _deadline()) == Prepared(members, [], None)
    assert deferred.finish(prepared, stored, _deadline()) == real.finish(prepared, stored, _deadline()) == Finished()
    assert deferred.retag([(contact, [contact])], _deadline()) == real.retag([(contact, [contact])], _deadline())
    assert deferred.queue([]) == real.queue([]) == []
    assert (build.calls, deferred.built) == (0, None)


def test_the_first_batch_naming_a_tag_or_a_list_builds_the_steps_once_and_every_later_batch_uses_them() -> None:
    build = Counted()
    deferred = DeferredSegmenter(build)

    deferred.prepare(_members(upsert(ANN)), _deadline())
    named = deferred.prepare(_members(upsert(ANN, tags=("VIP",))), _deadline())
    plain = _members(upsert(BOB))
    deferred.prepare(plain, _deadline())

    assert build.calls == 1
    assert isinstance(deferred.built, Segmenter)
    assert named.tags is not None  # the steps' own answer: the tag lookup refused, naming the cause
    listed = _members(upsert(BOB, lists=(7,)))
    stored: Sequence[tuple[tuple[Member, ...], Contact, bool | None]] = [((listed[0],), Contact(phone=BOB), None)]
    # the steps answered: the list write refused (no Heymarket, no table), not the empty answer of no list work
    assert deferred.finish(Prepared(listed, [], None), stored, _deadline()) != Finished()


def test_what_counts_as_list_work() -> None:
    assert not has_list_work(_members(upsert(ANN, first="Ann"), upsert(BOB)))
    assert has_list_work(_members(upsert(ANN), upsert(BOB, tags=("VIP",))))
    assert has_list_work(_members(upsert(ANN, tags=())))  # clearing the tags: the steps decide it is nothing
    assert has_list_work(_members(upsert(ANN, lists=("Spring",))))
    assert has_list_work(_lists_follow_up(ANN))


def test_a_service_whose_first_batches_are_plain_writes_lists_as_soon_as_a_batch_names_one() -> None:
    h = Harness()
    app_list = h.heymarket.add_list("Made in the app")

    plain = h.process(upsert(ANN, first="Ann"))
    listed = h.process(upsert(BOB, lists=(app_list,)))

    assert (plain.delivered_contacts, plain.listed_contacts) == (1, 0)
    assert (listed.delivered_contacts, listed.listed_contacts) == (1, 1)
    assert h.heymarket.list_titled("Made in the app")[0].phones == [BOB]
