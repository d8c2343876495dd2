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
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
from heymarket_bridge.ingest.http import event_source, is_delete_route
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES

TOKEN_SOURCES = ("generic", "jotform")
# Senders that cannot sign and carry their token in the URL (`?token=`): see `with_token`.
URL_TOKEN_SOURCES = ("jotform", "salesforce")
HUBSPOT_VERSIONS = ("v3", "v2", "v1")
# Signed bodies that carry their delivery's own time (the bridge refuses one outside the sender's retry window):
# a body signed for another moment has these times moved with it.
BODY_TIMES = {"shopify": ("created_at", "updated_at"), "typeform": ("landed_at", "submitted_at")}
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
    source: str,
    body: bytes,
    secret: str,
    *,
    method: str = "POST",
    url: str = "",
    now: datetime,
    hubspot_version: str = "v3",
) -> dict[str, str]:
    """The headers that authenticate `body` for `source` (with the secret the bridge holds for it) at `now`.

    Token sources (generic, jotform) get the token as `X-Bridge-Token`; a real Jotform puts it in the URL as
    `?token=` instead (see `with_token`), and so does Salesforce (its org id is checked in the body). HubSpot signs
    with `hubspot_version`: "v3" (HMAC of method, URI, body and timestamp), or the older "v2" (SHA-256 of secret,
    method, URI and body, what a workflow's webhook action sends) and "v1" (SHA-256 of secret and body), each as
    HubSpot's "Validating requests from HubSpot" describes. Shopify's delivery carries its X-Shopify-Triggered-At.
    """
    if source in TOKEN_SOURCES:
        return {"X-Bridge-Token": secret}
    if source == "typeform":
        return {"Typeform-Signature": "sha256=" + _b64_hmac(secret, body)}
    if source == "shopify":
        triggered_at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {"X-Shopify-Hmac-Sha256": _b64_hmac(secret, body), "X-Shopify-Triggered-At": triggered_at}
    if source == "hubspot":
        return sign_hubspot(body, secret, method=method, url=url, now=now, version=hubspot_version)
    if source == "calendly":
        timestamp = str(int(now.timestamp()))
        digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest}"}
    if source == "salesforce":
        return {}
    raise ValueError(f"unknown source {source!r}; known: {', '.join(sorted(SOURCE_NAMES))}")


def sign_hubspot(
    body: bytes, secret: str, *, method: str = "POST", url: str, now: datetime, version: str = "v3"
) -> dict[str, str]:
    """HubSpot's headers for a request to `url` (as HubSpot calls it) signed with `version` (v1, v2 or v3)."""
    if version == "v1":
        digest = hashlib.sha256(secret.encode() + body).hexdigest()
        return {"X-HubSpot-Signature": digest, "X-HubSpot-Signature-Version": "v1"}
    if version == "v2":
        digest = hashlib.sha256(secret.encode() + method.upper().encode() + url.encode() + body).hexdigest()
        return {"X-HubSpot-Signature": digest, "X-HubSpot-Signature-Version": "v2"}
    if version != "v3":
        raise ValueError(f"unknown HubSpot signature version {version!r}; known: {', '.join(HUBSPOT_VERSIONS)}")
    timestamp = str(int(now.timestamp() * 1000))
    uri = url
    for escape, char in HUBSPOT_DECODED.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    message = method.upper().encode() + uri.encode() + body + timestamp.encode()
    return {"X-HubSpot-Signature-v3": _b64_hmac(secret, message), "X-HubSpot-Request-Timestamp": timestamp}


def shifted_times(source: str, body: bytes, by: timedelta) -> bytes:
    """`body` with the delivery times its sender writes in it (BODY_TIMES) moved by `by`, each in its own format;
    every other byte as it was."""
    names = BODY_TIMES.get(source)
    if not names or not by:
        return body
    pattern = re.compile(rb'("(?:' + b"|".join(n.encode() for n in names) + rb')"\s*:\s*")([^"\\]{1,40})(")')
    return pattern.sub(lambda m: m.group(1) + _shifted(m.group(2).decode(), by).encode() + m.group(3), body)


def fresh_times(source: str, body: bytes, now: datetime) -> bytes:
    """`body` with its delivery times (BODY_TIMES) moved together so that the latest is `now`, as a sender's
    delivery made now would carry them."""
    names = BODY_TIMES.get(source, ())
    pattern = re.compile(rb'"(?:' + b"|".join(n.encode() for n in names) + rb')"\s*:\s*"([^"\\]{1,40})"')
    times = [_time(m.group(1).decode()) for m in pattern.finditer(body)] if names else []
    latest = max((t for t in times if t is not None), default=None)
    return shifted_times(source, body, now - latest) if latest is not None else body


def _time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _shifted(text: str, by: timedelta) -> str:
    moment = _time(text)
    if moment is None:
        return text
    fraction = text.partition(".")[2].rstrip("Z").split("+")[0].split("-")[0]
    spec = "seconds" if not fraction else "milliseconds" if len(fraction) <= 3 else "microseconds"
    try:
        written = (moment + by).isoformat(timespec=spec)
    except OverflowError:  # a time at the calendar's end stays where it is
        return text
    return written.replace("+00:00", "Z") if text.endswith("Z") else written


def credential_name(event: Mapping[str, Any]) -> str:
    """The webhook-secrets entry an HTTP API event authenticates with: its source, or `deletes` on a delete route."""
    return DELETE_CREDENTIAL if is_delete_route(event) else event_source(event)


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
    """A copy of an HTTP API event whose signature headers are made afresh for `now` (its time fields follow, and so
    do the delivery times a Shopify or Typeform body carries: moved by as long as `now` is after the event's).

    A token source keeps its token where the event carries it (Authorization, X-Bridge-Token, or `?token=` as
    Jotform and Salesforce send it), with the value set to `secret`; `secret` is the event's `credential_name`
    entry (the `deletes` token on a delete route). A HubSpot event is signed with the versions it carries.
    """
    source = credential_name(event)
    fresh = copy.deepcopy(dict(event))
    context = fresh.setdefault("requestContext", {})
    method = str((context.get("http") or {}).get("method") or "POST")
    headers = {str(k).lower(): str(v) for k, v in (fresh.get("headers") or {}).items()}
    recorded = context.get("timeEpoch")
    if isinstance(recorded, int) and source in BODY_TIMES:
        body = shifted_times(source, event_body(event), now - datetime.fromtimestamp(recorded / 1000, UTC))
        fresh["body"] = base64.b64encode(body).decode() if fresh.get("isBase64Encoded") else body.decode("utf-8")
    if source in (*TOKEN_SOURCES, *URL_TOKEN_SOURCES, DELETE_CREDENTIAL):
        _set_token(fresh, headers, source, secret)
    else:
        _sign_again(fresh, headers, source, secret, method=method, url=event_url(event), now=now)
    fresh["headers"] = headers
    context["timeEpoch"] = int(now.timestamp() * 1000)
    context["time"] = now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return fresh


def _set_token(event: dict[str, Any], headers: dict[str, str], source: str, secret: str) -> None:
    """Put `secret` where the event carries its token, or where `source` sends one."""
    if _replace_token(event, headers, secret):
        return
    if source in URL_TOKEN_SOURCES:
        _add_query_token(event, secret)
    else:
        headers["x-bridge-token"] = secret


def _sign_again(
    event: dict[str, Any], headers: dict[str, str], source: str, secret: str, *, method: str, url: str, now: datetime
) -> None:
    """Replace the signature headers of a signing source (a HubSpot event: each version it carries, else v3)."""
    carried = [v for v in HUBSPOT_VERSIONS if _carries_hubspot_version(headers, v)] if source == "hubspot" else []
    for version in carried or ["v3"]:
        signed = sign(source, event_body(event), secret, method=method, url=url, now=now, hubspot_version=version)
        headers.update({k.lower(): v for k, v in signed.items()})


def _add_query_token(event: dict[str, Any], secret: str) -> None:
    query = str(event.get("rawQueryString") or "")
    event["rawQueryString"] = f"{query}&token={quote(secret, safe='')}" if query else f"token={quote(secret, safe='')}"
    event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "token": secret}


def _carries_hubspot_version(headers: Mapping[str, str], version: str) -> bool:
    if version == "v3":
        return "x-hubspot-signature-v3" in headers
    return headers.get("x-hubspot-signature-version", "").lower() == version


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
    source = credential_name(event)
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
