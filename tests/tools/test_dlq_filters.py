"""`dlq redrive`'s selection on what the bridge itself wrote in a letter (dlq_letters.LetterFilter): the kind
of failure, the source, when it was dead-lettered; never the error's text, which quotes senders' values."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from heymarket_bridge.domain.operations import REFUSED_AT_INGEST, DeadLetter
from heymarket_bridge_tools import cli
from heymarket_bridge_tools.dlq import DeadLetterQueue
from heymarket_bridge_tools.dlq_letters import DeadLetterEntry, LetterFilter, read_entry
from heymarket_bridge_tools.ops import StackQueues
from heymarket_bridge_tools.target import Target
from tests.doubles.sqs_model import SqsModel

QUEUES = StackQueues("https://sqs.test/queue", "https://sqs.test/dlq")


def letter(
    n: int,
    kind: str,
    *,
    source: str = "generic",
    failed_at: str = "2026-12-07T10:00:00.000+00:00",
    error: str = "Heymarket answered 400: bad_data",
) -> str:
    return DeadLetter(
        error=error,
        attempts=1,
        source=source,
        received_at="2026-12-07T09:00:00.000+00:00",
        contact={"phone": f"1510555{n:04d}"},
        message=json.dumps({"n": n}),
        failed_at=failed_at,
        error_kind=kind,
        kind=REFUSED_AT_INGEST if kind == REFUSED_AT_INGEST else "",
    ).to_json()


def entry(body: str) -> DeadLetterEntry:
    return read_entry({"MessageId": "m", "ReceiptHandle": "r", "Body": body})


def test_a_kind_selects_the_letters_the_bridge_wrote_with_that_kind() -> None:
    wanted = LetterFilter.of(kinds=["heymarket_unavailable"])

    assert wanted.matches(entry(letter(0, "heymarket_unavailable")))
    assert not wanted.matches(entry(letter(1, "refused")))


def test_text_a_sender_chose_in_the_error_does_not_make_a_letter_match() -> None:
    # A tag name quoted in Heymarket's refusal reads like the words an operator would look for.
    quoted = letter(0, "refused", error="Heymarket answered 400: tag 'heymarket_unavailable answered 503' is invalid")

    assert not LetterFilter.of(kinds=["heymarket_unavailable", "failed"]).matches(entry(quoted))


def test_letters_without_a_kind_and_raw_messages_have_kinds_of_their_own() -> None:
    old = json.loads(letter(0, ""))  # written before letters carried a kind
    refusal = entry(letter(1, REFUSED_AT_INGEST))

    assert entry(json.dumps(old)).kind == "unclassified"
    assert entry("a raw message SQS moved itself").kind == "raw"
    assert refusal.kind == REFUSED_AT_INGEST
    assert LetterFilter.of(kinds=["raw"]).matches(entry("raw"))


def test_a_source_selects_that_sources_letters_only() -> None:
    typeform = LetterFilter.of(sources=["typeform"])

    assert typeform.matches(entry(letter(0, "refused", source="typeform")))
    assert not typeform.matches(entry(letter(1, "refused", source="jotform")))
    assert not typeform.matches(entry("raw"))


@pytest.mark.parametrize(
    ("failed_at", "selected"),
    [
        ("2026-12-07T08:59:59.999+00:00", False),
        ("2026-12-07T09:00:00.000+00:00", True),  # --since is inclusive
        ("2026-12-07T11:59:59.000+00:00", True),
        ("2026-12-07T12:00:00.000+00:00", False),  # --until is exclusive
        ("2026-12-07T13:30:00.000+02:00", True),  # 11:30 UTC
    ],
)
def test_a_time_range_selects_by_when_the_letter_was_written(failed_at: str, selected: bool) -> None:
    morning = LetterFilter.of(since="2026-12-07T09:00Z", until="2026-12-07T12:00:00")

    assert morning.matches(entry(letter(0, "failed", failed_at=failed_at))) is selected


def test_a_time_range_never_selects_a_message_that_does_not_say_when() -> None:
    assert not LetterFilter.of(since="2026-12-01").matches(entry("raw"))
    assert LetterFilter.of(since="2026-12-01").since == datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("options", "named"),
    [({"kinds": ["unavailable"]}, "unknown kind unavailable"), ({"since": "yesterday"}, "--since 'yesterday'")],
)
def test_an_unknown_kind_or_a_time_that_is_not_iso_8601_is_refused_by_name(options: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        LetterFilter.of(**options)


def test_a_redrive_moves_only_the_letters_of_the_kinds_and_source_asked_for() -> None:
    sqs = SqsModel()
    sqs.fill(
        QUEUES.dlq_url,
        [
            letter(0, "heymarket_unavailable", source="typeform"),
            letter(1, "heymarket_unavailable", source="jotform"),
            letter(2, "refused", source="typeform"),
        ],
    )

    report = DeadLetterQueue(sqs, QUEUES, clock=sqs.clock).redrive(
        where=LetterFilter.of(kinds=["heymarket_unavailable"], sources=["typeform"])
    )

    assert (report.moved, report.skipped) == (1, 2)
    assert sqs.bodies(QUEUES.queue_url) == [json.dumps({"n": 0})]


def cli_target(monkeypatch: pytest.MonkeyPatch) -> SqsModel:
    sqs = SqsModel()
    target = Target("local stack", QUEUES, lambda service: sqs, "http://127.0.0.1:3000")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)
    return sqs


def test_the_text_filter_is_refused_with_the_structured_filters_to_use_instead(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = cli_target(monkeypatch)

    code = cli.main(["dlq", "redrive", "--filter", "answered 5", "--dry-run"])

    err = capsys.readouterr().err
    assert code == 2
    assert "--filter is no longer accepted" in err
    assert "--kind" in err
    assert "--source" in err
    assert sqs.calls == 0


def test_an_unknown_kind_on_the_command_line_is_a_usage_error_listing_the_kinds(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs = cli_target(monkeypatch)

    code = cli.main(["dlq", "redrive", "--kind", "outage"])

    err = capsys.readouterr().err
    assert code == 2
    assert "heymarket_unavailable" in err
    assert sqs.calls == 0
