"""heymarket_bridge.observability: which counts become metric series (few, by `service` only) and which become log
lines, and what a log line leaves out (issue 24, point 6: the bill a small clinic does not notice)."""

from __future__ import annotations

import json
import logging

import pytest

from heymarket_bridge.observability import (
    COUNTED_MESSAGE,
    METRICS,
    WEBHOOK_OUTCOMES,
    _log_line,
    emit_metric,
    metrics,
)


def flushed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The EMF records written when the invocation ends (the handler's log_metrics flushes)."""
    metrics.flush_metrics()
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def test_a_catalogued_count_is_a_metric_by_service_only(capsys: pytest.CaptureFixture[str]) -> None:
    emit_metric("ContactsEnqueued", 3)
    emit_metric("ContactsEnqueued", 2)

    [record] = flushed(capsys)
    [directive] = record["_aws"]["CloudWatchMetrics"]  # type: ignore[index]
    assert directive["Dimensions"] == [["service"]]
    assert record["ContactsEnqueued"] == [3.0, 2.0]


def test_a_zero_is_not_written(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    emit_metric("ContactsDelivered", 0)
    emit_metric("DuplicateContactsFound", 0)

    assert flushed(capsys) == []
    assert [r for r in caplog.records if r.getMessage() == COUNTED_MESSAGE] == []


def test_a_count_outside_the_catalogue_is_a_log_line_with_its_detail_not_a_metric(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    emit_metric("HeymarketAnswerDeviations", 2, kind="extra_fields")

    assert flushed(capsys) == []
    [line] = [r for r in caplog.records if r.getMessage() == COUNTED_MESSAGE]
    assert (line.metric, line.value, line.kind) == ("HeymarketAnswerDeviations", 2, "extra_fields")  # type: ignore[attr-defined]


def test_a_catalogued_name_with_a_dimension_goes_to_the_log_so_no_series_is_split(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    emit_metric("WebhooksRefused", source="anything-a-url-says")

    assert flushed(capsys) == []
    assert [r.getMessage() for r in caplog.records] == [COUNTED_MESSAGE]


def test_the_catalogue_leaves_room_for_one_quiet_source_series_per_source_of_two() -> None:
    assert len(METRICS) <= 10
    assert all(description for description in METRICS.values())
    assert WEBHOOK_OUTCOMES == ("accepted", "duplicate", "refused")


def test_a_log_line_leaves_out_what_the_log_group_says_and_keeps_the_request_id() -> None:
    record = {
        "level": "INFO",
        "message": "Webhook accepted",
        "function_name": "heymarket-bridge-IngestFunction-abc",
        "function_arn": "arn:aws:lambda:us-east-1:123456789012:function:heymarket-bridge-IngestFunction-abc",
        "function_memory_size": 256,
        "function_request_id": "c6b0288d",
        "cold_start": False,
        "source": "hubspot",
        "outcome": "accepted",
    }

    line = json.loads(_log_line(record))

    assert line == {
        "level": "INFO",
        "message": "Webhook accepted",
        "function_request_id": "c6b0288d",
        "cold_start": False,
        "source": "hubspot",
        "outcome": "accepted",
    }
