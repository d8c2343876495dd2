"""Each second-wave source answers a body of the wrong media type with 415 naming the type it takes, and its docs
page says so; bytes that are not text are "not valid UTF-8 JSON" (JSON is UTF-8, RFC 8259 section 8.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, with_body, with_headers

ROOT = Path(__file__).resolve().parents[4]

# (sample, the media type its sender posts, a body of another media type, its Content-Type)
WRONG_TYPES = [
    ("meta/leadgen", "application/json", b"leadgen_id=444444444444", "application/x-www-form-urlencoded"),
    ("meta/leadgen", "application/json", b"leadgen_id=444444444444", "text/plain"),
    ("stripe/customer_created", "application/json", b"<event/>", "application/xml"),
    ("stripe/customer_created", "application/json", b"type=customer.created", "application/x-www-form-urlencoded"),
    ("square/customer_created", "application/json", b"type=customer.created", "application/x-www-form-urlencoded"),
    ("google_forms/form_response", "application/json", b"answers=1", "text/plain"),
    (
        "acuity/appointment_scheduled",
        "application/x-www-form-urlencoded",
        b'{"action":"scheduled","id":1}',
        "application/json",
    ),
    ("acuity/appointment_scheduled", "application/x-www-form-urlencoded", b"action=scheduled", "text/plain"),
    ("wordpress/wpforms", "application/x-www-form-urlencoded", b"name: Ann\nphone: 555", "text/plain"),
    ("wordpress/wpforms", "application/x-www-form-urlencoded", b"<entry/>", "application/xml"),
]


def _page(sample: str) -> str:
    return (ROOT / "docs" / "sources" / f"{sample.split('/')[0]}.md").read_text()


@pytest.mark.parametrize(("sample", "expected", "body", "content_type"), WRONG_TYPES)
def test_a_body_of_another_media_type_is_415_naming_the_type_the_source_takes(
    sample: str, expected: str, body: bytes, content_type: str
) -> None:
    event = with_body(with_headers(load_event(sample), content_type=content_type), body)

    delivered = deliver(event)

    assert delivered.status == 415, delivered.reply.body
    assert expected in json.dumps(delivered.json)
    assert delivered.queued == delivered.fetches == []


@pytest.mark.parametrize("sample", sorted({sample for sample, *_ in WRONG_TYPES}))
def test_the_source_s_docs_page_lists_the_415_and_the_type_it_takes(sample: str) -> None:
    page = _page(sample)
    expected = next(e for s, e, *_ in WRONG_TYPES if s == sample)

    assert "415" in page
    assert f"`{expected}`" in page


@pytest.mark.parametrize(
    "sample", ["meta/leadgen", "stripe/customer_created", "square/customer_created", "google_forms/form_response"]
)
def test_bytes_that_are_not_text_are_not_valid_utf8_json(sample: str) -> None:
    event = with_body(load_event(sample), b"\xff\xfe{")

    delivered = deliver(event)

    assert delivered.status == 400
    assert "not valid UTF-8 JSON" in json.dumps(delivered.json)
