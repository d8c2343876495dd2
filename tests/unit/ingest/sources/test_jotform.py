from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.sources.jotform import form_fields
from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, read_delivery, with_body, with_headers

SAMPLE = "jotform/submission"


@pytest.fixture
def event() -> dict[str, Any]:
    return load_event(SAMPLE)


def posted_fields(event: dict[str, Any]) -> dict[str, str]:
    return form_fields(WebhookRequest.from_http_api_event(event))


def as_urlencoded(event: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    changed = with_headers(event, content_type="application/x-www-form-urlencoded")
    return with_body(changed, urlencode(fields))


def with_answers(event: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    fields = posted_fields(event)
    fields["rawRequest"] = json.dumps(answers)
    return as_urlencoded(event, fields)


def answers_of(event: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(posted_fields(event)["rawRequest"]))


def test_the_sample_multipart_submission_becomes_a_contact(event: dict[str, Any]) -> None:
    delivered = deliver(event)

    assert delivered.status == 202
    assert delivered.queued == [
        {"phone": "17185550175", "first": "Annie", "last": "Easley", "email": "annie.easley@example.com"}
    ]


def test_the_same_submission_urlencoded_gives_the_same_contact(event: dict[str, Any]) -> None:
    assert deliver(as_urlencoded(event, posted_fields(event))).queued == deliver(event).queued


def test_a_wrong_token_is_401_and_nothing_is_queued(event: dict[str, Any]) -> None:
    wrong = copy.deepcopy(event)
    wrong["rawQueryString"] = "token=guessed"
    wrong["queryStringParameters"] = {"token": "guessed"}

    delivered = deliver(wrong)

    assert delivered.status == 401
    assert delivered.queued == []


def test_a_missing_token_is_401(event: dict[str, Any]) -> None:
    anonymous = copy.deepcopy(event)
    anonymous["rawQueryString"] = ""
    del anonymous["queryStringParameters"]

    assert deliver(anonymous).status == 401


def test_a_post_without_raw_request_is_400_naming_it(event: dict[str, Any]) -> None:
    fields = posted_fields(event)
    del fields["rawRequest"]

    delivered = deliver(as_urlencoded(event, fields))

    assert delivered.status == 400
    assert '"rawRequest"' in delivered.json["error"]["message"]


def test_a_multipart_body_with_the_wrong_boundary_is_400(event: dict[str, Any]) -> None:
    changed = with_headers(event, content_type="multipart/form-data; boundary=not-the-boundary")

    assert deliver(changed).status == 400


def test_a_json_post_is_415(event: dict[str, Any]) -> None:
    changed = with_headers(event, content_type="application/json")

    assert deliver(with_body(changed, json.dumps(answers_of(event)))).status == 415


def test_a_submission_without_a_phone_field_is_rejected_with_the_reason(event: dict[str, Any]) -> None:
    answers = answers_of(event)
    del answers["q4_phoneNumber"]

    delivered = deliver(with_answers(event, answers))

    assert delivered.status == 202
    assert delivered.rejected == [
        {
            "index": 0,
            "errors": ["the Jotform submission has no phone number: no field named like phone, mobile or cell"],
        }
    ]


def test_an_area_code_and_number_phone_widget_is_joined(event: dict[str, Any]) -> None:
    answers = answers_of(event)
    answers["q4_phoneNumber"] = {"area": "718", "phone": "555-0175"}

    [contact] = deliver(with_answers(event, answers)).queued

    assert contact["phone"] == "17185550175"


def test_a_mapping_reads_fields_by_name_and_widget_parts(event: dict[str, Any]) -> None:
    mapping = {"first": "fullName.last", "custom": {"101": "howDid", "102": "q7_typeA"}}

    [contact] = deliver(event, mappings={"jotform": mapping}).queued

    assert contact["first"] == "Easley"
    assert contact["custom"] == {"101": "Instagram", "102": "Evening classes, Weekend workshops"}


def test_the_delivery_id_is_the_submission_id(event: dict[str, Any]) -> None:
    assert read_delivery(event).identity.sender_id == "6071234567890123456"


# ---------------------------------------------------------------- hostile multipart bodies (issue 13)
BOUNDARY = "----jotform-test"


def multipart_event(event: dict[str, Any], body: bytes) -> dict[str, Any]:
    changed = with_headers(event, content_type=f"multipart/form-data; boundary={BOUNDARY}")
    return with_body(changed, body)


def part(name: str, value: str, extra: str = "", content_type: str = "") -> bytes:
    header = f'Content-Disposition: form-data; name="{name}"{extra}\r\n'
    if content_type:
        header += f"Content-Type: {content_type}\r\n"
    return f"--{BOUNDARY}\r\n{header}\r\n".encode() + value.encode("latin-1") + b"\r\n"


def timed(event: dict[str, Any]) -> tuple[int, float]:
    """The status and the seconds taken, with the largest body the template allows (10 MiB): the parser's own
    limits, not the body size, must refuse."""
    import time

    started = time.perf_counter()
    status = deliver(event, max_body_bytes=10_485_760).status
    return status, time.perf_counter() - started


def test_twenty_thousand_parts_are_refused_quickly(event: dict[str, Any]) -> None:
    body = b"".join(part(f"f{n}", "x") for n in range(20_000)) + f"--{BOUNDARY}--\r\n".encode()

    status, elapsed = timed(multipart_event(event, body))

    assert status == 413
    assert elapsed < 2


def test_a_part_with_sixty_thousand_parameters_is_refused_quickly(event: dict[str, Any]) -> None:
    params = "".join(f'; p{n}="v"' for n in range(60_000))
    body = part("rawRequest", "{}", params) + f"--{BOUNDARY}--\r\n".encode()

    status, elapsed = timed(multipart_event(event, body))

    assert status == 413
    assert elapsed < 2


def test_a_thousand_nested_multiparts_are_answered_without_recursion(event: dict[str, Any]) -> None:
    nested = b"x"
    for level in range(1000):
        boundary = f"b{level}"
        nested = (
            f"--{boundary}\r\nContent-Type: multipart/mixed; boundary=b{level - 1}\r\n\r\n".encode()
            + nested
            + f"\r\n--{boundary}--".encode()
        )
    body = part("rawRequest", "{}") + f"--{BOUNDARY}\r\nContent-Type: multipart/mixed\r\n\r\n".encode() + nested

    status, elapsed = timed(multipart_event(event, body + f"\r\n--{BOUNDARY}--\r\n".encode()))

    assert status in (202, 400)
    assert elapsed < 2


def test_a_part_is_read_in_its_own_charset(event: dict[str, Any]) -> None:
    answers = answers_of(event)
    answers["q3_fullName"] = {"first": "Renée", "last": "Easley"}
    raw = json.dumps(answers, ensure_ascii=False)
    body = (
        part("submissionID", "1")
        + part("rawRequest", raw, content_type="application/json; charset=ISO-8859-1")
        + f"--{BOUNDARY}--\r\n".encode()
    )

    [contact] = deliver(multipart_event(event, body)).queued

    assert contact["first"] == "Renée"


def test_json_posted_where_jotform_posts_a_form_is_415_saying_so(event: dict[str, Any]) -> None:
    changed = with_headers(event, content_type="application/x-www-form-urlencoded")

    delivered = deliver(with_body(changed, json.dumps(answers_of(event))))

    assert delivered.status == 415
    assert "JSON" in delivered.json["error"]["message"]
