"""A declared charset is read only when it is a character set: every other codec Python registers is a 415, on every
route and in every place a charset can be declared (the Content-Type, a form's `_charset_`, a multipart part)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, with_body, with_headers

# Codecs Python knows that are not character sets: "undefined" raises a plain UnicodeError on any input, "punycode"
# and "idna" encode domain names, "unicode_escape" makes lone surrogates out of ASCII, "rot13" maps text to text,
# "base64" bytes to bytes; and a name no codec has.
NOT_CHARSETS = ["punycode", "undefined", "idna", "unicode_escape", "raw_unicode_escape", "rot13", "base64", "x-nope"]
BOUNDARY = "----charset-test"


def assert_refused_naming(delivered: Any, charset: str) -> None:
    assert delivered.status == 415, delivered.reply.body
    assert delivered.json["error"]["code"] == "unsupported_media_type"
    assert charset in delivered.json["error"]["message"]
    assert delivered.queued == []


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_generic_json_body_in_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = with_headers(load_event("generic/single_contact"), content_type=f"application/json; charset={charset}")

    assert_refused_naming(deliver(with_body(event, b'{"phone": "(510) 555-0109", "first": "xn--a-b"}')), charset)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_generic_form_declaring_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = with_headers(
        load_event("generic/single_contact"), content_type=f"application/x-www-form-urlencoded; charset={charset}"
    )

    assert_refused_naming(deliver(with_body(event, b"phone=5105550109&first=Ren%E9e")), charset)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_generic_forms_charset_field_naming_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = with_headers(load_event("generic/single_contact"), content_type="application/x-www-form-urlencoded")

    assert_refused_naming(deliver(with_body(event, f"_charset_={charset}&phone=5105550109&first=Ren%E9e")), charset)


def jotform_multipart(*parts: tuple[str, str, str]) -> dict[str, Any]:
    body = b""
    for name, value, content_type in parts:
        header = f'Content-Disposition: form-data; name="{name}"\r\n'
        header += f"Content-Type: {content_type}\r\n" if content_type else ""
        body += f"--{BOUNDARY}\r\n{header}\r\n".encode() + value.encode("latin-1") + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    event = with_headers(load_event("jotform/submission"), content_type=f"multipart/form-data; boundary={BOUNDARY}")
    return with_body(event, body)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_jotform_multipart_charset_field_naming_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = jotform_multipart(("_charset_", charset, ""), ("rawRequest", '{"q4_phone": "5105550109"}', ""))

    assert_refused_naming(deliver(event), charset)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_jotform_part_in_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = jotform_multipart(("rawRequest", '{"q4_phone": "5105550109"}', f"text/plain; charset={charset}"))

    assert_refused_naming(deliver(event), charset)


@pytest.mark.parametrize("charset", NOT_CHARSETS)
def test_a_delete_request_in_a_codec_that_is_not_a_charset_is_415(charset: str) -> None:
    event = with_headers(load_event("generic/delete_contacts"), content_type=f"application/json; charset={charset}")

    assert_refused_naming(deliver(with_body(event, b'{"phones": ["+1 415 555 0132"]}')), charset)


def test_bytes_that_are_not_text_in_a_real_charset_are_400_naming_it() -> None:
    event = with_headers(load_event("generic/single_contact"), content_type="application/json; charset=shift_jis")

    delivered = deliver(with_body(event, b'{"phone": "5105550109", "first": "\x81"}'))

    assert (delivered.status, delivered.json["error"]["code"]) == (400, "bad_request")
    assert "shift_jis" in delivered.json["error"]["message"]


@pytest.mark.parametrize("charset", ["windows-1252", "ISO-8859-15", "koi8-r", "gb18030", "utf-16-le"])
def test_the_character_sets_browsers_send_are_read(charset: str) -> None:
    event = with_headers(load_event("generic/single_contact"), content_type=f"application/json; charset={charset}")

    delivered = deliver(with_body(event, '{"phone": "5105550109", "first": "Ada"}'.encode(charset)))

    assert delivered.queued == [{"phone": "15105550109", "first": "Ada"}]


def test_a_charset_name_holding_an_email_is_not_echoed_whole() -> None:
    event = with_headers(load_event("generic/single_contact"), content_type="application/x-www-form-urlencoded")

    delivered = deliver(with_body(event, "_charset_=ada.lovelace%40example.com&phone=5105550109"))

    assert delivered.status == 415
    assert "ada.lovelace" not in delivered.json["error"]["message"]
