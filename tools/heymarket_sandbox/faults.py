"""Answers as they go on the wire, and the answer faults that mangle them (SandboxConfig.answer_fault).

What a proxy, a wrong base URL or a slow network can make of Heymarket's answers; none of it is documented
Heymarket behaviour, and a client must treat every one as "not confirmed":

- non_json, empty, truncated, other_shape, non_object_items: 200, AFTER the request took effect (the write is
  stored, only its answer is mangled). Only successful answers are mangled; errors pass through.
- redirect (SandboxConfig.redirect_status, with a Location) and not_found (404 with an HTML page): the request
  never reached Heymarket, nothing is done.
- trickle: the documented answer, its body sent a few bytes at a time over SandboxConfig.trickle_seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any, Final

from heymarket_sandbox.config import SandboxConfig
from heymarket_sandbox.protocol import Reply

BEFORE_REQUEST: Final = frozenset({"redirect", "not_found"})
AFTER_REQUEST: Final = frozenset({"non_json", "empty", "truncated", "other_shape", "non_object_items", "trickle"})
TRICKLE_STEP_SECONDS: Final = 0.25

PROXY_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Service notice</title></head>"
    b"<body><h1>We'll be right back</h1><p>This service is temporarily unavailable.</p></body></html>\n"
)
NOT_FOUND_PAGE: Final = (
    b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
_HTML: Final = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Answer:
    """An answer ready for the wire."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    trickle_seconds: float = 0.0  # > 0: the body goes out a few bytes at a time over this long

    def chunks(self) -> list[bytes]:
        """The body in the pieces to send, one every TRICKLE_STEP_SECONDS (one piece when not trickled)."""
        if self.trickle_seconds <= 0 or len(self.body) <= 1:
            return [self.body]
        steps = max(1, min(len(self.body), round(self.trickle_seconds / TRICKLE_STEP_SECONDS)))
        size = -(-len(self.body) // steps)  # ceiling division
        return [self.body[start : start + size] for start in range(0, len(self.body), size)]


def encode(reply: Reply) -> Answer:
    return Answer(reply.status, json.dumps(reply.payload, separators=(",", ":")).encode(), headers=reply.headers)


def before_request(fault: str, config: SandboxConfig, location: str) -> Answer | None:
    """The answer of a fault that keeps the request from reaching Heymarket (None for other faults)."""
    if fault == "redirect":
        page = b"<html><body><h1>Moved</h1></body></html>\n"
        return Answer(config.redirect_status, page, _HTML, (("Location", location),))
    if fault == "not_found":
        return Answer(HTTPStatus.NOT_FOUND, NOT_FOUND_PAGE, _HTML)
    return None


def after_request(fault: str, config: SandboxConfig, reply: Reply) -> Answer:
    """The answer to send for a request that took effect; only a 2xx is mangled."""
    answer = encode(reply)
    if fault not in AFTER_REQUEST or not 200 <= reply.status < 300:
        return answer
    if fault == "trickle":
        return replace(answer, trickle_seconds=config.trickle_seconds)
    if fault == "non_json":
        return Answer(HTTPStatus.OK, PROXY_PAGE, _HTML)
    if fault == "empty":
        return Answer(HTTPStatus.OK, b"")
    if fault == "truncated":
        return Answer(HTTPStatus.OK, answer.body[: max(1, len(answer.body) // 2)])
    if fault == "other_shape":
        return encode(Reply(HTTPStatus.OK, other_shape(reply.payload)))
    return encode(Reply(HTTPStatus.OK, non_object_items(reply.payload)))


def other_shape(payload: object) -> object:
    """JSON of another shape: an object where an array is documented, and vice versa."""
    if isinstance(payload, list):
        return {"data": payload}
    if isinstance(payload, str):
        return {"status": payload}
    return [payload]


def non_object_items(payload: object) -> object:
    """The documented container, its items strings instead of objects: `{"contacts": ["98765"],
    "failed_contacts": ["oops"]}`, `["98765"]`. An empty array gains one such item; an object without
    arrays has its values as strings; a bare string ("ok") comes in an array."""
    if isinstance(payload, list):
        return _as_strings(payload)
    if isinstance(payload, dict):
        if any(isinstance(value, list) for value in payload.values()):
            return {key: _as_strings(value) if isinstance(value, list) else value for key, value in payload.items()}
        return {key: str(value) for key, value in payload.items()}
    return [payload]


def _as_strings(items: list[Any]) -> list[str]:
    if not items:
        return ["oops"]
    return [str(item.get("id", "oops")) if isinstance(item, dict) else str(item) for item in items]
