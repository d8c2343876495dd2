"""`dlq redrive --force --dry-run` lists the letters --force would apply over a newer operation of their contact,
from the contact state table (heymarket_bridge_tools.dlq_newer), and moves nothing."""

from __future__ import annotations

import json
from collections.abc import Sequence

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, DeadLetter, Operation
from heymarket_bridge.sync.model import ContactState, StateRead
from heymarket_bridge.sync.state.rules import operation_rank
from heymarket_bridge_tools.dlq import DeadLetterQueue
from heymarket_bridge_tools.dlq_newer import over_newer
from heymarket_bridge_tools.ops import StackQueues
from tests.doubles.sqs_model import SqsModel

QUEUES = StackQueues("https://sqs.test/queue", "https://sqs.test/dlq")
ANN, BOB = "15105551234", "15105550000"


class Table:
    """The contact state table, read only: the rank of the newest operation applied to each phone."""

    def __init__(self, applied: dict[str, ContactState]) -> None:
        self.applied = applied
        self.asked: list[str] = []

    def read(self, phones: Sequence[str]) -> StateRead:
        self.asked.extend(phones)
        return StateRead({p: self.applied[p] for p in phones if p in self.applied})


def upsert(phone: str, at: str) -> ContactOperation:
    return ContactOperation(Operation.UPSERT, Contact(phone=phone, is_opted_out=False), "generic", at, "corr")


def letter(operation: ContactOperation) -> str:
    return DeadLetter(
        error="Heymarket answered 503",
        attempts=5,
        source="generic",
        received_at=operation.received_at,
        contact=operation.contact.to_heymarket(),
        message=operation.to_json(),
        error_kind="heymarket_unavailable",
    ).to_json()


def test_a_letter_older_than_its_contacts_newest_applied_operation_is_listed_masked() -> None:
    old = upsert(ANN, "2026-12-07T09:00:00.000+00:00")
    newer_stop = upsert(ANN, "2026-12-07T10:00:00.000+00:00")
    table = Table({ANN: ContactState(ANN, applied_ms=operation_rank(newer_stop))})

    [found] = over_newer([("m-1", old.to_json())], table)

    assert (found.message_id, found.phone, found.operation) == ("m-1", "15*****1234", "upsert")
    assert (found.operation_at, found.newest_applied_at) == ("2026-12-07T09:00:00+00:00", "2026-12-07T10:00:00+00:00")


def test_a_letter_newer_than_what_was_applied_or_of_a_phone_never_seen_is_not_listed() -> None:
    newest = upsert(ANN, "2026-12-07T11:00:00.000+00:00")
    table = Table({ANN: ContactState(ANN, applied_ms=operation_rank(upsert(ANN, "2026-12-07T10:00:00.000+00:00")))})

    assert over_newer([("m-1", newest.to_json()), ("m-2", upsert(BOB, "2026-12-07T09:00:00Z").to_json())], table) == []
    assert table.asked == [ANN, BOB]


def test_a_dry_run_of_force_lists_the_letters_over_newer_operations_and_moves_nothing() -> None:
    sqs = SqsModel()
    stale, fresh = upsert(ANN, "2026-12-07T09:00:00.000+00:00"), upsert(BOB, "2026-12-07T09:00:00.000+00:00")
    sqs.fill(QUEUES.dlq_url, [letter(stale), letter(fresh)])
    deleted_later = ContactState(ANN, applied_ms=operation_rank(upsert(ANN, "2026-12-07T12:00:00Z")), deleted=True)
    queue = DeadLetterQueue(sqs, QUEUES, clock=sqs.clock, contact_state=Table({ANN: deleted_later}))

    report = queue.redrive(dry_run=True, force=True)

    assert report.moved == 2  # would move
    assert [(found.phone, found.deleted) for found in report.over_newer] == [("15*****1234", True)]
    assert sqs.bodies(QUEUES.queue_url) == []


def test_without_force_a_dry_run_reads_no_contact_state() -> None:
    sqs = SqsModel()
    sqs.fill(QUEUES.dlq_url, [letter(upsert(ANN, "2026-12-07T09:00:00.000+00:00"))])
    table = Table({})

    report = DeadLetterQueue(sqs, QUEUES, clock=sqs.clock, contact_state=table).redrive(dry_run=True)

    assert (report.moved, report.over_newer, table.asked) == (1, [], [])
    assert json.loads(sqs.bodies(QUEUES.dlq_url)[0])["error_kind"] == "heymarket_unavailable"
