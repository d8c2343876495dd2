"""Shared by the source tests: deliver an event through IngestService with a recording queue and a fixed clock."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.ingest.http import HttpResponse, WebhookRequest
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.ingest.sources.common import Delivery, ReadContext, SourceCredentials
from heymarket_bridge.settings import IngestSettings
from heymarket_bridge_tools.signing import credential_name, event_body, resign_event
from tests.doubles.queue import RecordingQueue
from tests.support import demo_webhook_secrets

# Every sample event in events/ was signed at this instant (its requestContext.timeEpoch).
SIGNED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Delivered:
    reply: HttpResponse
    queued: list[dict[str, Any]]  # the contact of each message queued
    messages: list[dict[str, Any]] = field(default_factory=list)  # each message queued, whole
    fetches: list[dict[str, Any]] = field(default_factory=list)  # each fetch notice queued (id-only notifications)

    @property
    def status(self) -> int:
        return self.reply.status

    @property
    def json(self) -> dict[str, Any]:
        body = json.loads(self.reply.body)
        assert isinstance(body, dict)
        return body

    @property
    def rejected(self) -> list[dict[str, Any]]:
        return list(self.json["rejected"])


def deliver(
    event: Mapping[str, Any],
    *,
    now: datetime = SIGNED_AT,
    secrets: Mapping[str, str] | None = None,
    mappings: Mapping[str, Any] | None = None,
    **settings: Any,
) -> Delivered:
    """POST the event to the ingest service; `mappings` are SOURCE_MAPPINGS entries (JSON-shaped), `settings` other
    IngestSettings fields."""
    ingest_settings = IngestSettings(
        queue_url="https://queue",
        webhook_secrets_arn="arn:secret",
        mappings={name: SourceMapping.from_json(doc) for name, doc in (mappings or {}).items()},
        **settings,
    )
    queue, fetch_queue = RecordingQueue(), RecordingQueue()
    chosen = demo_webhook_secrets() if secrets is None else dict(secrets)
    service = IngestService(
        ingest_settings, lambda: chosen, queue, clock=lambda: now, sources=default_sources(), fetches=fetch_queue
    )
    reply = service.handle(event)
    messages = [json.loads(message.body) for message in queue.sent]
    fetches = [json.loads(message.body)["fetch"] for message in fetch_queue.sent]
    return Delivered(reply, [message["contact"] for message in messages], messages, fetches)


def read_delivery(event: Mapping[str, Any], *, now: datetime = SIGNED_AT) -> Delivery:
    """The event as its source reads it (authenticated with the demo secrets), without validating or queueing."""
    name = source_of(event)
    secrets = demo_webhook_secrets()
    context = ReadContext(now=now, credentials=SourceCredentials(secrets.get(name), secrets))
    source = default_sources()[name]
    request = WebhookRequest.from_http_api_event(event)
    source.authenticate(request, context)
    return source.read(request, context)


def source_of(event: Mapping[str, Any]) -> str:
    return str(event["pathParameters"]["source"])


def with_body(event: Mapping[str, Any], body: bytes | str, *, now: datetime = SIGNED_AT) -> dict[str, Any]:
    """The event carrying another body, signed afresh with its source's demo secret (base64-encoded, as API Gateway
    does, when the event's body was or the new one is not UTF-8)."""
    raw = body.encode() if isinstance(body, str) else body
    changed = copy.deepcopy(dict(event))
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        changed["isBase64Encoded"] = True
    changed["body"] = base64.b64encode(raw).decode() if changed.get("isBase64Encoded") else text
    return resign_event(changed, demo_webhook_secrets()[credential_name(event)], now)


def with_json(event: Mapping[str, Any], payload: Any, *, now: datetime = SIGNED_AT) -> dict[str, Any]:
    return with_body(event, json.dumps(payload), now=now)


def payload_of(event: Mapping[str, Any]) -> Any:
    return json.loads(event_body(event))


def tampered(event: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    """The event with `old` replaced by `new` in its body, keeping the original signature."""
    body = event_body(event).decode()
    assert old in body
    changed = copy.deepcopy(dict(event))
    raw = body.replace(old, new, 1).encode()
    changed["body"] = base64.b64encode(raw).decode() if changed.get("isBase64Encoded") else raw.decode()
    return changed


def with_headers(event: Mapping[str, Any], **headers: str | None) -> dict[str, Any]:
    """The event with headers set (underscores become dashes) or removed (None)."""
    changed = copy.deepcopy(dict(event))
    for name, value in headers.items():
        key = name.replace("_", "-")
        if value is None:
            changed["headers"].pop(key, None)
        else:
            changed["headers"][key] = value
    return changed


def resigned(event: Mapping[str, Any], *, secret: str | None = None, now: datetime = SIGNED_AT) -> dict[str, Any]:
    return resign_event(event, secret or demo_webhook_secrets()[credential_name(event)], now)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
