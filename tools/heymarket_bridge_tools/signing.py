"""Sign a webhook the way each sender does, so that local posts and sample events authenticate at any time.

Each sender's scheme is its source's (heymarket_bridge.ingest.sources.<name>: `token_in`, `sign`,
`signature_versions`, `body_times`, written beside the check of it); this module dispatches by source name, so a new
source needs nothing here. Pure functions, plus a command that re-signs a sample event for "now":

    python -m heymarket_bridge_tools.signing events/hubspot/workflow_contact.json [--now 1795424400] [--write]
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
from heymarket_bridge.ingest.http import event_source, is_delete_route
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES, Source, default_sources
from heymarket_bridge.ingest.sources.common import SigningRequest


@cache
def sender(source: str) -> Source:
    """The source named `source`, as the sender's scheme of it is read here; ValueError for an unknown name."""
    if source not in SOURCE_NAMES:
        raise ValueError(f"unknown source {source!r}; known: {', '.join(sorted(SOURCE_NAMES))}")
    return default_sources([source])[source]


def demo_webhook_secrets(path: Path) -> dict[str, Any]:
    """The demo's webhook secrets: the JSON object in `path` (events/webhook_secrets.json, whose tokens the sample
    events carry), with `demo-<name>-secret` for every source it has no entry for, so that a new source's sample is
    signed, posted and checked without an entry. Raises OSError or ValueError when the file cannot be read."""
    secrets = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(secrets, dict):
        raise ValueError(f"{path} is not a JSON object of source names and secrets")
    return with_demo_secrets(secrets)


def with_demo_secrets(secrets: Mapping[str, Any]) -> dict[str, Any]:
    """`secrets`, plus `demo-<name>-secret` for every source (SOURCE_NAMES) it has no entry for."""
    return {**{name: f"demo-{name}-secret" for name in sorted(SOURCE_NAMES)}, **secrets}


def sign(
    source: str,
    body: bytes,
    secret: str,
    *,
    method: str = "POST",
    url: str = "",
    now: datetime,
    version: str = "",
) -> dict[str, str]:
    """The headers that authenticate `body` for `source` (with the secret the bridge holds for it) at `now`.

    A sender that presents its token in a header gets it as `X-Bridge-Token`; one that puts it in the URL
    (`token_in == "query"`: Jotform, Salesforce) gets no header (see `with_token`). A signing sender gets its
    source's `sign` headers, made with `version` (one of its `signature_versions`; "" for the first). ValueError
    for an unknown source or version.
    """
    scheme = sender(source)
    if scheme.token_in:
        return {"X-Bridge-Token": secret} if scheme.token_in == "header" else {}
    return scheme.sign(SigningRequest(body, secret, now, method=method, url=url, version=version))


def shifted_times(source: str, body: bytes, by: timedelta) -> bytes:
    """`body` with the delivery times its sender writes in it (its source's `body_times`) moved by `by`, each in its
    own format; every other byte as it was."""
    names = sender(source).body_times
    if not names or not by:
        return body
    pattern = re.compile(rb'("(?:' + b"|".join(n.encode() for n in names) + rb')"\s*:\s*")([^"\\]{1,40})(")')
    return pattern.sub(lambda m: m.group(1) + _shifted(m.group(2).decode(), by).encode() + m.group(3), body)


def fresh_times(source: str, body: bytes, now: datetime) -> bytes:
    """`body` with its delivery times (its source's `body_times`) moved together so that the latest is `now`, as a
    sender's delivery made now would carry them."""
    names = sender(source).body_times
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


def resign_event(event: Mapping[str, Any], secret: str, now: datetime, *, url: str | None = None) -> dict[str, Any]:
    """A copy of an HTTP API event whose signature headers are made afresh for `now` (its time fields follow, and so
    do the delivery times its body carries, its source's `body_times`: moved by as long as `now` is after the
    event's).

    A token sender keeps its token where the event carries it (Authorization, X-Bridge-Token, or `?token=`), with
    the value set to `secret`, else gets it where it sends one (`token_in`); `secret` is the event's
    `credential_name` entry (the `deletes` token, in a header, on a delete route). A signing sender's event is
    signed with each version it carries (`signed_versions`), else its newest, over `url` when given (the URL the
    stack rebuilds: its PublicBaseUrl and the path), else the https URL the event names. ValueError for an unknown
    source.
    """
    name = credential_name(event)
    token_in = "header" if name == DELETE_CREDENTIAL else sender(name).token_in
    fresh = copy.deepcopy(dict(event))
    context = fresh.setdefault("requestContext", {})
    method = str((context.get("http") or {}).get("method") or "POST")
    headers = {str(k).lower(): str(v) for k, v in (fresh.get("headers") or {}).items()}
    recorded = context.get("timeEpoch")
    if isinstance(recorded, int) and name != DELETE_CREDENTIAL:
        body = shifted_times(name, event_body(event), now - datetime.fromtimestamp(recorded / 1000, UTC))
        fresh["body"] = base64.b64encode(body).decode() if fresh.get("isBase64Encoded") else body.decode("utf-8")
    if token_in:
        _set_token(fresh, headers, secret, in_query=token_in == "query")
    else:
        _sign_again(fresh, headers, name, secret, method=method, url=url or event_url(event), now=now)
    fresh["headers"] = headers
    context["timeEpoch"] = int(now.timestamp() * 1000)
    context["time"] = now.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
    return fresh


def _set_token(event: dict[str, Any], headers: dict[str, str], secret: str, *, in_query: bool) -> None:
    """Put `secret` where the event carries its token, or where its sender sends one."""
    if _replace_token(event, headers, secret):
        return
    if in_query:
        _add_query_token(event, secret)
    else:
        headers["x-bridge-token"] = secret


def _sign_again(
    event: dict[str, Any], headers: dict[str, str], source: str, secret: str, *, method: str, url: str, now: datetime
) -> None:
    """Replace the signature headers of a signing sender: each version the event carries, else the newest."""
    scheme = sender(source)
    for version in scheme.signed_versions(headers) or scheme.signature_versions[:1]:
        signed = sign(source, event_body(event), secret, method=method, url=url, now=now, version=version)
        headers.update({k.lower(): v for k, v in signed.items()})


def _add_query_token(event: dict[str, Any], secret: str) -> None:
    query = str(event.get("rawQueryString") or "")
    event["rawQueryString"] = f"{query}&token={quote(secret, safe='')}" if query else f"token={quote(secret, safe='')}"
    event["queryStringParameters"] = {**(event.get("queryStringParameters") or {}), "token": secret}


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
    parser.add_argument(
        "--secrets", type=Path, default=Path("events/webhook_secrets.json"), help="demo-<source>-secret if absent"
    )
    parser.add_argument("--now", type=int, help="unix seconds to sign for (default: now)")
    parser.add_argument("--write", action="store_true", help="rewrite the event file instead of printing it")
    args = parser.parse_args(argv)
    event = json.loads(args.event.read_text())
    source = credential_name(event)
    secret = demo_webhook_secrets(args.secrets).get(source)
    if not isinstance(secret, str):
        parser.error(f"{args.secrets} has no secret for source {source!r}")
    now = datetime.fromtimestamp(args.now, UTC) if args.now is not None else datetime.now(UTC)
    text = json.dumps(resign_event(event, secret, now), indent=2) + "\n"
    if args.write:
        args.event.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
