"""A megabyte in any one place of a delivery costs about as much as a megabyte of JSON, and is answered clearly.

Every sample in events/ (each source, the delete route) is sent with one of its parts replaced by a 1 MB value (just
under the 1 MiB a body may be, so that it reaches the parsers): each field value, a new key in each JSON object, each
form field and multipart part, each XML text, each header, the query string and the source in the path. The values
are the shapes the masking and normalising steps search (no "@" at all, "a@a@...", "1 1 1 ..."), which made the
email-masking pattern quadratic (100 KB cost 15 s). Each answer must be an acceptance or a refusal of the sender's
own (never a 5xx), must not echo the megabyte, must come well within the function's timeout, and what is queued must
be valid (the checking queue of test_ingest_fuzz). `make bench` reports the CPU these requests cost next to a normal
delivery (benchmarks/cpu.py).
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from heymarket_bridge_tools.signing import event_body
from tests.integration.test_ingest_fuzz import (
    ANSWER_WITHIN_S,
    SAMPLES,
    SENDER_STATUSES,
    CheckingQueue,
    queue,
    signed,
    with_body,
)
from tests.support import FakeLambdaContext

__all__ = ["queue"]  # the fixture, used by name

MEGABYTE = 1_000_000
# The shapes each masking and normalising step searches: no separator at all, emails everywhere, a digit run.
BIG_VALUES = ("x" * MEGABYTE, "a@" * (MEGABYTE // 2), "1 " * (MEGABYTE // 2))
# An answer names the problem in a sentence; it never carries the sender's megabyte back.
MAX_ANSWER_CHARACTERS = 20_000


def big_value(n: int) -> str:
    return BIG_VALUES[n % len(BIG_VALUES)]


def json_paths(payload: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every value at any depth, and of a new key (NEW_KEY) in every object."""
    if isinstance(payload, dict):
        yield (*path, NEW_KEY)
        for key, value in payload.items():
            yield from json_paths(value, (*path, key))
    elif isinstance(payload, list):
        for index, value in enumerate(payload):
            yield from json_paths(value, (*path, index))
    else:
        yield path


NEW_KEY = object()


def with_megabyte(payload: Any, path: tuple[Any, ...], big: str) -> Any:
    """`payload` with the value at `path` replaced by `big` (at NEW_KEY: a key of `big` added)."""
    if not path:
        return big
    head, rest = path[0], path[1:]
    if head is NEW_KEY:
        return {**payload, big: "v"}
    if isinstance(payload, dict):
        return {**payload, head: with_megabyte(payload[head], rest, big)}
    return [*payload[:head], with_megabyte(payload[head], rest, big), *payload[head + 1 :]]


def json_bodies(payload: Any) -> Iterator[tuple[str, bytes]]:
    for n, path in enumerate(json_paths(payload)):
        where = "/".join("(new key)" if part is NEW_KEY else str(part) for part in path)
        yield where, json.dumps(with_megabyte(payload, path, big_value(n))).encode()


def form_bodies(body: bytes) -> Iterator[tuple[str, bytes]]:
    pairs = parse_qsl(body.decode(), keep_blank_values=True)
    yield "new field", urlencode([*pairs, ("f" + "x" * MEGABYTE, "v")]).encode()
    for index, (name, _) in enumerate(pairs):
        changed = [(k, big_value(index) if i == index else v) for i, (k, v) in enumerate(pairs)]
        yield f"field {name}", urlencode(changed).encode()


PART = re.compile(rb'(name="([^"]*)"\r\n(?:[^\r\n]+\r\n)*\r\n)(.*?)(\r\n--)', re.DOTALL)


def multipart_bodies(body: bytes) -> Iterator[tuple[str, bytes]]:
    """Each part's value replaced (a JSON part: each of its values); the part's name made a megabyte."""
    for index, part in enumerate(PART.finditer(body)):
        name, value = part.group(2).decode(), part.group(3)
        head, tail = body[: part.start(3)], body[part.end(3) :]
        try:
            document = json.loads(value) if value.strip() else None
        except ValueError:
            document = None
        if isinstance(document, dict):
            for where, changed in json_bodies(document):
                yield f"part {name} {where}", head + changed + tail
        yield f"part {name}", head + big_value(index).encode() + tail
        yield f"part {name} name", body[: part.start(2)] + b"n" * MEGABYTE + body[part.end(2) :]


XML_TEXT = re.compile(rb">([^<>]*[^<>\s][^<>]*)<")


def xml_bodies(body: bytes) -> Iterator[tuple[str, bytes]]:
    for index, text in enumerate(XML_TEXT.finditer(body)):
        yield f"text {text.group(1)[:20]!r}", body[: text.start(1)] + big_value(index).encode() + body[text.end(1) :]


def body_variants(event: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    body = event_body(event)
    content_type = event["headers"].get("content-type", "")
    if "json" in content_type:
        yield from json_bodies(json.loads(body))
    elif "x-www-form-urlencoded" in content_type:
        yield from form_bodies(body)
    elif "multipart" in content_type:
        yield from multipart_bodies(body)
    elif "xml" in content_type:
        yield from xml_bodies(body)
    else:
        raise AssertionError(f"no variants for {content_type}")


HEADERS = ("content-type", "authorization", "x-bridge-token", "idempotency-key", "host", "user-agent")


def envelope_variants(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each header (the sample's own and the ones the bridge reads) a megabyte, then the query and the path."""
    fresh = signed(event)
    for index, name in enumerate(sorted({*fresh["headers"], *HEADERS})):
        yield f"header {name}", {**fresh, "headers": {**fresh["headers"], name: big_value(index)}}
    query = fresh.get("rawQueryString") or ""
    yield "query", {**fresh, "rawQueryString": f"{query}&q={big_value(0)}".lstrip("&")}
    yield "path", {**fresh, "pathParameters": {**(fresh.get("pathParameters") or {}), "source": big_value(1)}}


def cases() -> Iterator[Any]:
    for name, event in sorted(SAMPLES.items()):
        for where, body in body_variants(event):
            yield pytest.param(name, where, body, id=f"{name} body {where}"[:150])


def envelope_cases() -> Iterator[Any]:
    for name, event in sorted(SAMPLES.items()):
        for where, _ in envelope_variants(event):
            yield pytest.param(name, where, id=f"{name} {where}")


def assert_clear_answer(queue: CheckingQueue, event: dict[str, Any]) -> None:
    """Accepted, or refused for a reason of the sender's own, in a short answer, quickly; only valid operations
    queued (the checking queue fails the test otherwise), and none for a refusal."""
    before = len(queue.sent)
    # CPU time of this process, not wall time: the other test workers on the same cores must not make it flake (a
    # quadratic step on a megabyte costs minutes of CPU, far past the bound either way).
    started = time.process_time()
    response = queue.handler(event, FakeLambdaContext(10, "IngestFunction"))
    assert time.process_time() - started < ANSWER_WITHIN_S, "answered too slowly"
    status, body = response["statusCode"], response["body"]
    assert status in SENDER_STATUSES, (status, body[:500])
    assert len(body) < MAX_ANSWER_CHARACTERS, f"the answer is {len(body)} characters long"
    if status >= 400:
        assert body.strip(), "a refusal names its problem"
        assert queue.sent[before:] == [], f"a {status} answer queued operations"


@pytest.mark.parametrize(("sample", "where", "body"), list(cases()))
def test_a_megabyte_in_any_part_of_a_body_is_answered_clearly_and_quickly(
    queue: CheckingQueue, sample: str, where: str, body: bytes
) -> None:
    # Given a sample delivery with one of its values, keys, fields or texts replaced by a megabyte
    event = signed(with_body(copy.deepcopy(SAMPLES[sample]), body))
    # When it is delivered, then it is accepted or refused for a reason of its own, quickly, without the megabyte
    assert_clear_answer(queue, event)


@pytest.mark.parametrize(("sample", "where"), list(envelope_cases()))
def test_a_megabyte_in_a_header_the_query_or_the_path_is_answered_clearly_and_quickly(
    queue: CheckingQueue, sample: str, where: str
) -> None:
    # Given a signed sample delivery with one header, its query string or its source path made a megabyte
    [event] = [changed for name, changed in envelope_variants(SAMPLES[sample]) if name == where]
    # When it is delivered, then it is accepted or refused for a reason of its own, quickly, without the megabyte
    assert_clear_answer(queue, event)
