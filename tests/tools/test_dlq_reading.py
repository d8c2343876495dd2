"""The DLQ commands read every letter once and end, at any DLQ size and however slow SQS answers.

Against the time-compressed model of SQS in sqs_model.py: thousands of letters and 50 ms a call make reads that take
minutes of simulated time (past any visibility timeout) in a fraction of a second.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from heymarket_bridge_tools.dlq import DeadLetterQueue
from heymarket_bridge_tools.dlq_letters import LetterFilter
from heymarket_bridge_tools.ops import StackQueues
from tests.doubles.sqs_model import SqsModel

QUEUES = StackQueues("main-queue", "dead-letter-queue")


def letters(count: int, error: str = "Heymarket answered 500", kind: str = "failed") -> list[str]:
    return [
        json.dumps(
            {
                "error": error,
                "error_kind": kind,
                "contact": {"phone": f"1510555{n:04d}"},
                "message": json.dumps({"n": n}),
            }
        )
        for n in range(count)
    ]


def dlq(sqs: SqsModel) -> DeadLetterQueue:
    return DeadLetterQueue(sqs, QUEUES, clock=sqs.clock)


def test_a_read_longer_than_a_visibility_timeout_counts_each_letter_once_and_ends() -> None:
    # Given 5,000 letters and an SQS answering in a second: reading them all takes longer than the letters' hold
    sqs = SqsModel(call_s=1.0)
    sqs.fill(QUEUES.dlq_url, letters(5000))
    queue = dlq(sqs)

    entries = queue.entries()

    assert sqs.now > 2 * (120 + 5000 * 0.05)
    assert len(entries) == 5000
    assert len({entry.message_id for entry in entries}) == 5000
    assert dlq(sqs).depth() == (5000, 0)  # every letter handed back


def test_a_short_poll_that_misses_letters_does_not_end_the_read() -> None:
    # Given letters spread over SQS's servers, which a short poll samples one at a time
    sqs = SqsModel(servers=5, seed=3)
    sqs.fill(QUEUES.dlq_url, letters(12))

    assert len(dlq(sqs).entries()) == 12


def test_a_redrive_longer_than_a_visibility_timeout_handles_each_letter_once() -> None:
    # Given 4,000 letters, half of them matching the filter, and an SQS answering in 50 ms
    sqs = SqsModel(call_s=0.05)
    sqs.fill(QUEUES.dlq_url, letters(2000, "Heymarket answered 503") + letters(2000, "invalid email", "refused"))

    report = dlq(sqs).redrive(where=LetterFilter.of(kinds=["failed"]))

    assert (report.moved, report.skipped, report.failed) == (2000, 2000, 0)
    assert sorted(sqs.bodies(QUEUES.queue_url)) == sorted(json.dumps({"n": n}) for n in range(2000))
    assert Counter(json.loads(body)["error"] for body in sqs.bodies(QUEUES.dlq_url)) == {"invalid email": 2000}
    assert dlq(sqs).depth() == (2000, 0)


def test_a_redrive_while_the_cause_is_not_fixed_leaves_letters_that_come_back_and_ends() -> None:
    # Given a sync function that dead-letters every redriven contact again at once (a permanent refusal)
    def fail_again(sqs: SqsModel, queue_url: str, body: str) -> None:
        if queue_url == QUEUES.queue_url:
            sqs.queues[queue_url].clear()
            operation = json.loads(body)
            sqs.fill(
                QUEUES.dlq_url, [json.dumps({"error": "Heymarket answered 400", "message": json.dumps(operation)})]
            )

    sqs = SqsModel(on_send=fail_again)
    sqs.fill(QUEUES.dlq_url, letters(300, "Heymarket answered 400"))

    report = dlq(sqs).redrive()

    assert report.moved == 300
    assert report.returned <= 300
    assert dlq(sqs).depth() == (300, 0)  # each contact's letter, once


def test_a_dry_run_of_a_large_dlq_counts_each_letter_once() -> None:
    sqs = SqsModel(call_s=0.05)
    sqs.fill(QUEUES.dlq_url, letters(3000))

    report = dlq(sqs).redrive(dry_run=True)

    assert (report.moved, report.skipped) == (3000, 0)
    assert sqs.bodies(QUEUES.queue_url) == []


def test_an_export_of_a_large_dlq_writes_each_letter_once(tmp_path: Path) -> None:
    sqs = SqsModel(call_s=0.05)
    sqs.fill(QUEUES.dlq_url, letters(3000))

    assert dlq(sqs).export(tmp_path / "dlq.jsonl") == 3000

    phones = [json.loads(line)["contact"]["phone"] for line in (tmp_path / "dlq.jsonl").read_text().splitlines()]
    assert sorted(phones) == sorted(f"1510555{n:04d}" for n in range(3000))


def test_a_hold_that_ran_out_is_recognised_and_the_letter_is_not_counted_twice() -> None:
    # Given an SQS so slow that holds run out between two receives (a hold is extended only before a receive)
    sqs = SqsModel(call_s=400.0)
    sqs.fill(QUEUES.dlq_url, letters(40))
    queue = dlq(sqs)

    entries = queue.entries()

    assert len(entries) == 40
    assert queue.last_count.shortfall() == ""


def test_letters_held_by_another_reader_are_reported_not_silently_left_out() -> None:
    sqs = SqsModel()
    sqs.fill(QUEUES.dlq_url, letters(30))
    sqs.receive_message(QUEUES.dlq_url, MaxNumberOfMessages=10, VisibilityTimeout=3600, WaitTimeSeconds=1)
    queue = dlq(sqs)

    entries = queue.entries()

    assert len(entries) == 20
    assert "the queue reported 30 letter(s) when the read began: 10 were held by another reader" in (
        queue.last_count.shortfall()
    )


def test_a_dlq_beyond_the_in_flight_quota_is_read_as_far_as_sqs_allows_and_says_so() -> None:
    sqs = SqsModel(in_flight_limit=100)
    sqs.fill(QUEUES.dlq_url, letters(150))
    queue = dlq(sqs)

    entries = queue.entries()

    assert len(entries) == 100
    assert "SQS holds at most 120,000 messages of a queue in flight" in queue.last_count.shortfall()
    assert queue.depth() == (150, 0)


@pytest.mark.parametrize("count", [0, 1, 10, 11])
def test_small_dlqs_are_read_whole(count: int) -> None:
    sqs = SqsModel()
    sqs.fill(QUEUES.dlq_url, letters(count))

    assert len(dlq(sqs).entries()) == count
