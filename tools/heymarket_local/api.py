"""A local stand-in for API Gateway HTTP API: requests in, payload-2.0 events to the handlers, their reply out.

Routes come from the template (`POST /webhooks/{source}`). For each request the server builds the event API Gateway
would send (version "2.0", routeKey, rawPath, lower-case headers, cookies, queryStringParameters, pathParameters,
requestContext; bodies base64-encoded unless their content type is text), invokes the function and returns its
response unchanged. What API Gateway itself answers is copied too: 404 {"message":"Not Found"} for an unknown route,
413 above its 10 MB payload limit, 500 {"message":"Internal Server Error"} when the function fails or answers unusably.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from heymarket_local.lambdas import ACCOUNT_ID, Invoke
from heymarket_local.template import Route
from heymarket_sandbox.serving import Serving, TrackedServer, UnreadableBody, read_body

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES: Final = 10 * 1024 * 1024  # API Gateway's request payload limit
API_ID: Final = "local"
DEFAULT_ROUTE: Final = "$default"
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES: Final = ("application/json", "application/xml", "application/javascript", "application/x-yaml")
_PARAMETER: Final = re.compile(r"\{([A-Za-z0-9_.-]+)(\+?)\}")


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]

    @property
    def route_key(self) -> str:
        if self.route.path == DEFAULT_ROUTE:
            return DEFAULT_ROUTE
        return f"{self.route.method} {self.route.path}"


class RouteTable:
    """Matches a method and path to a route like API Gateway: `{name}` is one segment, `{name+}` the rest."""

    def __init__(self, routes: Sequence[Route]) -> None:
        compiled: list[tuple[tuple[int, int], Route, re.Pattern[str] | None]] = []
        for route in routes:
            if route.path == DEFAULT_ROUTE:
                compiled.append(((2, 0), route, None))
                continue
            pattern, position = "", 0
            greedy = 0
            for match in _PARAMETER.finditer(route.path):
                pattern += re.escape(route.path[position : match.start()])
                pattern += f"(?P<{_group(match.group(1))}>{'.+' if match.group(2) else '[^/]+'})"
                greedy += bool(match.group(2))
                position = match.end()
            pattern += re.escape(route.path[position:])
            # API Gateway prefers a route without a greedy variable, then the one with fewer variables.
            variables = len(_PARAMETER.findall(route.path))
            compiled.append(((greedy, variables), route, re.compile(pattern)))
        self._routes = [(route, pattern) for _, route, pattern in sorted(compiled, key=lambda item: item[0])]

    def match(self, method: str, path: str) -> RouteMatch | None:
        for route, pattern in self._routes:
            if route.method not in ("ANY", method.upper()):
                continue
            if pattern is None:
                return RouteMatch(route, {})
            found = pattern.fullmatch(path)
            if found is not None:
                names = {_group(name): name for name, _ in _PARAMETER.findall(route.path)}
                return RouteMatch(route, {names[group]: unquote(value) for group, value in found.groupdict().items()})
        return None


def _group(name: str) -> str:
    """A regex group name for a path variable (they may hold characters groups cannot)."""
    return "p_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def is_text(content_type: str) -> bool:
    """Whether API Gateway passes a body of this type as text rather than base64."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml"))


def _request_time(epoch_s: float) -> str:
    moment = time.gmtime(epoch_s)
    clock = time.strftime("%H:%M:%S", moment)
    return f"{moment.tm_mday:02d}/{_MONTHS[moment.tm_mon - 1]}/{moment.tm_year}:{clock} +0000"


def http_api_event(
    *,
    match: RouteMatch,
    method: str,
    target: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    now_s: float,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload-2.0 event for one request (`target` is the path and query as sent)."""
    split = urlsplit(target)
    raw_path = split.path or "/"
    raw_query = split.query
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        merged[key] = f"{merged[key]},{value}" if key in merged else value
    query: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    domain_name = merged.get("host", "")
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": API_ID,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": merged.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route_key,
        "stage": "$default",
        "time": _request_time(now_s),
        "timeEpoch": int(now_s * 1000),
    }
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if body:
        if is_text(merged.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
                event["isBase64Encoded"] = False
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    else:
        event["isBase64Encoded"] = False
    return event


@dataclass(frozen=True)
class ApiExchange:
    """One request the API answered through a function, for an observer (`heymarket-bridge local`'s activity)."""

    at: float  # epoch seconds when the request arrived
    method: str
    path: str
    path_parameters: dict[str, str]
    status: int
    body: bytes  # the reply's
    duration_s: float
    error: str | None = None  # why the function failed, when API Gateway answered 500 for it


class InvalidFunctionResponse(ValueError):
    """A function response API Gateway would refuse (it answers 500 Internal Server Error)."""


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_reply(response: Any) -> HttpReply:
    """Map a function's response to HTTP the way API Gateway does for payload format 2.0."""
    if not isinstance(response, dict) or "statusCode" not in response:
        # Without a statusCode API Gateway answers 200 with the response as JSON.
        try:
            text = json.dumps(response)
        except (TypeError, ValueError) as error:
            raise InvalidFunctionResponse(f"the response is not JSON: {error}") from error
        return HttpReply(200, [("Content-Type", "application/json")], text.encode())
    status = response["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise InvalidFunctionResponse(f"statusCode {status!r} is not an HTTP status")
    headers = response.get("headers") or {}
    if not isinstance(headers, Mapping):
        raise InvalidFunctionResponse("headers must be an object")
    cookies = response.get("cookies") or []
    if not isinstance(cookies, list):
        raise InvalidFunctionResponse("cookies must be a list")
    data = _reply_body(response)
    pairs = [(str(name), str(value)) for name, value in headers.items()]
    pairs.extend(("Set-Cookie", str(cookie)) for cookie in cookies)
    return HttpReply(status, pairs, data)


def _reply_body(response: Mapping[str, Any]) -> bytes:
    """The bytes of a payload-2.0 response's body (base64-decoded when isBase64Encoded)."""
    body = response.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise InvalidFunctionResponse("body must be a string")
    if not response.get("isBase64Encoded"):
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidFunctionResponse("isBase64Encoded is true but body is not base64") from error


def _message(status: HTTPStatus, text: str) -> HttpReply:
    return HttpReply(status, [("Content-Type", "application/json")], json.dumps({"message": text}).encode())


NOT_FOUND: Final = _message(HTTPStatus.NOT_FOUND, "Not Found")
TOO_LARGE: Final = _message(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "Request Entity Too Large")
INTERNAL_ERROR: Final = _message(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal Server Error")
BAD_REQUEST: Final = _message(HTTPStatus.BAD_REQUEST, "Bad Request")


class _ApiRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "heymarket-bridge-local-api"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _ApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the handlers log every request they receive."""

    def _dispatch(self) -> None:
        with self.server.api.in_progress():
            self._answer()

    def _answer(self) -> None:
        api = self.server.api
        request_id = str(uuid.uuid4())
        try:
            body = read_body(self, MAX_PAYLOAD_BYTES)
        except UnreadableBody as error:
            self._send(TOO_LARGE if error.too_large else BAD_REQUEST, request_id, close=True)
            return
        target = self.path
        match = api.routes.match(self.command, urlsplit(target).path)
        if match is None:
            self._send(NOT_FOUND, request_id)
            return
        event = http_api_event(
            match=match,
            method=self.command,
            target=target,
            headers=self._headers_with_forwarding(),
            body=body,
            source_ip=self.client_address[0],
            request_id=request_id,
            now_s=time.time(),
        )
        self._send(api.invoke(match.route.function_id, event), request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def _headers_with_forwarding(self) -> list[tuple[str, str]]:
        """The request's headers plus the X-Forwarded-* and trace headers API Gateway adds."""
        headers = list(self.headers.items())
        forwarded_for = [value for name, value in headers if name.lower() == "x-forwarded-for"]
        headers = [(name, value) for name, value in headers if name.lower() != "x-forwarded-for"]
        headers.append(("x-forwarded-for", ", ".join([*forwarded_for, self.client_address[0]])))
        headers.append(("x-forwarded-port", str(self.server.server_address[1])))
        headers.append(("x-forwarded-proto", "http"))
        headers.append(("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"))
        return headers

    def _send(self, reply: HttpReply, request_id: str, *, close: bool = False) -> None:
        self.send_response(reply.status)
        names = set()
        for name, value in reply.headers:
            if name.lower() in ("content-length", "connection", "transfer-encoding"):
                continue
            names.add(name.lower())
            self.send_header(name, value)
        if "content-type" not in names and reply.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply.body)))
        self.send_header("apigw-requestid", request_id)
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)


class _ApiServer(TrackedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: HttpApi) -> None:
        self.api = api
        super().__init__(address, _ApiRequestHandler)


class HttpApi:
    """The template's HTTP routes served on 127.0.0.1, each invoking its function; port 0 picks a free one."""

    def __init__(
        self,
        routes: Sequence[Route],
        functions: Mapping[str, Invoke],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        on_exchange: Callable[[ApiExchange], None] | None = None,
    ) -> None:
        missing = sorted({route.function_id for route in routes} - set(functions))
        if missing:
            raise ValueError(f"no function to invoke for route(s) of {', '.join(missing)}")
        self.routes = RouteTable(routes)
        self._functions = dict(functions)
        self._host = host
        self._port = port
        self._on_exchange = on_exchange
        self._server: _ApiServer | None = None
        self._serving: Serving | None = None
        self._lock = threading.Condition()
        self._active = 0
        self.requests = 0
        self.function_errors = 0

    @contextlib.contextmanager
    def in_progress(self) -> Iterator[None]:
        """Count a request being answered, so that stop() can let it finish."""
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def invoke(self, function_id: str, event: dict[str, Any]) -> HttpReply:
        """Invoke the route's function; a failure or an unusable response is API Gateway's 500."""
        with self._lock:
            self.requests += 1
        started = time.monotonic()
        method = event["requestContext"]["http"]["method"]
        error: str | None = None
        try:
            reply = http_reply(self._functions[function_id](event))
        except Exception as failure:  # any function failure is API Gateway's 500, as on AWS
            log.exception("%s failed on %s %s", function_id, method, event["rawPath"])
            with self._lock:
                self.function_errors += 1
            reply = INTERNAL_ERROR
            error = f"{function_id} failed: {type(failure).__name__}: {failure}"
        if self._on_exchange is not None:
            exchange = ApiExchange(
                at=event["requestContext"]["timeEpoch"] / 1000,
                method=method,
                path=event["rawPath"],
                path_parameters=dict(event.get("pathParameters") or {}),
                status=reply.status,
                body=reply.body,
                duration_s=time.monotonic() - started,
                error=error,
            )
            try:
                self._on_exchange(exchange)
            except Exception:  # an observer's bug must not fail the request
                log.exception("on_exchange callback failed")
        return reply

    def bind(self) -> HttpApi:
        """Take the port without answering yet (requests wait in the listen backlog), so that the URL is known
        before the functions are made; raises OSError if the port is taken."""
        if self._server is None:
            self._server = _ApiServer((self._host, self._port), self)
            self._port = self._server.server_address[1]
        return self

    def start(self) -> HttpApi:
        """Bind if not bound, and serve in a background thread; raises OSError if the port is taken."""
        server = self.bind()._server
        if self._serving is None and server is not None:
            self._serving = Serving(server, f"local-api-{self._port}")
        return self

    def stop(self, grace_s: float = 10.0) -> None:
        """Stop accepting requests, let those in progress finish (up to `grace_s`), free the port."""
        serving, self._serving = self._serving, None
        server, self._server = self._server, None
        if serving is not None:
            serving.stop(drain=partial(self._wait_for_requests_in_progress, grace_s))
        elif server is not None:  # bound, never served
            server.server_close()

    def _wait_for_requests_in_progress(self, grace_s: float) -> None:
        with self._lock:
            if not self._lock.wait_for(lambda: self._active == 0, timeout=grace_s):
                log.warning("stopping the API with %d request(s) still in progress", self._active)

    def __enter__(self) -> HttpApi:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local API is not running: call start() first")
        return f"http://{self._host}:{self._port}"
