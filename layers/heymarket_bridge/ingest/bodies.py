"""Reading request bodies: text in its declared charset, JSON, and form posts, every way a body can be broken
answered with a 4xx that says what is wrong, never an exception that would become a 500 (numbers of thousands of
digits, nesting deeper than the parser follows, declared charsets that do not exist or are not character sets,
byte-order marks, more form fields than any sender posts)."""

from __future__ import annotations

import codecs
import json
from typing import Any
from urllib.parse import parse_qsl

from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.failures import BadRequest, PayloadTooLarge, UnsupportedMediaType
from heymarket_bridge.ingest.http import WebhookRequest

FORM_TYPE = "application/x-www-form-urlencoded"


MULTIPART_TYPE = "multipart/form-data"


JSON_TYPES = ("application/json", "text/json", "text/plain", "")


# Digits a JSON integer may have: far beyond any id or phone, far below Python's 4,300-digit conversion limit.
MAX_JSON_INT_DIGITS = 64


# Fields a form post may have: Jotform posts under ten plus the answers; a thousand is no real form.
MAX_FORM_FIELDS = 1000


_UTF8_BOM = b"\xef\xbb\xbf"


# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


# The character sets a body or form field may declare: those of the WHATWG Encoding Standard (what browsers and
# form builders send) that Python decodes, the Unicode forms, ASCII and Latin-1. Python also registers codecs that
# are not character sets ("undefined" fails on any input, "punycode" and "idna" encode domain names,
# "unicode_escape" turns ASCII into lone surrogates, "rot13" and "base64" map bytes to bytes): none is taken.
# Written as the names codecs.lookup() gives for the labels in TEXT_CHARSET_LABELS (a unit test checks that they
# are), not looked up here: the look-ups imported some forty codec modules, about 10 ms at every cold start of the
# ingest and fetch functions, for bodies that are UTF-8 nearly always; decode_text looks up only the one declared.
TEXT_CHARSET_LABELS = (
    *("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"),
    *("us-ascii", "iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6"),
    *("iso-8859-7", "iso-8859-8", "iso-8859-10", "iso-8859-11", "iso-8859-13", "iso-8859-14", "iso-8859-15"),
    *("iso-8859-16", "ibm866", "koi8-r", "koi8-u", "macintosh", "mac-cyrillic", "cp874", "windows-1250"),
    *("windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255", "windows-1256"),
    *("windows-1257", "windows-1258", "gbk", "gb2312", "gb18030", "big5", "big5-hkscs", "euc-jp"),
    *("iso-2022-jp", "shift_jis", "cp932", "euc-kr", "tis-620"),
)


TEXT_CHARSETS = frozenset(
    {
        *("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"),
        *("ascii", "iso8859-1", "iso8859-2", "iso8859-3", "iso8859-4", "iso8859-5", "iso8859-6", "iso8859-7"),
        *("iso8859-8", "iso8859-10", "iso8859-11", "iso8859-13", "iso8859-14", "iso8859-15", "iso8859-16"),
        *("cp866", "koi8-r", "koi8-u", "mac-roman", "mac-cyrillic", "cp874", "cp1250", "cp1251", "cp1252"),
        *("cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "cp1258", "gbk", "gb2312", "gb18030", "big5"),
        *("big5hkscs", "euc_jp", "iso2022_jp", "shift_jis", "cp932", "euc_kr", "tis-620"),
    }
)


def decode_text(body: bytes, charset: str | None, what: str = "the request body") -> str:
    """Bytes as text: a byte-order mark wins, then the declared charset, then UTF-8. 4xx naming what is wrong:
    415 for a charset that is not one of TEXT_CHARSETS, 400 for bytes that are not text in the charset."""
    encoding = charset or "utf-8"
    if body.startswith(_UTF8_BOM):
        body, encoding = body[len(_UTF8_BOM) :], "utf-8"
    else:
        for bom, name in _BOMS:
            if body.startswith(bom):
                encoding = name
                break
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in TEXT_CHARSETS:
        raise UnsupportedMediaType(f"charset {shown(encoding)} is not a character set the bridge reads: send UTF-8")
    try:
        return body.decode(name)
    except UnicodeError as exc:  # UnicodeDecodeError, and the plain UnicodeError some codecs raise
        raise BadRequest(f"{what} is not valid {name} text") from exc


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _NumberTooLong(text)
    return int(text)


class _NumberTooLong(ValueError):
    pass


def parse_json(body: bytes, charset: str | None = None) -> Any:
    """Decode a JSON body, turning every way it can be broken into a 400 that says what is wrong. Bytes that are not
    text, with no charset declared (or UTF-8 declared), are "not valid UTF-8 JSON" (RFC 8259 section 8.1: JSON is
    UTF-8) whatever byte-order mark they start with."""
    if not body.strip():
        raise BadRequest("the request body is empty")
    try:
        text = decode_text(body, charset)
    except BadRequest as exc:
        if charset in (None, "utf-8", "utf8"):
            raise BadRequest("the request body is not valid UTF-8 JSON") from exc
        raise
    return parse_json_text(text)


def json_of_type(request: WebhookRequest, takes: str = "application/json") -> Any:
    """The body of a sender that posts JSON, read as parse_json does; 415 naming `takes` for a body of another media
    type: a declared type that is not JSON's (a form post, XML), or a text/plain or undeclared one that does not
    start like a JSON object or array."""
    content_type = request.content_type
    is_json_type = content_type in JSON_TYPES or content_type.endswith("+json")
    declared_json = is_json_type and content_type not in ("text/plain", "")
    if not is_json_type or (not declared_json and request.body.strip() and not _starts_like_json(request.body)):
        shown_type = shown(content_type) if content_type else "(none)"
        raise UnsupportedMediaType(f"content type {shown_type} with this body is not JSON: send {takes}")
    return parse_json(request.body, request.charset)


def form_of_type(request: WebhookRequest, max_fields: int = MAX_FORM_FIELDS) -> list[tuple[str, str]]:
    """The fields of a sender that posts forms (form_pairs); 415 naming application/x-www-form-urlencoded for a body
    of another declared media type (JSON, XML, text)."""
    if request.content_type not in (FORM_TYPE, ""):
        raise UnsupportedMediaType(f"content type {shown(request.content_type)} is not supported: send {FORM_TYPE}")
    return form_pairs(request, max_fields)


def _starts_like_json(body: bytes) -> bool:
    """Starts like a JSON object or array (what every sender posts), or with a byte-order mark of any Unicode form:
    a mark is a broken JSON body (400), not another media type."""
    return any(body.startswith(bom) for bom, _ in _BOMS) or looks_like_json(body)


def parse_json_text(text: str, what: str = "the request body") -> Any:
    """Decode JSON text (a body, or a field holding JSON), every failure a 400 naming `what` and the problem."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except _NumberTooLong as exc:
        raise BadRequest(f"{what} has a number of more than {MAX_JSON_INT_DIGITS} digits") from exc
    except RecursionError as exc:
        raise BadRequest(f"{what} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # any other conversion json refuses
        raise BadRequest(f"{what} is not valid JSON") from exc


def looks_like_json(body: bytes) -> bool:
    """A body that starts like a JSON object or array (after a byte-order mark and spaces)."""
    return body.removeprefix(_UTF8_BOM).lstrip()[:1] in (b"{", b"[")


def form_pairs(request: WebhookRequest, max_fields: int = MAX_FORM_FIELDS) -> list[tuple[str, str]]:
    """The fields of an application/x-www-form-urlencoded body, in order, decoded in the form's charset.

    The charset is the Content-Type's `charset`, else the `_charset_` field browsers add (HTML's form submission
    algorithm), else UTF-8. JSON posted as a form is refused, saying so.
    """
    body = request.body.removeprefix(_UTF8_BOM)
    if not body.strip():
        raise BadRequest("the request body is empty")
    if looks_like_json(body):
        raise UnsupportedMediaType(f"the body is JSON but was sent as {FORM_TYPE}: send it as application/json")
    try:
        # Percent-escapes decoded as Latin-1, byte for byte: the form's charset is applied to the bytes after.
        raw = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=max_fields, encoding="latin-1")
    except ValueError as exc:
        raise PayloadTooLarge(f"the form has more than {max_fields} fields") from exc
    charset = request.charset or next((v for k, v in raw if k == "_charset_" and v), None) or "utf-8"
    return [(_form_text(key, charset), _form_text(value, charset)) for key, value in raw if key != "_charset_"]


def _form_text(latin1: str, charset: str) -> str:
    """A percent-decoded form value (read as Latin-1, byte for byte) in the form's charset."""
    return decode_text(latin1.encode("latin-1"), charset, "a form field")
