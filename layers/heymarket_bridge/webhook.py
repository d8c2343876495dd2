"""HTTP shapes of the ingest side: the request as received, the reply, and the errors that map to a status."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from heymarket_bridge.messages import Operation

# The bulk delete routes (template.yaml): requests of the `generic` source, authenticated with its token.
DELETE_ROUTES = frozenset({"POST /contacts/delete", "DELETE /contacts"})
DELETE_SOURCE = "generic"


class WebhookError(Exception):
    """A request the bridge refuses, with the HTTP status and a machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class BadRequest(WebhookError):
    status, code = 400, "bad_request"


class Unauthorized(WebhookError):
    status, code = 401, "unauthorized"


class UnknownSource(WebhookError):
    status, code = 404, "unknown_source"


class DeliveryInProgress(WebhookError):
    status, code = 409, "delivery_in_progress"


class PayloadTooLarge(WebhookError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(WebhookError):
    status, code = 415, "unsupported_media_type"


class NothingValid(WebhookError):
    status, code = 422, "no_valid_contacts"


class BufferUnavailable(WebhookError):
    status, code = 503, "buffer_unavailable"


def is_delete_route(event: Mapping[str, Any]) -> bool:
    """Whether an HTTP API event came in on a bulk delete route.

    The route API Gateway matched says so; an event without one (hand-written for `sam local invoke`) is read
    by its method and path.
    """
    context = event.get("requestContext") or {}
    http = context.get("http") or {}
    route_key = event.get("routeKey") or context.get("routeKey")
    if not route_key:
        route_key = f"{str(http.get('method') or 'POST').upper()} {event.get('rawPath') or http.get('path') or ''}"
    return str(route_key) in DELETE_ROUTES


def event_source(event: Mapping[str, Any]) -> str:
    """The source an HTTP API event posts as: its {source} path parameter, or `generic` on the delete routes."""
    if is_delete_route(event):
        return DELETE_SOURCE
    return str((event.get("pathParameters") or {}).get("source", "")).lower()


@dataclass(frozen=True)
class WebhookRequest:
    """An HTTP request as the sender made it: raw body bytes (for signatures), lower-case header names."""

    source: str
    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    request_id: str
    raw_query: str = ""
    domain: str = ""
    operation: Operation = Operation.UPSERT  # DELETE on the bulk delete routes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @classmethod
    def from_http_api_event(cls, event: Mapping[str, Any]) -> WebhookRequest:
        """Build from an API Gateway HTTP API (payload 2.0) event; a body that is not valid base64 is a 400."""
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        body_text = event.get("body") or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body_text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadRequest("the request body is not valid base64") from exc
        else:
            body = body_text.encode("utf-8", "surrogatepass")
        raw_query = event.get("rawQueryString") or ""
        query = {k: v[-1] for k, v in parse_qs(raw_query, keep_blank_values=True).items()}
        for key, value in (event.get("queryStringParameters") or {}).items():
            query.setdefault(key, value)
        return cls(
            source=event_source(event),
            method=str(http.get("method") or "POST").upper(),
            path=str(event.get("rawPath") or http.get("path") or ""),
            headers={str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()},
            query=query,
            body=body,
            request_id=str(context.get("requestId") or ""),
            raw_query=raw_query,
            domain=str(context.get("domainName") or ""),
            operation=Operation.DELETE if is_delete_route(event) else Operation.UPSERT,
        )


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def to_http_api(self) -> dict[str, Any]:
        text = self.body if isinstance(self.body, str) else json.dumps(self.body, separators=(",", ":"))
        return {
            "statusCode": self.status,
            "headers": dict(self.headers),
            "body": text,
            "isBase64Encoded": False,
        }

    @classmethod
    def error(cls, error: WebhookError, request_id: str) -> Reply:
        body = {
            "error": {"code": error.code, "message": error.message},
            **error.details,
            "request_id": request_id,
        }
        return cls(error.status, body)
