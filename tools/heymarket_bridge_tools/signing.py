"""Sign a webhook the way each sender does, so that local posts and sample events authenticate at any time.

Written from the senders' documentation, separately from the bridge's own checks, so the tests that sign here
and verify there compare two readings of the same scheme. Pure functions, plus a command that re-signs a sample
event for "now":

    python -m heymarket_bridge_tools.signing events/hubspot/workflow_contact.json [--now 1795424400] [--write]
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from heymarket_bridge.webhook import event_source

TOKEN_SOURCES = ("generic", "jotform")
SOURCES = ("generic", "typeform", "hubspot", "calendly", "shopify", "jotform", "salesforce")
# The escapes HubSpot decodes in a URI before signing it.
HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def sign(
    source: str, body: bytes, secret: str, *, method: str = "POST", url: str = "", now: datetime
) -> dict[str, str]:
    """The headers that authenticate `body` for `source` (with the secret the bridge holds for it) at `now`.

    Token sources (generic, jotform) get the token as `X-Bridge-Token`; a real Jotform puts it in the URL as
    `?token=` instead (see `with_token`). A Salesforce Outbound Message is authenticated by the org id inside its
    body, so it needs no header.
    """
    if source in TOKEN_SOURCES:
        return {"X-Bridge-Token": secret}
    if source == "typeform":
        return {"Typeform-Signature": "sha256=" + _b64_hmac(secret, body)}
    if source == "shopify":
        return {"X-Shopify-Hmac-Sha256": _b64_hmac(secret, body)}
    if source == "hubspot":
        timestamp = str(int(now.timestamp() * 1000))
        uri = url
        for escape, char in HUBSPOT_DECODED.items():
            uri = uri.replace(escape, char).replace(escape.lower(), char)
        message = method.upper().encode() + uri.encode() + body + timestamp.encode()
        return {"X-HubSpot-Signature-v3": _b64_hmac(secret, message), "X-HubSpot-Request-Timestamp": timestamp}
    if source == "calendly":
        timestamp = str(int(now.timestamp()))
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest}"}
    if source == "salesforce":
        return {}
    raise ValueError(f"unknown source {source!r}; known: {', '.join(SOURCES)}")


def with_token(url: str, secret: str) -> str:
    """`url` with `token=<secret>` added to its query, for senders that cannot set headers (Jotform)."""
    return f"{url}{'&' if '?' in url else '?'}token={quote(secret, safe='')}"


def event_url(event: Mapping[str, Any]) -> str:
    """The URL an API Gateway HTTP API event was posted to."""
    context = event.get("requestContext") or {}
    query = event.get("rawQueryString") or ""
    return f"https://{context.get('domainName', '')}{event.get('rawPath', '')}" + (f"?{query}" if query else "")


def event_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def resign_event(event: Mapping[str, Any], secret: str, now: datetime) -> dict[str, Any]:
    """A copy of an HTTP API event whose signature headers are made afresh for `now` (its time fields follow).

    A token source keeps its token where the event carries it (Authorization, X-Bridge-Token, or `?token=` as
    Jotform sends it), with the value set to `secret`.
    """
    source = event_source(event)
    fresh = copy.deepcopy(dict(event))
    context = fresh.setdefault("requestContext", {})
    method = str((context.get("http") or {}).get("method") or "POST")
    headers = {str(k).lower(): str(v) for k, v in (fresh.get("headers") or {}).items()}
    if source not in TOKEN_SOURCES or not _replace_token(fresh, headers, secret):
        signed = sign(source, event_body(event), secret, method=method, url=event_url(event), now=now)
        headers.update({k.lower(): v for k, v in signed.items()})
    fresh["headers"] = headers
    context["timeEpoch"] = int(now.timestamp() * 1000)
    context["time"] = now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return fresh


def _replace_token(event: dict[str, Any], headers: dict[str, str], secret: str) -> bool:
    """Set the token wherever the event already presents one; False when it presents none."""
    placed = False
    if headers.get("authorization", "")[:7].lower() == "bearer ":
        headers["authorization"] = f"Bearer {secret}"
        placed = True
    if "x-bridge-token" in headers:
        headers["x-bridge-token"] = secret
        placed = True
    params = event.get("queryStringParameters") or {}
    if "token" in params:
        params["token"] = secret
        pairs = [(k, secret if k == "token" else v) for k, v in parse_qsl(event.get("rawQueryString") or "", True)]
        event["rawQueryString"] = urlencode(pairs, quote_via=quote)
        placed = True
    return placed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m heymarket_bridge_tools.signing", description=resign_event.__doc__)
    parser.add_argument("event", type=Path, help="an HTTP API event from events/<source>/")
    parser.add_argument("--secrets", type=Path, default=Path("events/webhook_secrets.json"))
    parser.add_argument("--now", type=int, help="unix seconds to sign for (default: now)")
    parser.add_argument("--write", action="store_true", help="rewrite the event file instead of printing it")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    source = event_source(event)
    secret = json.loads(args.secrets.read_text()).get(source)
    if not isinstance(secret, str):
        parser.error(f"{args.secrets} has no secret for source {source!r}")
    now = datetime.fromtimestamp(args.now, UTC) if args.now is not None else datetime.now(UTC)
    text = json.dumps(resign_event(event, secret, now), indent=2) + "\n"
    if args.write:
        args.event.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def _b64_hmac(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


if __name__ == "__main__":
    raise SystemExit(main())
