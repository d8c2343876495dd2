"""Which contact a sender posts again is a repeat (heymarket_bridge.ingest.repeats.judge), one rule per test."""

from __future__ import annotations

import pytest

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import ContactOperation, Operation
from heymarket_bridge.ingest.repeats import Latest, RepeatVerdict, judge, rank
from heymarket_bridge.sync.state.rules import operation_rank

OUT, IN = "fingerprint-opted-out", "fingerprint-opted-in"


def queued(fingerprint: str, rank: int, *, repeated_at: int | None = None, fresh: bool = True) -> Latest:
    """An entry whose content was queued at `rank`, repeated since at `repeated_at`."""
    return Latest(fingerprint, repeated_at or rank, rank, True, "v1", fresh)


def test_a_phone_nothing_is_known_of_is_claimed() -> None:
    assert judge(None, OUT, 10) is RepeatVerdict.CLAIM


def test_the_newest_content_sent_again_after_it_was_queued_is_a_repeat() -> None:
    assert judge(queued(OUT, 10), OUT, 20) is RepeatVerdict.REPEAT


def test_the_newest_content_sent_again_before_it_is_confirmed_queued_is_queued_again() -> None:
    claimed = Latest(OUT, 10, 10, False, "v1")

    assert judge(claimed, OUT, 20) is RepeatVerdict.CLAIM


def test_a_newer_change_is_claimed() -> None:
    assert judge(queued(OUT, 10), IN, 20) is RepeatVerdict.CLAIM


def test_an_older_change_than_the_queued_one_is_queued_for_the_sync_side_to_order() -> None:
    assert judge(queued(OUT, 10), IN, 5) is RepeatVerdict.QUEUE


def test_an_older_change_than_a_claim_not_yet_queued_is_queued() -> None:
    claimed = Latest(OUT, 10, 10, False, "v1")

    assert judge(claimed, IN, 5) is RepeatVerdict.QUEUE


def test_a_change_older_than_a_repeat_but_newer_than_the_queued_copy_is_not_queued() -> None:
    # Given an opt-out queued at 10 and sent again at 30 (a repeat, not queued): the sender's last word is opted out
    entry = queued(OUT, 10, repeated_at=30)

    # When an opt-in it sent at 20 arrives late: queued, it would be applied over the opt-out queued at 10
    verdict = judge(entry, IN, 20)

    # Then it is not queued
    assert verdict is RepeatVerdict.SUPERSEDED


def test_a_late_change_between_the_queued_copy_and_its_repeat_is_superseded_after_the_repeat_window() -> None:
    entry = queued(OUT, 10, repeated_at=30, fresh=False)

    assert judge(entry, IN, 20) is RepeatVerdict.SUPERSEDED


def test_the_same_content_after_the_repeat_window_is_queued_again() -> None:
    assert judge(queued(OUT, 10, fresh=False), OUT, 20) is RepeatVerdict.CLAIM


def test_an_opt_out_sent_again_after_it_was_queued_is_claimed_not_a_repeat() -> None:
    assert judge(queued(OUT, 10), OUT, 20, opt_out=True) is RepeatVerdict.CLAIM


def test_an_opt_out_older_than_a_repeat_of_newer_content_is_queued_not_superseded() -> None:
    assert judge(queued(IN, 10, repeated_at=30), OUT, 20, opt_out=True) is RepeatVerdict.QUEUE


def test_a_contact_after_a_delete_of_its_phone_is_claimed() -> None:
    deleted = Latest("", 10, 10, True, "v1")

    assert judge(deleted, OUT, 20) is RepeatVerdict.CLAIM


@pytest.mark.parametrize(
    ("occurred_at", "received_at"),
    [
        (None, "2026-11-23T09:00:00.123+00:00"),
        ("2026-11-23T08:59:00.000+00:00", "2026-11-23T09:00:00.123+00:00"),
        ("2026-11-23T09:01:00.000+00:00", "2026-11-23T09:00:00.123+00:00"),  # a source clock ahead: the receipt
        ("not a time", "2026-11-23T09:00:00.123+00:00"),
        (None, "not a time"),
    ],
)
def test_the_rank_is_the_one_the_sync_side_orders_a_phones_operations_by(
    occurred_at: str | None, received_at: str
) -> None:
    operation = ContactOperation(
        Operation.UPSERT, Contact(phone="15105550123"), "generic", received_at, "req", occurred_at=occurred_at
    )

    assert rank(occurred_at, received_at) == operation_rank(operation)
