"""The sample webhooks `heymarket-bridge send` posts and `samples` prints: each source's sample event in events/.

A source's sample is its event in events/<source>/ (its source's `sample_event` where it has several), read from
the checkout or from the copy a built package carries (heymarket_local.project_files): the same file the tests, the
demo and `sam local invoke -e` use. `send SOURCE` posts one, like `stripe trigger`: the body as the product sends
it, the content type it uses, its authentication made for the target stack (signing.py's `sign` and `with_token`),
and, for Salesforce, whose messages authenticate by naming their org, the stack's org id put in the body. Your own
body (`--file`) is sent as it is, except that an API Gateway event (the files in events/) is unwrapped to the body it
carries and, for a source whose sample is a multipart form (Jotform), a JSON object of form fields is encoded as
that form.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import datetime
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError

MULTIPART: Final = "multipart/form-data"
_ORGANIZATION_ID: Final = re.compile(rb"(<(?:\w+:)?OrganizationId>)([^<]*)(</(?:\w+:)?OrganizationId>)")


@dataclass(frozen=True)
class Sample:
    """A source's sample event (an API Gateway HTTP API event of POST /webhooks/<source>)."""

    source: str
    path: Path  # events/<source>/<name>.json
    event: dict[str, Any]

    def body(self) -> bytes:
        raw = self.event.get("body") or ""
        return base64.b64decode(raw) if self.event.get("isBase64Encoded") else str(raw).encode("utf-8")

    @property
    def content_type(self) -> str:
        headers = {str(k).lower(): str(v) for k, v in (self.event.get("headers") or {}).items()}
        return headers.get("content-type") or "application/json"

    @property
    def description(self) -> str:
        """The first line of the source module's docstring: what the sender is and what it posts."""
        from heymarket_bridge_tools.signing import sender

        doc = sys.modules[type(sender(self.source)).__module__].__doc__ or self.source
        return doc.strip().splitlines()[0]

    def text(self) -> bytes:
        """The body to edit and post with `send --file`: JSON indented, a multipart form as a JSON object of its
        fields (what `send --file` encodes back into the form), anything else as it is."""
        body = self.body()
        if self.content_type.startswith(MULTIPART):
            return (json.dumps(_form_fields(body, self.content_type), indent=2, ensure_ascii=False) + "\n").encode()
        try:
            return (json.dumps(json.loads(body), indent=2, ensure_ascii=False) + "\n").encode()
        except ValueError:
            return body


def events_folder() -> Path:
    """events/ of the checkout, or of the copy a built package carries; CliError when there is none."""
    from heymarket_local.project_files import find_project

    project = find_project()
    if project is None or not (project / "events").is_dir():
        raise CliError("no events/ folder with the sample webhooks: run from a checkout or a built package")
    return project / "events"


def sample_of(source: str) -> Sample:
    """`source`'s sample event: its only webhook event in events/<source>/, or the one its `sample_event` names."""
    from heymarket_bridge_tools.signing import sender

    chosen = sender(source).sample_event
    found = [
        Sample(source, path, event)
        for path in sorted((events_folder() / source).glob("*.json"))
        if (event := _api_gateway_event(path.read_bytes())) is not None
        and str(event.get("rawPath") or "") == f"/webhooks/{source}"
        and path.stem == (chosen or path.stem)
    ]
    if not found:
        raise CliError(
            f"events/{source}/ holds no sample webhook of {source!r}" + (f" named {chosen!r}" * bool(chosen))
        )
    return found[0]


@dataclass(frozen=True)
class Payload:
    """A body to post and its content type; `note` says what was done to a file to get it."""

    body: bytes
    content_type: str
    note: str = ""


def sample_payload(source: str) -> Payload:
    """The sample of `source` (events/<source>/), its body as its sender posts it."""
    sample = sample_of(source)
    return Payload(sample.body(), sample.content_type)


def file_payload(source: str, data: bytes, name: str, content_type: str | None) -> Payload:
    """Your own body for `source`: as it is, unless it is an API Gateway event, or form fields as a JSON object for a
    source whose sample is a multipart form (Jotform).

    An API Gateway event of another route than /webhooks/SOURCE (the bulk delete's, /contacts/delete) is refused:
    its body means something else there.
    """
    event = _api_gateway_event(data)
    if event is not None:
        return _event_payload(event, source, name, content_type)
    sample_type = sample_of(source).content_type
    if sample_type.startswith(MULTIPART) and content_type is None and data.lstrip().startswith(b"{"):
        return _form_payload(data, name)
    return Payload(data, content_type or sample_type)


def _event_payload(event: dict[str, Any], source: str, name: str, content_type: str | None) -> Payload:
    """The body an API Gateway event of /webhooks/SOURCE carries; CliError for another source or route."""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    _check_route(event, source, name)
    return Payload(
        raw,
        content_type or headers.get("content-type") or sample_of(source).content_type,
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
    from heymarket_bridge_tools.signing import fresh_times, sender, sign, with_token

    if sender(source).token_in == "query":
        # As Jotform and Salesforce send it: the token in the endpoint URL. A Salesforce message also names its org.
        note = ""
        if org_id:
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


def _form_fields(body: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a multipart/form-data body, in order (a field sent twice keeps its last value)."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode(part.get_content_charset() or "utf-8")
    return fields


def _form_payload(data: bytes, name: str) -> Payload:
    try:
        fields = json.loads(data)
    except ValueError as error:
        raise CliError(f"{name}: not JSON form fields ({error}); pass --content-type to send it as it is") from None
    if not isinstance(fields, dict):
        raise CliError(f"{name}: form fields must be a JSON object of field names and values", EXIT_USAGE)
    boundary = "------------------------" + secrets.token_hex(8)
    parts = []
    for field_name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value)
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field_name}"\r\n\r\n{text}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return Payload(body, f"{MULTIPART}; boundary={boundary}", f"{name}: JSON form fields, posted as a multipart form")
