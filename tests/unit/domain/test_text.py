"""Error texts quote a sender's value only masked, and nothing a sender sends can break a log line.

Error texts reach the answer, the logs and the delivery table's saved answers: an email or a phone in one would be
personal data kept where it must not be, and a lone surrogate (a JSON escape such as "\\ud800") made Powertools'
log line fail to encode, losing it.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from heymarket_bridge.domain.text import printable, shown
from heymarket_bridge.observability import logger, redact
from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, with_body, with_json


@pytest.fixture
def strict_log() -> Iterator[io.BytesIO]:
    """The logger writing to a strict UTF-8 stream, as Lambda's stdout is; its raw bytes."""
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", write_through=True)
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(stream)
    try:
        yield raw
    finally:
        handler.setStream(previous)


def log_lines(raw: io.BytesIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in raw.getvalue().decode("utf-8").splitlines() if line.startswith("{")]


def test_an_email_given_as_a_tag_is_masked_in_the_answer_and_the_log(strict_log: io.BytesIO) -> None:
    single = load_event("generic/single_contact")

    # A tag may be a name, so the email must come wrapped in something that is neither an id nor a name.
    delivered = deliver(with_json(single, {"phone": "5105550109", "tags": [["ada.lovelace@example.com"]]}))

    assert delivered.rejected[0]["errors"] == ["tags must be positive tag ids or names, not '['a***@example.com']'"]
    assert b"ada.lovelace" not in strict_log.getvalue()
    assert any(line["message"] == "Webhook accepted" for line in log_lines(strict_log))


def test_a_phone_given_as_a_custom_field_name_is_masked() -> None:
    single = load_event("generic/single_contact")

    delivered = deliver(with_json(single, {"phone": "5105550109", "custom": {"+1 (510) 555-0142": ["x", "y"]}}))

    [error] = delivered.rejected[0]["errors"]
    assert "555" not in error
    assert "'*********42' must be a text" in error


def test_an_unknown_source_named_like_an_email_is_not_echoed_whole() -> None:
    event = load_event("generic/single_contact")
    event["pathParameters"] = {"source": "ada.lovelace@example.com"}

    delivered = deliver(event)

    assert delivered.status == 404
    assert "ada.lovelace" not in delivered.reply.body


def test_a_lone_surrogate_in_an_echoed_value_keeps_the_log_line_and_the_answer(strict_log: io.BytesIO) -> None:
    single = load_event("generic/single_contact")

    delivered = deliver(with_body(single, '{"phone": "5105550109", "tags": ["x\\ud800"]}'))

    assert delivered.status == 202
    assert delivered.rejected[0]["errors"] == ["tags must be positive tag ids or names, not 'x\\ud800'"]
    [accepted] = [line for line in log_lines(strict_log) if line["message"] == "Webhook accepted"]
    assert accepted["rejections"] == [["tags must be positive tag ids or names, not 'x\\ud800'"]]


def test_a_lone_surrogate_in_a_vendor_event_name_keeps_the_log_line(strict_log: io.BytesIO) -> None:
    calendly = load_event("calendly/invitee_created")
    body = json.loads(calendly["body"])
    body["event"] = "routing_form_submission.created\ud800"

    delivered = deliver(with_body(calendly, json.dumps(body)))

    assert delivered.status == 202
    assert "\\ud800" in delivered.rejected[0]["errors"][0]
    assert any(line["message"] == "Webhook accepted" for line in log_lines(strict_log))


def test_any_log_line_survives_a_lone_surrogate(strict_log: io.BytesIO) -> None:
    logger.info("Anything", extra={"sender_text": "a\ud800b"})

    [line] = log_lines(strict_log)
    assert line["sender_text"] == "a\ud800b"  # written as its JSON escape, read back as it was


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ada.lovelace@example.com", "'a***@example.com'"),
        ("+1 (510) 555-0142", "'*********42'"),
        (15105550142, "'*********42'"),
        ("vip", "'vip'"),
        (12345, "'12345'"),
        ("\ud800\x00", "'\\ud800\\x00'"),
        ("x" * 100, "'" + "x" * 37 + "...'"),
    ],
)
def test_a_value_is_shown_masked_escaped_and_short(value: Any, expected: str) -> None:
    assert shown(value) == expected


def test_printable_text_is_kept_as_it_is() -> None:
    assert printable("Renée 用户 +1 510") == "Renée 用户 +1 510"


def test_an_email_cut_by_the_limit_is_still_masked() -> None:
    # Given an email that starts just before the quoted part ends, in a value far longer than the limit
    value = "x" * 30 + " ada.lovelace@example.com " + "y" * 1_000_000

    # When it is quoted
    quoted = shown(value)

    # Then what is shown of the email is masked, and the value is cut
    assert "ada.lo" not in quoted
    assert quoted.startswith("'" + "x" * 30 + " a***@")
    assert quoted.endswith("...'")


def test_a_phone_cut_by_the_limit_is_still_masked() -> None:
    quoted = shown("x" * 34 + "+1 510 555 0142" + "y" * 1_000_000)

    assert "510" not in quoted
    assert "555" not in quoted


def test_a_large_non_text_value_is_quoted_from_a_bounded_repr() -> None:
    quoted = shown(list(range(1_000_000)))

    assert quoted == "'[0, 1, 2, 3, 4, 5, ...]'"


def test_a_redacted_log_text_masks_an_email_the_limit_cuts() -> None:
    text = "x" * 290 + " ada.lovelace@example.com" + "z" * 1_000_000

    assert redact(text) == "x" * 290 + " <redacted"


def test_a_redacted_log_text_keeps_what_is_neither_a_phone_nor_an_email() -> None:
    assert redact("HTTP 500 from POST /v2/contacts (request 7f3a)") == "HTTP 500 from POST /v2/contacts (request 7f3a)"
