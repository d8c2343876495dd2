"""The sandbox on a local port: HTTP serving, auth, the rate limit, injected faults, counters and the /_sandbox/
control endpoints around the Heymarket account of endpoints.py."""

from __future__ import annotations

import contextlib
import dataclasses
import random
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from heymarket_sandbox import faults
from heymarket_sandbox.auth import authenticate
from heymarket_sandbox.config import (
    DEFAULT_CONFIG,
    DEFAULT_MAX_BODY_BYTES,
    SETTING_NAMES,
    STOP_KEYWORDS,
    SandboxConfig,
    parse_texts,
)
from heymarket_sandbox.contacts import ContactRejected, WriteListener, render
from heymarket_sandbox.endpoints import HeymarketApi, Route
from heymarket_sandbox.faults import Answer
from heymarket_sandbox.protocol import ApiError, ApiRequest, JsonObject, Reply, bad_data, error_payload
from heymarket_sandbox.serving import Serving, TrackedServer, UnreadableBody, host_is_local, read_body

RATE_WINDOW_SECONDS: Final = 60.0
_SERVE_POLL_SECONDS: Final = 0.02
_CONTROL_ROUTES: Final[dict[str, tuple[str, ...]]] = {
    "/_sandbox/contacts": ("GET",),
    "/_sandbox/lists": ("GET",),
    "/_sandbox/tags": ("GET",),
    "/_sandbox/stats": ("GET",),
    "/_sandbox/reset": ("POST",),
    "/_sandbox/faults": ("GET", "POST"),
    "/_sandbox/app-phone-change": ("POST",),
}


class HeymarketSandbox:
    """A Heymarket API double on a local port: one account's contacts, tags and lists in memory, the documented
    answer shapes, and each undocumented behaviour and fault as a SandboxConfig setting."""

    def __init__(self, config: SandboxConfig = DEFAULT_CONFIG, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)
        self._api = HeymarketApi(self._inject_contact_error)
        self._api.tags.seed(config.account_tags)
        self._throttle_remaining = config.throttle_burst
        self._admitted_at: deque[float] = deque()
        self._requests = 0
        self._by_endpoint: dict[str, int] = {}
        self._by_status: dict[str, int] = {}
        self._connections_reset = 0
        self._answer_faults = 0
        self.requests_log: list[tuple[str, str, int]] = []  # (method, path, status) of every API request
        self.admitted_times: list[float] = []  # time.monotonic() of every request the rate limit admitted
        self._serving: Serving | None = None
        self._stopping = threading.Event()

    # Lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> HeymarketSandbox:
        """Bind and serve in a background daemon thread (again on the same port after stop())."""
        if self._serving is not None:
            return self
        server = _SandboxServer((self._host, self._port), self)
        self._port = server.server_address[1]
        self._stopping.clear()
        self._serving = Serving(server, f"heymarket-sandbox-{self._port}", _SERVE_POLL_SECONDS)
        return self

    def stop(self) -> None:
        """Stop serving, end trickling answers and open connections, free the port; safe to call twice."""
        serving, self._serving = self._serving, None
        if serving is not None:
            self._stopping.set()
            serving.stop()

    def __enter__(self) -> HeymarketSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running sandbox, e.g. http://127.0.0.1:54321."""
        if self._port == 0:
            raise RuntimeError("the sandbox has no port yet: call start() first")
        return f"http://{self._host}:{self._port}"

    # Inspection and control ----------------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def contacts(self) -> list[JsonObject]:
        """Every stored contact as a Contact object with both its integer `id` and its `uuid`, oldest first."""
        with self._lock:
            return [render(contact, with_uuid=True) for contact in self._api.contacts]

    def lists(self) -> list[JsonObject]:
        """Every list, oldest first: `{"id", "uuid", "local_id", "title", "type", "rev", "created", "updated",
        "contacts": [member ids], "phones": [their phones], "emails": [their emails]}`."""
        with self._lock:
            listed: list[JsonObject] = []
            for contact_list in self._api.lists:
                members = [self._api.contacts.by_id(member) for member in contact_list.members]
                listed.append(
                    {
                        "id": contact_list.id,
                        "uuid": contact_list.uuid,
                        "local_id": contact_list.local_id,
                        "title": contact_list.title,
                        "type": contact_list.type,
                        "rev": contact_list.rev,
                        "created": contact_list.created,
                        "updated": contact_list.updated,
                        "contacts": list(contact_list.members),
                        "phones": [member.phone for member in members if member is not None and member.phone],
                        "emails": [member.email for member in members if member is not None and member.email],
                    }
                )
            return listed

    def tags(self) -> list[JsonObject]:
        """Every tag as POST /v1/tags lists it, plus its `uuid`, oldest first."""
        with self._lock:
            return [{**tag.render(), "uuid": tag.uuid} for tag in self._api.tags]

    def stats(self) -> JsonObject:
        """Counters of API requests (not /_sandbox/ ones) and of what the account holds."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_endpoint": dict(self._by_endpoint),
                "by_status": dict(self._by_status),
                "contacts_written": self._api.contacts.written,
                "contacts_stored": len(self._api.contacts),
                "lists_stored": len(self._api.lists),
                "tags_stored": len(self._api.tags),
                "connections_reset": self._connections_reset,
                "answer_faults": self._answer_faults,
            }

    def reset(self) -> None:
        """Forget contacts, tags (but SandboxConfig.account_tags), lists, counters, the request log and the
        rate-limit window; settings and write listeners stay."""
        with self._lock:
            self._api.clear()
            self._api.tags.seed(self._config.account_tags)
            self._requests = 0
            self._by_endpoint.clear()
            self._by_status.clear()
            self._connections_reset = 0
            self._answer_faults = 0
            self._admitted_at.clear()
            self.admitted_times.clear()
            self.requests_log.clear()

    def configure(self, **changes: Any) -> None:
        """Change settings at runtime; names are SandboxConfig's. Raises ValueError on bad input."""
        unknown = set(changes) - SETTING_NAMES
        if unknown:
            raise ValueError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._config = dataclasses.replace(self._config, **changes)
            if "throttle_burst" in changes:
                self._throttle_remaining = self._config.throttle_burst
            if "seed" in changes:
                self._rng.seed(self._config.seed)
            if "account_tags" in changes:
                self._api.tags.seed(self._config.account_tags)
            if "texts" in changes:
                self._texted(self._config.texts)

    def text(self, phone: str, keyword: str) -> int:
        """`keyword` (STOP, START, ...) texted from `phone` to the account's number: the contacts holding the phone
        change their opt-out as Heymarket's app does, with no API request. Returns how many changed. Raises
        ValueError for a keyword that is neither."""
        with self._lock:
            return self._texted(parse_texts([f"{phone}:{keyword}"]))

    def _texted(self, texts: tuple[str, ...]) -> int:
        changed = 0
        for text in texts:
            phone, _, keyword = text.partition(":")
            changed += self._api.contacts.text(phone, keyword in STOP_KEYWORDS)
        return changed

    def change_phone_in_app(self, contact: int | str, phone: str) -> JsonObject:
        """Change a stored contact's phone (by integer id or UUID) as a person does in Heymarket's app: no API
        request, nothing counted, no write listener called. Returns the contact as `contacts()` shows it. Raises
        LookupError for an unknown contact, ValueError for a phone that is not E.164 digits or is held already."""
        with self._lock:
            store = self._api.contacts
            found = store.by_id(contact) if isinstance(contact, int) else store.by_uuid(contact)
            if found is None:
                raise LookupError(f"no contact {contact!r}")
            try:
                changed = store.change_phone_in_app(found, phone)
            except ContactRejected as error:
                raise ValueError(str(error)) from error
            return render(changed, with_uuid=True)

    def rotate_credentials(self, secret_id: str, secret_key: str) -> None:
        """Replace the JWT secret pair; tokens signed with the old pair fail from now on."""
        self.configure(secret_id=secret_id, secret_key=secret_key)

    def add_write_listener(self, listener: WriteListener) -> Callable[[], None]:
        """Call `listener(ContactWrite)` for every contact create, update and delete the sandbox stores, from
        whichever API endpoint, in the order stored; returns a function that removes it. The listener runs in
        the request's thread under the sandbox's lock: it must be quick and must not call the sandbox."""
        with self._lock:
            self._api.contacts.listeners.append(listener)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._api.contacts.listeners.remove(listener)

        return remove

    # Request handling (called from the HTTP handler threads) -------------------------------------------------

    def _handle_api(self, method: str, target: str, authorization: str | None, body: bytes) -> tuple[str, Answer]:
        """Answer one API request; returns the request path (without query) and the answer."""
        split = urlsplit(target)
        route = self._api.route(method, split.path)
        with self._lock:
            self._count(route.name)
            config = self._config
            fault = self._draw_fault(config, route)
        if config.latency_ms and (not config.latency_endpoints or route.name in config.latency_endpoints):
            time.sleep(config.latency_ms / 1000)
        diverted = faults.before_request(fault, config, f"{self.url}/moved{target}")
        if diverted is not None:
            with self._lock:
                self._answer_faults += 1
            return split.path, diverted
        try:
            authenticate(authorization, config)
            self._admit(config)
            request = ApiRequest(method, split.path, parse_qs(split.query), body, route.path_param)
            reply = self._call(route, request, config)
        except ApiError as error:
            reply = error.reply()
        if fault != "none" and 200 <= reply.status < 300:
            with self._lock:
                self._answer_faults += 1
        return split.path, faults.after_request(fault, config, reply)

    def _call(self, route: Route, request: ApiRequest, config: SandboxConfig) -> Reply:
        if route.endpoint is None and not route.allowed:
            raise ApiError(HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {request.path}")
        if route.endpoint is None:
            return Reply(
                HTTPStatus.METHOD_NOT_ALLOWED,
                error_payload("method_not_allowed", f"{request.method} is not allowed on {request.path}"),
                (("Allow", ", ".join(route.allowed)),),
            )
        if route.name in config.forbidden_endpoints:
            raise ApiError(HTTPStatus.FORBIDDEN, "forbidden", f"these credentials have no access to {route.name}")
        with self._lock:
            return route.endpoint(request, config)

    def _count(self, endpoint_name: str) -> None:
        self._requests += 1
        self._by_endpoint[endpoint_name] = self._by_endpoint.get(endpoint_name, 0) + 1

    def _draw_fault(self, config: SandboxConfig, route: Route) -> str:
        """The answer fault for this request ("none" unless SandboxConfig.answer_fault* select it)."""
        if config.answer_fault == "none" or route.endpoint is None:
            return "none"
        if config.answer_fault_endpoints and route.name not in config.answer_fault_endpoints:
            return "none"
        # No draw at rate 1: the seeded sequence of the other faults stays as it was.
        if config.answer_fault_rate < 1.0 and self._rng.random() >= config.answer_fault_rate:
            return "none"
        return config.answer_fault

    def _admit(self, config: SandboxConfig) -> None:
        """Apply the rate limit, then the injected 429 burst, then the injected 500s."""
        retry_after = () if config.retry_after_s is None else (("Retry-After", str(config.retry_after_s)),)
        with self._lock:
            now = time.monotonic()
            window = self._admitted_at
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= config.rate_limit_per_minute:
                raise ApiError(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    "rate_limited",
                    f"more than {config.rate_limit_per_minute} requests in 60 seconds",
                    retry_after,
                )
            window.append(now)
            self.admitted_times.append(now)
            if self._throttle_remaining > 0:
                self._throttle_remaining -= 1
                raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", "throttled (injected burst)", retry_after)
            if config.fail_rate > 0 and self._rng.random() < config.fail_rate:
                raise ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "injected server error")

    def _refuse_unreadable(self, method: str, target: str, error: UnreadableBody) -> tuple[str, Answer]:
        """Count an API request whose body cannot be read; its answer (413 or 400)."""
        path = urlsplit(target).path
        with self._lock:
            self._count(self._api.route(method, path).name)
        if error.too_large:
            refusal = ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large", f"body: {error}")
        else:
            refusal = bad_data(f"body: {error}")
        return path, faults.encode(refusal.reply())

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            key = str(status)
            self._by_status[key] = self._by_status.get(key, 0) + 1
            self.requests_log.append((method, path, status))

    def _inject_reset(self) -> bool:
        """Whether to drop this API request's connection instead of answering (SandboxConfig.reset_rate)."""
        with self._lock:
            if self._config.reset_rate > 0 and self._rng.random() < self._config.reset_rate:
                self._connections_reset += 1
                return True
            return False

    def _inject_contact_error(self, config: SandboxConfig) -> bool:
        """Whether to fail this contact of a bulk write (SandboxConfig.contact_error_rate); called under the lock."""
        return config.contact_error_rate > 0 and self._rng.random() < config.contact_error_rate

    def _handle_control(self, method: str, target: str, body: bytes) -> Answer:
        """Answer a /_sandbox/ request: no auth, no counting, no faults."""
        path = urlsplit(target).path
        allowed = _CONTROL_ROUTES.get(path)
        if allowed is None:
            return faults.encode(ApiError(HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {path}").reply())
        if method not in allowed:
            return faults.encode(
                Reply(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    error_payload("method_not_allowed", f"{method} is not allowed on {path}"),
                    (("Allow", ", ".join(allowed)),),
                )
            )
        readers: dict[str, Callable[[], object]] = {
            "/_sandbox/contacts": self.contacts,
            "/_sandbox/lists": self.lists,
            "/_sandbox/tags": self.tags,
            "/_sandbox/stats": self.stats,
        }
        if path in readers:
            return faults.encode(Reply(HTTPStatus.OK, readers[path]()))
        if path == "/_sandbox/reset":
            self.reset()
            return faults.encode(Reply(HTTPStatus.OK, {"reset": True}))
        if path == "/_sandbox/app-phone-change":
            return faults.encode(self._app_phone_change(body))
        if method == "POST":
            try:
                changes = ApiRequest(method, path, {}, body).json_object()
                self.configure(**changes)
            except ValueError as error:
                return faults.encode(bad_data(str(error)).reply())
            except ApiError as error:
                return faults.encode(error.reply())
        return faults.encode(Reply(HTTPStatus.OK, dataclasses.asdict(self.config)))

    def _app_phone_change(self, body: bytes) -> Reply:
        """`POST /_sandbox/app-phone-change` `{"contact": <id or UUID>, "phone": "<E.164 digits>"}`: the contact
        as changed, 404 for an unknown contact, 400 for a bad phone."""
        try:
            sent = ApiRequest("POST", "/_sandbox/app-phone-change", {}, body).json_object()
            contact, phone = sent.get("contact"), sent.get("phone")
            if isinstance(contact, bool) or not isinstance(contact, int | str) or not isinstance(phone, str):
                raise bad_data('send {"contact": <integer id or UUID>, "phone": "<E.164 digits>"}')
            return Reply(HTTPStatus.OK, self.change_phone_in_app(contact, phone))
        except LookupError as error:
            return ApiError(HTTPStatus.NOT_FOUND, "not_found", str(error)).reply()
        except ValueError as error:
            return bad_data(str(error)).reply()
        except ApiError as error:
            return error.reply()


_LOCAL_ONLY = "the /_sandbox/ endpoints answer only Host 127.0.0.1:<port>, localhost:<port> or [::1]:<port>"


class _SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HeymarketSandbox/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY keep-alive clients stall ~40 ms each.
    disable_nagle_algorithm = True
    server: _SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the sandbox runs inside test and benchmark output."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, oversized headers) in JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send(faults.encode(Reply(code, error_payload("http_error", message or phrase))), close=True)

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        path = urlsplit(self.path).path
        is_control = path.startswith("/_sandbox/")
        if is_control and not host_is_local(self):  # DNS rebinding: another site's page resolved to 127.0.0.1
            self._send(faults.encode(ApiError(HTTPStatus.FORBIDDEN, "forbidden_host", _LOCAL_ONLY).reply()), close=True)
            return
        try:
            body = read_body(self, DEFAULT_MAX_BODY_BYTES if is_control else sandbox.config.max_body_bytes)
        except UnreadableBody as error:  # answered, then the connection is closed
            if is_control:
                answer = faults.encode(bad_data(f"body: {error}").reply())
            else:
                path, answer = sandbox._refuse_unreadable(self.command, self.path, error)
                sandbox._record(self.command, path, answer.status)
            self._send(answer, close=True)
            return
        try:
            if is_control:
                answer = sandbox._handle_control(self.command, self.path, body)
            else:
                path, answer = sandbox._handle_api(self.command, self.path, self.headers.get("Authorization"), body)
        except Exception:  # noqa: BLE001 - a sandbox bug must still answer in JSON, not drop the connection
            answer = faults.encode(
                ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "unexpected sandbox error").reply()
            )
        if not is_control and sandbox._inject_reset():
            self._reset_connection()
            return
        if not is_control:
            # Recorded before the answer is written, so a client that has its answer sees it counted.
            sandbox._record(self.command, path, answer.status)
        self._send(answer)

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP reset and no answer (linger 0 makes close() send RST, not FIN)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _send(self, answer: Answer, *, close: bool = False) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for name, value in answer.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        chunks = answer.chunks()
        if len(chunks) == 1:
            self.wfile.write(chunks[0])
            return
        pause = answer.trickle_seconds / len(chunks)
        for chunk in chunks:
            if self.server.sandbox._stopping.wait(pause):
                self.close_connection = True
                return
            self.wfile.write(chunk)


class _SandboxServer(TrackedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: HeymarketSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _SandboxRequestHandler)
