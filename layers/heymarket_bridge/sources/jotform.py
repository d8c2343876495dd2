"""Jotform: a form's webhook integration, posted as multipart/form-data (or urlencoded).

Authenticity: Jotform cannot sign or set headers, so the webhook URL carries the source's secret: `?token=<secret>`.
Payload: the answers are the `rawRequest` field, a JSON string keyed "q<number>_<field name>" (e.g.
"q4_phoneNumber": {"full": "(510) 555-0123"}, "q3_fullName": {"first": "Grace", "last": "Hopper"},
"q5_email": "grace@example.com").
Defaults: phone = the first field named like phone, mobile or cell (a Phone widget gives its "full" number, or
area code + number); email = the first field named like email; first/last = the first Full Name widget.
Mapping references (SOURCE_MAPPINGS): a field name ("phoneNumber") or whole key ("q4_phoneNumber"), with a dotted
path into a widget's parts after it ("fullName.first"); a widget without a path gives its whole value as text.

    {"jotform": {"phone": "mobileNumber", "name": "yourName", "custom": {"101": "howDid"}}}

Delivery id: the submissionID Jotform posts with the answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from heymarket_bridge.mapping import SourceMapping, Submission, dotted
from heymarket_bridge.sources.common import SourceDefaults, body_sha256, no_phone
from heymarket_bridge.sources.generic import FORM_TYPE, token_matches
from heymarket_bridge.webhook import BadRequest, UnsupportedMediaType, WebhookRequest

MULTIPART_TYPE = "multipart/form-data"
KEY = re.compile(r"^q\d+_(.+)$")
PHONE_NAME = re.compile(r"phone|mobile|cell", re.IGNORECASE)
EMAIL_NAME = re.compile(r"e-?mail", re.IGNORECASE)


class JotformSource(SourceDefaults):
    name = "jotform"

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        return token_matches(request, secret)

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        answers = _answers(form_fields(request))
        contact = mapping.apply(_defaults(answers), lambda ref: _lookup(answers, ref))
        if contact.get("phone") is None:
            return [no_phone("the Jotform submission", mapping, "no field named like phone, mobile or cell")]
        return [contact]

    def delivery_id(self, request: WebhookRequest) -> str:
        try:
            submission_id = form_fields(request).get("submissionID")
        except (BadRequest, UnsupportedMediaType):
            submission_id = None
        return submission_id or body_sha256(request.body)


def form_fields(request: WebhookRequest) -> dict[str, str]:
    """The posted form's text fields (file uploads are skipped)."""
    if not request.body.strip():
        raise BadRequest("the request body is empty")
    if request.content_type == FORM_TYPE:
        try:
            return dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError as exc:
            raise BadRequest("the request body is not UTF-8") from exc
    if request.content_type == MULTIPART_TYPE:
        return _multipart_fields(request.headers.get("content-type", ""), request.body)
    raise UnsupportedMediaType(
        f"content type {request.content_type!r} is not supported: Jotform posts {MULTIPART_TYPE} or {FORM_TYPE}"
    )


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("utf-8", "replace")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart() or message.defects:
        raise BadRequest("the multipart/form-data body cannot be read (missing or wrong boundary?)")
    fields: dict[str, str] = {}
    for part in message.get_payload():
        if not isinstance(part, Message):
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or part.get_param("filename", header="content-disposition"):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        try:
            fields[name] = payload.decode(part.get_content_charset() or "utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            raise BadRequest(f"form field {name[:40]!r} is not UTF-8") from exc
    return fields


def _answers(fields: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    """(key, field name, value) of each answer in rawRequest, in form order."""
    raw = fields.get("rawRequest")
    if raw is None:
        raise BadRequest('the Jotform post has no "rawRequest" field')
    try:
        answers = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest('"rawRequest" is not valid JSON') from exc
    if not isinstance(answers, dict):
        raise BadRequest('"rawRequest" is not a JSON object')
    out: list[tuple[str, str, Any]] = []
    for key, value in answers.items():
        match = KEY.match(str(key))
        if match:
            out.append((str(key), match.group(1), value))
    return out


def _text(value: Any) -> Any:
    """A widget's value as one piece of text: a phone's full number, a name's parts, a list's items."""
    if isinstance(value, dict):
        if value.get("full"):
            return value["full"]
        if value.get("area") or value.get("phone"):
            return " ".join(str(value[k]) for k in ("area", "phone") if value.get(k))
        parts = [str(value[k]) for k in ("prefix", "first", "middle", "last", "suffix") if value.get(k)]
        return " ".join(parts) if parts else None
    if isinstance(value, list):
        return ", ".join(str(item) for item in value if item not in (None, "")) or None
    return value


def _defaults(answers: list[tuple[str, str, Any]]) -> dict[str, Any]:
    phone = next((_text(v) for _, name, v in answers if PHONE_NAME.search(name) and _text(v)), None)
    email = next((v for _, name, v in answers if EMAIL_NAME.search(name) and isinstance(v, str) and v.strip()), None)
    full_name = next(
        (v for _, _, v in answers if isinstance(v, dict) and (v.get("first") or v.get("last"))),
        {},
    )
    return {"phone": phone, "email": email, "first": full_name.get("first"), "last": full_name.get("last")}


def _lookup(answers: list[tuple[str, str, Any]], ref: str) -> Any:
    head, _, path = ref.partition(".")
    for key, name, value in answers:
        if ref in (key, name):
            return _text(value)
        if path and head in (key, name):
            return dotted(value, path)
    return None
