"""Sample webhook bodies bundled with the command (samples/), and the request each becomes for a given stack.

`heymarket-bridge send SOURCE` posts one, like `stripe trigger`: the body as the product sends it, the content type
it uses, its authentication made for the target stack (signing.py's `sign` and `with_token`), and, for Salesforce,
whose messages authenticate by naming their org, the stack's org id put in the body. Your own body (`--file`) is
sent as it is, except that an API Gateway event (the files in events/) is unwrapped to the body it carries and a
Jotform body given as a JSON object of form fields is encoded as the multipart form Jotform posts.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError


@dataclass(frozen=True)
class Sample:
    source: str
    file: str  # under samples/
    content_type: str
    description: str

    def body(self) -> bytes:
        return resources.files("heymarket_bridge_tools").joinpath("samples", self.file).read_bytes()


SAMPLES: Final = {
    sample.source: sample
    for sample in (
        Sample("generic", "generic.json", "application/json", "one contact as Zapier, Make or your code would post it"),
        Sample("typeform", "typeform.json", "application/json", "a form_response with phone, name and email answers"),
        Sample("hubspot", "hubspot.json", "application/json", "a workflow webhook with a contact's properties"),
        Sample("calendly", "calendly.json", "application/json", "an invitee.created event with a text reminder number"),
        Sample("shopify", "shopify.json", "application/json", "a customers/create webhook"),
        Sample("jotform", "jotform.json", "multipart/form-data", "a form submission, posted as a multipart form"),
        Sample("salesforce", "salesforce.xml", "text/xml; charset=utf-8", "an Outbound Message (SOAP) for a Contact"),
    )
}
_ORGANIZATION_ID: Final = re.compile(rb"(<(?:\w+:)?OrganizationId>)([^<]*)(</(?:\w+:)?OrganizationId>)")


@dataclass(frozen=True)
class Payload:
    """A body to post and its content type; `note` says what was done to a file to get it."""

    body: bytes
    content_type: str
    note: str = ""


def sample_payload(source: str) -> Payload:
    """The bundled sample of `source`, encoded as its sender posts it."""
    sample = SAMPLES[source]
    payload = Payload(sample.body(), sample.content_type)
    if source == "jotform":
        return _jotform_form(payload.body, "the bundled sample")
    return payload


def file_payload(source: str, data: bytes, name: str, content_type: str | None) -> Payload:
    """Your own body for `source`: as it is, unless it is an API Gateway event or Jotform form fields as JSON.

    An API Gateway event of another route than /webhooks/SOURCE (the bulk delete's, /contacts/delete) is refused:
    its body means something else there.
    """
    event = _api_gateway_event(data)
    if event is not None:
        return _event_payload(event, source, name, content_type)
    if source == "jotform" and content_type is None and data.lstrip().startswith(b"{"):
        return _jotform_form(data, name)
    return Payload(data, content_type or SAMPLES[source].content_type)


def _event_payload(event: dict[str, Any], source: str, name: str, content_type: str | None) -> Payload:
    """The body an API Gateway event of /webhooks/SOURCE carries; CliError for another source or route."""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    _check_route(event, source, name)
    return Payload(
        raw,
        content_type or headers.get("content-type") or SAMPLES[source].content_type,
        f"{name} is an API Gateway event (as in events/): sending the body it carries",
    )


def _check_route(event: dict[str, Any], source: str, name: str) -> None:
    """CliError unless the event is a webhook of `source` (/webhooks/SOURCE, or recorded without a route)."""
    recorded = str((event.get("pathParameters") or {}).get("source", ""))
    if recorded and recorded != source:
        raise CliError(f"{name} is an API Gateway event of source {recorded!r}, not {source!r}", EXIT_USAGE)
    path = str(event.get("rawPath") or "")
    if not recorded and not path.startswith("/webhooks/"):
        method = str((event["requestContext"].get("http") or {}).get("method") or "POST")
        raise CliError(
            f"{name} is an API Gateway event of {method} {path or 'another route'}, not of a webhook "
            f"(/webhooks/{source}): `send` posts webhooks only. A bulk delete goes to the stack's "
            "DeleteContactsUrl with its 'deletes' token (README, \"Deleting contacts\")",
            EXIT_USAGE,
        )


def with_org_id(body: bytes, org_id: str) -> bytes:
    """A Salesforce Outbound Message naming `org_id` as its organization (how Salesforce messages authenticate)."""
    return _ORGANIZATION_ID.sub(lambda match: match.group(1) + org_id.encode() + match.group(3), body, count=1)


def org_id_of(body: bytes) -> str | None:
    """The organization a Salesforce Outbound Message names (its first OrganizationId), or None."""
    match = _ORGANIZATION_ID.search(body)
    return match.group(2).decode("utf-8", "replace").strip() if match else None


def signature_url(url: str, source: str, public_base_url: str = "") -> str:
    """The URL a signature over the request to `url` must cover: the one the bridge rebuilds, https://<host><path>
    as API Gateway serves it, or, on a stack with PublicBaseUrl (a custom domain with an API mapping path), that URL
    followed by /webhooks/<source> (heymarket_bridge.ingest.sources.hubspot.request_uri)."""
    parts = urlsplit(url)
    if public_base_url:
        return public_base_url.rstrip("/") + f"/webhooks/{source}" + (f"?{parts.query}" if parts.query else "")
    return urlunsplit(("https", parts.netloc, parts.path, parts.query, ""))


def authenticate(
    source: str,
    url: str,
    body: bytes,
    secret: str,
    *,
    now: datetime,
    org_id: str | None = None,
    public_base_url: str = "",
) -> tuple[str, bytes, dict[str, str], str]:
    """(url, body, headers, note) that authenticate `body` for `source` with the stack's `secret`.

    `org_id` is the organization a Salesforce message must name on this stack: the body is made to name it (the
    note then says what it named before). `public_base_url` is the stack's PublicBaseUrl, which a HubSpot signature
    covers instead of the URL posted to. A Shopify or Typeform body gets its delivery times moved to `now`, as the
    sender's delivery would carry them (the bridge refuses a signed body outside its window).
    """
    from heymarket_bridge_tools.signing import URL_TOKEN_SOURCES, fresh_times, sign, with_token

    if source in URL_TOKEN_SOURCES:
        # As Jotform and Salesforce send it: the token in the endpoint URL. A Salesforce message also names its org.
        note = ""
        if source == "salesforce" and org_id:
            named = org_id_of(body)
            if named is None:
                note = f"the message names no OrganizationId; this stack accepts organization {org_id} only"
            elif named != org_id:
                body = with_org_id(body, org_id)
                note = f"the message named organization {named}: sent naming this stack's, {org_id}"
        return with_token(url, secret), body, {}, note
    body = fresh_times(source, body, now)
    signed = signature_url(url, source, public_base_url)
    return url, body, sign(source, body, secret, method="POST", url=signed, now=now), ""


def _api_gateway_event(data: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("version") == "2.0" and isinstance(event.get("requestContext"), dict):
        return event
    return None


def _jotform_form(data: bytes, name: str) -> Payload:
    try:
        fields = json.loads(data)
    except ValueError as error:
        raise CliError(f"{name}: not JSON form fields ({error}); pass --content-type to send it as it is") from None
    if not isinstance(fields, dict):
        raise CliError(f"{name}: Jotform form fields must be a JSON object of field names and values", EXIT_USAGE)
    boundary = "------------------------" + secrets.token_hex(8)
    parts = []
    for field_name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"\r\n\r\n{text}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    note = "" if name == "the bundled sample" else f"{name}: JSON form fields, posted as multipart like Jotform does"
    return Payload(body, f"multipart/form-data; boundary={boundary}", note)
