"""Operator commands against moto queues built from the template: DLQ listing, export, redrive, status."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.operations import REFUSED_AT_INGEST, ContactOperation, DeadLetter, Operation
from heymarket_bridge_tools.dlq import DeadLetterQueue, RedriveReport
from heymarket_bridge_tools.dlq_letters import LetterFilter
from heymarket_bridge_tools.ops import StackQueues, queue_status
from heymarket_local.template import StackTemplate


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, StackQueues]]:
    with mock_aws():
        sqs, secretsmanager = boto3.client("sqs"), boto3.client("secretsmanager")
        resources = StackTemplate.load().provision(
            sqs,
            secretsmanager,
            webhook_secrets={"generic": "token"},
            heymarket_credentials={"secret_id": "sandbox-secret-id", "secret_key": "sandbox-secret-key"},
        )
        yield sqs, secretsmanager, StackQueues(resources.queue_url, resources.dlq_url, resources.heymarket_secret_arn)


def dead_letter(n: int, error: str, error_kind: str = "") -> str:
    operation = ContactOperation(
        Operation.UPSERT, Contact(phone=f"1510555{n:04d}", email=f"p{n}@example.com"), "generic", "t", f"req-{n}"
    )
    return DeadLetter(
        error=error,
        attempts=5,
        source="generic",
        received_at="t",
        contact=operation.contact.to_heymarket(),
        message=operation.to_json(),
        error_kind=error_kind,
    ).to_json()


def fill(sqs: Any, queues: StackQueues, errors: list[str], kinds: list[str] | None = None) -> None:
    for n, error in enumerate(errors):
        sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=dead_letter(n, error, (kinds or [""] * len(errors))[n]))


def main_queue_bodies(sqs: Any, queues: StackQueues) -> list[str]:
    bodies: list[str] = []
    while messages := sqs.receive_message(QueueUrl=queues.queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in messages)
    return bodies


def test_the_dlq_is_listed_grouped_by_error_with_masked_contacts(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["Heymarket answered 500", "invalid email", "Heymarket answered 500"])
    sqs.send_message(QueueUrl=queues.dlq_url, MessageBody="raw message SQS moved itself")
    dlq = DeadLetterQueue(sqs, queues)

    assert dlq.summary() == [
        ("Heymarket answered 500", 2),
        ("invalid email", 1),
        ("moved by SQS after too many receives (no reason recorded)", 1),
    ]
    shown = json.dumps([entry.masked() for entry in dlq.entries()])
    assert "15105550000" not in shown
    assert "p0@example.com" not in shown
    assert "15*****0000" in shown
    assert dlq.depth() == (4, 0)  # listing leaves every message in place


def test_export_writes_one_json_line_per_dead_letter(aws: tuple[Any, Any, StackQueues], tmp_path: Path) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["a", "b"])
    path = tmp_path / "dlq.jsonl"

    assert DeadLetterQueue(sqs, queues).export(path) == 2

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["error"] for line in lines) == ["a", "b"]
    assert all(line["contact"]["phone"].startswith("1510555") for line in lines)


def test_redrive_moves_only_matching_letters_as_their_original_messages(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    fill(
        sqs,
        queues,
        ["Heymarket answered 500", "invalid email", "Heymarket answered 503"],
        ["heymarket_unavailable", "refused", "heymarket_unavailable"],
    )
    dlq = DeadLetterQueue(sqs, queues)
    unavailable = LetterFilter.of(kinds=["heymarket_unavailable"])

    dry = dlq.redrive(where=unavailable, dry_run=True)
    assert (dry.moved, dry.skipped) == (2, 1)
    assert dlq.depth()[0] == 3
    assert main_queue_bodies(sqs, queues) == []

    report = dlq.redrive(where=unavailable)

    assert (report.moved, report.skipped, report.failed) == (2, 1, 0)
    moved = [ContactOperation.from_json(body) for body in main_queue_bodies(sqs, queues)]
    assert sorted(op.contact.phone for op in moved) == ["15105550000", "15105550002"]
    assert dlq.summary() == [("invalid email", 1)]


def test_an_interrupted_redrive_run_again_loses_nothing_and_sends_nothing_twice(
    aws: tuple[Any, Any, StackQueues],
) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, [f"error {n}" for n in range(25)])
    dlq = DeadLetterQueue(sqs, queues)

    def interrupt_after_seven(report: RedriveReport) -> None:
        if report.moved == 7:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C does; handled between messages

    first = dlq.redrive(progress=interrupt_after_seven)
    assert first.interrupted
    assert first.moved == 7

    assert dlq.depth() == (18, 0)  # the rest is back in the DLQ at once, none in flight
    second = dlq.redrive()

    bodies = main_queue_bodies(sqs, queues)
    phones = [ContactOperation.from_json(body).contact.phone for body in bodies]
    assert first.moved + second.moved == 25
    assert sorted(phones) == sorted(f"1510555{n:04d}" for n in range(25))  # each exactly once
    assert dlq.depth() == (0, 0)


def test_status_counts_both_queues(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["x"])
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="{}")
    status = queue_status(sqs, queues)
    assert (status.queue_visible, status.dlq_visible) == (1, 1)


def test_status_counts_the_fetch_dlq_when_the_stack_has_one() -> None:
    # Letters of leads and appointments that could not be fetched are in LeadFetchDeadLetterQueue, not the DLQ
    # `dlq list` reads: status names them so that the operator sees them
    with mock_aws():
        sqs, secretsmanager = boto3.client("sqs"), boto3.client("secretsmanager")
        resources = StackTemplate.load().provision(
            sqs,
            secretsmanager,
            webhook_secrets={"generic": "token"},
            heymarket_credentials={"secret_id": "sandbox-secret-id", "secret_key": "sandbox-secret-key"},
        )
        fetch_dlq = resources.queues["LeadFetchDeadLetterQueue"]
        sqs.send_message(QueueUrl=fetch_dlq, MessageBody='{"kind": "fetch_failed"}')

        with_fetch = StackQueues(resources.queue_url, resources.dlq_url, fetch_dlq_url=fetch_dlq)
        without = StackQueues(resources.queue_url, resources.dlq_url)

        assert queue_status(sqs, with_fetch).fetch_dlq_visible == 1
        assert queue_status(sqs, without).fetch_dlq_visible is None


def test_export_is_readable_by_its_owner_only(aws: tuple[Any, Any, StackQueues], tmp_path: Path) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["a"])
    path = tmp_path / "dlq.jsonl"
    path.write_text("old")
    path.chmod(0o644)

    DeadLetterQueue(sqs, queues).export(path)

    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["error"] == "a"


def test_the_summary_masks_what_heymarket_quoted_of_the_contact(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["p0@example.com: +1 510 555 0000 already exists"])
    dlq = DeadLetterQueue(sqs, queues)

    assert dlq.summary() == [("p***@example.com: 15*****0000 already exists", 1)]
    assert dlq.summary(unmasked=True) == [("p0@example.com: +1 510 555 0000 already exists", 1)]


def test_a_forced_redrive_marks_each_message_to_be_applied_even_if_superseded_or_unchanged(
    aws: tuple[Any, Any, StackQueues],
) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["Heymarket answered 500", "invalid email"])

    report = DeadLetterQueue(sqs, queues).redrive(force=True)

    moved = [ContactOperation.from_json(body) for body in main_queue_bodies(sqs, queues)]
    assert report.moved == 2
    assert [op.force for op in moved] == [True, True]
    assert sorted(op.contact.phone for op in moved) == ["15105550000", "15105550001"]


def test_a_redrive_without_force_puts_back_the_original_messages_unmarked(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    fill(sqs, queues, ["Heymarket answered 500"])

    DeadLetterQueue(sqs, queues).redrive()

    [body] = main_queue_bodies(sqs, queues)
    assert not ContactOperation.from_json(body).force
    assert "force" not in json.loads(body)


# ---------------------------------------------------------------------- refusal letters (issue 22, kind 7)


def refusal_letter(n: int, phone: str) -> str:
    return DeadLetter(
        error="refused at ingest from typeform: phone: not a phone number",
        attempts=0,
        source="typeform",
        received_at="2026-11-23T09:00:00.000+00:00",
        contact=None,
        correlation_id=f"req-{n}",
        operation_id=f"req-{n}#0",
        kind=REFUSED_AT_INGEST,
        fields={"phone": phone, "first": f"Ada{n}", "email": f"ada{n}@example.com"},
        region="US",
    ).to_json()


def test_a_refusal_letter_is_listed_under_its_reason_with_its_fields_masked(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=refusal_letter(0, "(510) 555-01 cell"))
    dlq = DeadLetterQueue(sqs, queues)

    [entry] = dlq.entries()

    assert dlq.summary() == [("refused at ingest from typeform: phone: not a phone number", 1)]
    shown = entry.masked()
    assert (shown["kind"], shown["source"], shown["email"]) == (REFUSED_AT_INGEST, "typeform", "a***@example.com")
    assert "ada0@example.com" not in json.dumps(shown)


def test_a_refusal_letter_corrected_with_set_goes_back_validated_as_an_upsert_from_its_source(
    aws: tuple[Any, Any, StackQueues],
) -> None:
    sqs, _, queues = aws
    sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=refusal_letter(0, "(510) 555-01"))
    dlq = DeadLetterQueue(sqs, queues)

    report = dlq.redrive(sets={"phone": "+1 510 555 0123"})

    assert (report.moved, report.failed) == (1, 0)
    [body] = main_queue_bodies(sqs, queues)
    operation = json.loads(body)
    assert (operation["source"], operation["contact"]["phone"], operation["contact"]["first"]) == (
        "typeform",
        "15105550123",
        "Ada0",
    )
    assert dlq.depth() == (0, 0)


def test_a_refusal_letter_still_invalid_stays_in_the_dlq_with_its_reasons(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=refusal_letter(0, "(510) 555-01"))
    dlq = DeadLetterQueue(sqs, queues)

    report = dlq.redrive()

    assert (report.moved, report.failed) == (0, 1)
    assert "still refused" in report.errors[0]
    assert main_queue_bodies(sqs, queues) == []
    assert dlq.depth() == (1, 0)


def test_setting_a_phone_on_several_refusal_letters_at_once_moves_nothing(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    for n in range(2):
        sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=refusal_letter(n, "(510) 555-01"))
    dlq = DeadLetterQueue(sqs, queues)

    report = dlq.redrive(sets={"phone": "+1 510 555 0123"})

    assert (report.moved, report.failed) == (0, 1)
    assert "--message-id" in report.errors[0]
    assert dlq.depth() == (2, 0)


def test_a_set_with_a_message_id_corrects_that_letter_only(aws: tuple[Any, Any, StackQueues]) -> None:
    sqs, _, queues = aws
    for n in range(2):
        sqs.send_message(QueueUrl=queues.dlq_url, MessageBody=refusal_letter(n, "(510) 555-01"))
    fill(sqs, queues, ["Heymarket answered 500"])
    dlq = DeadLetterQueue(sqs, queues)
    chosen = next(entry for entry in dlq.entries() if entry.refused_at_ingest)

    report = dlq.redrive(sets={"phone": "+1 510 555 0123"}, message_id=chosen.message_id)

    assert (report.moved, report.skipped) == (1, 2)
    assert dlq.depth() == (2, 0)
