"""Jotform: a form's webhook integration, posted as multipart/form-data (or urlencoded).

Authenticity: Jotform cannot sign or set headers, so the webhook URL carries the source's secret: `?token=<secret>`.
Payload (Jotform's "How to send submissions to your own server" guide): the form fields `formID`, `submissionID`,
`rawRequest` and others; `rawRequest` is a JSON string of the answers keyed "q<number>_<field name>" (e.g.
"q4_phoneNumber": {"full": "(510) 555-0123"}, "q3_fullName": {"first": "Grace", "last": "Hopper"},
"q5_email": "grace@example.com"). Multipart bodies are read by the `multipart` package's push parser, with limits
on the parts, their headers and their sizes, so a hostile body is refused quickly
(heymarket_bridge.ingest.sources.common
for the charsets: a part's own, the form's `_charset_`, the Content-Type's, else UTF-8).
Defaults: phone = the first answer that parses as a phone, Phone widgets first (an answer with "full", or "area"
and "phone", read in the country of its Country Code sub-field `country`, else of an Address widget's `country`),
then fields named like phone, mobile or cell; email = the first field named like email; first/last = the first
Full Name widget. A field whose name or label (from the `pretty` field Jotform posts) is about someone else (an
emergency contact, a parent: heymarket_bridge.ingest.sources.common.about_someone_else) is never used for the
respondent.
Mapping references (SOURCE_MAPPINGS): a field name ("phoneNumber") or whole key ("q4_phoneNumber"), with a dotted
path into a widget's parts after it ("fullName.first"); a widget without a path gives its whole value as text.

    {"jotform": {"phone": "mobileNumber", "name": "yourName", "custom": {"101": "howDid"}}}

Cold start: `multipart` (one pure-Python module, no dependencies) adds about 2 ms to the function's init on an idle
core (smallest of 5 runs of the import after the rest of the ingest side; up to 17 ms on a loaded machine).
Delivery identity: the submissionID Jotform posts with the answers (an edited submission keeps it: the body's
digest tells the edit from a retry).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import multipart

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.fields import single
from heymarket_bridge.domain.mapping import dotted
from heymarket_bridge.domain.phone_owner import about_someone_else, asks_for_phone, country_answers
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import (
    FORM_TYPE,
    MAX_FORM_FIELDS,
    MULTIPART_TYPE,
    decode_text,
    form_pairs,
    looks_like_json,
    parse_json_text,
)
from heymarket_bridge.ingest.failures import BadRequest, PayloadTooLarge, UnsupportedMediaType
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneChoice,
    PhoneField,
    ReadContext,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.sources.generic import require_token

KEY = re.compile(r"^q\d+_(.+)$")
PHONE_NAME = re.compile(r"phone|mobile|cell", re.IGNORECASE)
EMAIL_NAME = re.compile(r"e-?mail", re.IGNORECASE)
# A part's header lines: Content-Disposition, Content-Type, a transfer encoding at most (RFC 7578 allows 3).
MAX_PART_HEADERS = 8
MAX_PART_HEADER_BYTES = 4096


class JotformSource(SourceDefaults):
    name = "jotform"
    credentials = (
        CredentialEntry("jotform", "bridge", "a token put in the webhook URL (?token=), Jotform cannot sign"),
    )
    # Jotform's webhook settings take a URL only: the token rides in it.
    token_in = "query"

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        require_token(request, context.credentials.secret, self.name)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        fields = form_fields(request)
        answers = _answers(fields)
        labels = _labels(fields.get("pretty"), answers)
        mapping = context.mapping
        contact = mapping.apply(
            _defaults(answers, context, labels),
            lambda ref: _lookup(answers, ref),
            context.is_phone,
            lambda ref: _widget_evidence(answers, ref),
        )
        delivery_identity = identity(fields.get("submissionID") or None, request.body)
        if contact.get("phone") is None:
            candidates = [v for _, name, v in answers if _is_phone_widget(v) or PHONE_NAME.search(name)]
            choice = _choice(answers, context, labels)
            reason = phone_reason(candidates, "no field named like phone, mobile or cell", "the phone field", choice)
            return Delivery([no_phone("the Jotform submission", mapping, reason, contact)], delivery_identity)
        return Delivery([contact], delivery_identity, event_ids=(fields.get("submissionID") or None,))


def form_fields(request: WebhookRequest) -> dict[str, str]:
    """The posted form's text fields (file uploads are skipped); a field sent twice keeps its last value."""
    if not request.body.strip():
        raise BadRequest("the request body is empty")
    if request.content_type == FORM_TYPE:
        return dict(form_pairs(request))
    if request.content_type == MULTIPART_TYPE:
        return dict(multipart_pairs(request))
    if looks_like_json(request.body):
        raise UnsupportedMediaType(
            f"the body is JSON, but Jotform posts {MULTIPART_TYPE} or {FORM_TYPE}: point the JSON sender at "
            "/webhooks/generic"
        )
    raise UnsupportedMediaType(
        f"content type {shown(request.content_type)} is not supported: Jotform posts {MULTIPART_TYPE} or {FORM_TYPE}"
    )


def multipart_pairs(request: WebhookRequest, max_parts: int = MAX_FORM_FIELDS) -> list[tuple[str, str]]:
    """The text fields of a multipart/form-data body, in order, each decoded in its charset."""
    _, options = multipart.parse_options_header(request.headers.get("content-type", "")[:1000])
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise BadRequest("the multipart/form-data Content-Type has no usable boundary")
    try:
        parts = _parts(request.body, boundary, max_parts)
    except multipart.ParserLimitReached as exc:
        raise PayloadTooLarge(
            f"the multipart body exceeds a limit (at most {max_parts} parts, {MAX_PART_HEADERS} headers of "
            f"{MAX_PART_HEADER_BYTES} bytes each per part)"
        ) from exc
    except multipart.MultipartError as exc:
        raise BadRequest(f"the multipart/form-data body cannot be read ({shown(str(exc), 80, quote='')})") from exc
    form_charset = next((data for seg, data in parts if seg.name == "_charset_"), b"").decode("ascii", "replace")
    default = request.charset or form_charset.strip().lower() or None
    return [
        (str(seg.name), decode_text(data, seg.charset or default, f"form field {shown(str(seg.name))}"))
        for seg, data in parts
        if seg.name and seg.name != "_charset_" and seg.filename is None
    ]


def _parts(body: bytes, boundary: str, max_parts: int) -> list[tuple[Any, bytes]]:
    """Each part of a multipart body: its segment (name, filename, charset) and its bytes. Raises the parser's
    ParserLimitReached or MultipartError."""
    parts: list[tuple[Any, bytes]] = []
    with multipart.PushMultipartParser(
        boundary,
        content_length=len(body),
        max_header_size=MAX_PART_HEADER_BYTES,
        max_header_count=MAX_PART_HEADERS,
        max_segment_count=max_parts,
    ) as parser:
        segment: Any = None
        chunks: list[bytes] = []
        for event in parser.parse(body):
            if isinstance(event, multipart.MultipartSegment):
                segment, chunks = event, []
            elif event is None:
                parts.append((segment, b"".join(chunks)))
            else:
                chunks.append(event)
    return parts


def _answers(fields: Mapping[str, str]) -> list[tuple[str, str, Any]]:
    """(key, field name, value) of each answer in rawRequest, in form order."""
    raw = fields.get("rawRequest")
    if raw is None:
        raise BadRequest('the Jotform post has no "rawRequest" field')
    answers = parse_json_text(raw, '"rawRequest"')
    if not isinstance(answers, dict):
        raise BadRequest('"rawRequest" is not a JSON object')
    out: list[tuple[str, str, Any]] = []
    for key, value in answers.items():
        match = KEY.match(str(key))
        if match:
            out.append((str(key), match.group(1), value))
    return out


def _text(value: Any) -> Any:
    """A widget's value as one piece of text: a phone's full number, a name's parts, a list's items (a one-item
    list: its item)."""
    value = single(value)
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


def _is_phone_widget(value: Any) -> bool:
    return isinstance(value, dict) and any(value.get(k) for k in ("full", "area", "phone"))


def _labels(pretty: Any, answers: list[tuple[str, str, Any]]) -> dict[str, str]:
    """Each answer's label as the form shows it, from the `pretty` field Jotform posts ("Full Name:Ana Ruiz, Phone
    Number:12, Emergency Contact Phone:(510) 555-0100"): a widget keeps the unique name it was given when added
    (a second Phone widget is `phoneNumber5`) however it is relabelled, so whose number it is may be said only in
    its label. An answer is matched by its value as text; one whose value is not found has no label."""
    if not isinstance(pretty, str) or not pretty:
        return {}
    labels: dict[str, str] = {}
    for key, _, value in answers:
        text = _text(value)
        if not isinstance(text, str) or not text.strip() or len(text) > 500:
            continue
        match = re.search(r"(?:^|,\s)([^:,]{1,200}):\s?" + re.escape(text) + r"(?=,\s|$)", pretty)
        if match:
            labels[key] = match.group(1).strip()
    return labels


def _named(key: str, labels: Mapping[str, str]) -> str:
    """The answer as a refusal names it and `about_someone_else` reads it: its key, and its label when known."""
    return f"{key} ({labels[key]})" if labels.get(key) else key


def _choice(
    answers: list[tuple[str, str, Any]], context: ReadContext, labels: Mapping[str, str] | None = None
) -> PhoneChoice:
    """Phone widgets first (each with its Country Code sub-field, about that number), then fields named like phone;
    a phone written without its country code is read in the country of the respondent's address widget, if any,
    else of a field named or labelled as a country. Whose number a field is is read from its name and its label."""
    labels = labels or {}
    widgets = [
        PhoneField(_named(key, labels), _text(v), _widget_country(key, v))
        for key, _, v in answers
        if _is_phone_widget(v)
    ]
    named = [
        PhoneField(_named(key, labels), _text(single(v)))
        for key, name, v in answers
        if (PHONE_NAME.search(name) or asks_for_phone(labels.get(key, ""))) and not _is_phone_widget(v)
    ]
    return choose_phone([*widgets, *named], context, _person(answers, labels))


def _person(answers: list[tuple[str, str, Any]], labels: Mapping[str, str]) -> tuple[CountryEvidence, ...]:
    """The evidence about the respondent's country: their address widgets' countries, else the answers to questions
    naming a country."""
    return tuple(
        CountryEvidence(f"{key}.country", v["country"])
        for key, _, v in answers
        if isinstance(v, dict)
        and not _is_phone_widget(v)
        and v.get("country")
        and not about_someone_else(_named(key, labels))
    ) or country_answers((_named(key, labels), v) for key, _, v in answers if not isinstance(single(v), dict | list))


def _widget_country(key: str, value: Mapping[str, Any]) -> tuple[CountryEvidence, ...]:
    """A Phone widget's Country Code sub-field ("52", "+52"), which is about the number it goes with."""
    country = value.get("country")
    return (CountryEvidence(f"{key}.country", country, of_number=True),) if country not in (None, "") else ()


def _defaults(
    answers: list[tuple[str, str, Any]], context: ReadContext, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    labels = labels or {}
    email = next(
        (
            single(v)
            for key, name, v in answers
            if EMAIL_NAME.search(name)
            and not about_someone_else(_named(key, labels))
            and isinstance(single(v), str)
            and single(v).strip()
        ),
        None,
    )
    full_name = next(
        (
            v
            for key, _, v in answers
            if isinstance(v, dict) and (v.get("first") or v.get("last")) and not about_someone_else(_named(key, labels))
        ),
        {},
    )
    return {
        **_choice(answers, context, labels).defaults(),
        "email": email,
        "first": full_name.get("first"),
        "last": full_name.get("last"),
    }


def _widget_evidence(answers: list[tuple[str, str, Any]], ref: str) -> tuple[CountryEvidence, ...]:
    """For a mapped phone reference naming a Phone widget (or one of its sub-fields), the widget's Country Code."""
    head = ref.partition(".")[0]
    for key, name, value in answers:
        if head in (key, name) or ref in (key, name):
            value = single(value)
            return _widget_country(key, value) if _is_phone_widget(value) else ()
    return ()


def _lookup(answers: list[tuple[str, str, Any]], ref: str) -> Any:
    head, _, path = ref.partition(".")
    for key, name, value in answers:
        if ref in (key, name):
            return _text(value)
        if path and head in (key, name):
            return dotted(value, path)
    return None


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = JotformSource
