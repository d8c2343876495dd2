"""HTTP shapes of the ingest side: the request as received, the refusals that map to a status, the reply.

A request is read in two steps so that every refusal, even of an event that cannot be decoded, is answered by
the one place that builds replies (`heymarket_bridge.ingest.service.IngestService.handle`) in its sender's format:
`RequestLine` (route, source name, request id) never fails; `WebhookRequest.from_http_api_event` decodes the rest
and may raise `BadRequest`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import parse_qsl

from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.failures import BadRequest, PayloadTooLarge, WebhookError

# The bulk delete routes (template.yaml). They are their own use case, authenticated with their own credential.
DELETE_ROUTES = frozenset({"POST /contacts/delete", "DELETE /contacts"})
# Most query parameters read from a URL; a sender never needs more than a handful (token, portal, ...).
MAX_QUERY_FIELDS = 100


class Route(StrEnum):
    """The use case a request asks for: a source's webhook, or the bulk delete."""

    WEBHOOK = "webhook"
    DELETE = "delete"


@record
class RequestLine:
    """What is known of a request before its body is decoded: never fails, whatever the event holds."""

    route: Route
    source: str  # the {source} path parameter, lower-case ("" on the delete routes)
    request_id: str
    source_ip: str = ""

    @classmethod
    def of(cls, event: Any) -> RequestLine:
        event = event if isinstance(event, Mapping) else {}
        context = _mapping(event.get("requestContext"))
        http = _mapping(context.get("http"))
        route = Route.DELETE if is_delete_route(event) else Route.WEBHOOK
        source = "" if route is Route.DELETE else _source_of(event)
        return cls(route, source.strip().lower(), str(context.get("requestId") or ""), str(http.get("sourceIp") or ""))


def _source_of(event: Mapping[str, Any]) -> str:
    """The source a webhook posts as: the {source} path parameter, else (on a source's own route, `POST
    /webhooks/<name>` or Meta's `GET /webhooks/meta`, which have none: template.yaml gives each source a route for its
    throttle) the route's last segment."""
    parameter = _mapping(event.get("pathParameters")).get("source")
    if parameter is not None:
        return str(parameter)
    route_key = str(event.get("routeKey") or _mapping(event.get("requestContext")).get("routeKey") or "")
    method, _, path = route_key.partition(" ")  # "POST /webhooks/hubspot", "GET /webhooks/meta" (Meta's handshake)
    name = path.removeprefix("/webhooks/")
    own_route = method in ("POST", "GET") and path.startswith("/webhooks/") and "/" not in name and "{" not in name
    return name if own_route else ""


def is_delete_route(event: Mapping[str, Any]) -> bool:
    """Whether an HTTP API event came in on a bulk delete route.

    The route API Gateway matched says so; an event without one (hand-written for `sam local invoke`) is read
    by its method and path.
    """
    context = _mapping(event.get("requestContext"))
    http = _mapping(context.get("http"))
    route_key = event.get("routeKey") or context.get("routeKey")
    if not route_key or route_key == "$default":
        route_key = f"{str(http.get('method') or 'POST').upper()} {event.get('rawPath') or http.get('path') or ''}"
    return str(route_key) in DELETE_ROUTES


def event_source(event: Mapping[str, Any]) -> str:
    """The source an HTTP API event posts as: its {source} path parameter ("" on the delete routes)."""
    return RequestLine.of(event).source


def header_value(raw: str) -> str:
    """A header as the sender meant it: API Gateway joins a header sent twice with a comma ("a,a"); a value that
    is one part repeated is that part once. Other values are left as they came."""
    parts = [part.strip() for part in raw.split(",")]
    for size in range(1, len(parts) // 2 + 1):
        if len(parts) % size == 0 and parts == parts[:size] * (len(parts) // size):
            return ",".join(parts[:size])
    return raw.strip()


@record
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
    route: Route = Route.WEBHOOK

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The `charset` parameter of the Content-Type header, lower-case, or None."""
        for parameter in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip('"'):
                return value.strip().strip('"').lower()
        return None

    @classmethod
    def from_http_api_event(cls, event: Mapping[str, Any], line: RequestLine | None = None) -> WebhookRequest:
        """Build from an API Gateway HTTP API (payload 2.0) event; a body that cannot be decoded is a 400."""
        line = line or RequestLine.of(event)
        context = _mapping(event.get("requestContext"))
        http = _mapping(context.get("http"))
        body_text = event.get("body")
        if body_text is not None and not isinstance(body_text, str):
            raise BadRequest("the request body is not text")
        body_text = body_text or ""
        if event.get("isBase64Encoded"):
            try:
                body = base64.b64decode(body_text, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise BadRequest("the request body is not valid base64") from exc
        else:
            body = body_text.encode("utf-8", "surrogatepass")
        raw_query = str(event.get("rawQueryString") or "")
        try:
            pairs = parse_qsl(raw_query, keep_blank_values=True, max_num_fields=MAX_QUERY_FIELDS)
        except ValueError as exc:
            raise BadRequest(f"the URL has more than {MAX_QUERY_FIELDS} query parameters") from exc
        query = dict(pairs)
        for key, value in _mapping(event.get("queryStringParameters")).items():
            query.setdefault(str(key), header_value(str(value)))
        return cls(
            source=line.source,
            method=str(http.get("method") or "POST").upper(),
            path=str(event.get("rawPath") or http.get("path") or ""),
            headers={str(k).lower(): header_value(str(v)) for k, v in _mapping(event.get("headers")).items()},
            query=query,
            body=body,
            request_id=line.request_id,
            raw_query=raw_query,
            domain=str(context.get("domainName") or ""),
            route=line.route,
        )


def refuse_if_larger(request: WebhookRequest, max_bytes: int) -> None:
    """Refuse (413) a request whose body is larger than `max_bytes` (MaxBodyBytes), before it is read."""
    if len(request.body) > max_bytes:
        raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")


@record
class Reply:
    """What the bridge answers, before a source's renderer shapes it: a status and a JSON object."""

    status: int
    body: Mapping[str, Any]

    @classmethod
    def error(cls, error: WebhookError, request_id: str) -> Reply:
        body = {"error": {"code": error.code, "message": error.message}, **error.details, "request_id": request_id}
        return cls(error.status, body)


@record
class HttpResponse:
    """The response API Gateway sends back."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})

    def to_http_api(self) -> dict[str, Any]:
        return {"statusCode": self.status, "headers": dict(self.headers), "body": self.body, "isBase64Encoded": False}


class Renderer(Protocol):
    def __call__(self, reply: Reply) -> HttpResponse:
        """The response a sender gets for the bridge's reply, in the format that sender reads."""
        ...


def render_json(reply: Reply) -> HttpResponse:
    """The bridge's own format: the reply's JSON object as it is."""
    return HttpResponse(reply.status, json.dumps(reply.body, separators=(",", ":")))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
