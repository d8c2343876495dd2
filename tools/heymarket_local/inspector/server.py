"""The inspector of a running local stack, as ngrok serves one for its tunnels: `Inspector`.

Served on 127.0.0.1 only, on a port of its own (never the API's, which a tunnel exposes to the Internet):

- `GET /_inspector`: the page (page.py: one HTML document, its CSS and script inline, no external asset);
- `GET /_inspector/api/activity?after=CURSOR`: the journal's JSON (journal.py, `Journal.snapshot`), every delivery
  and Heymarket request changed after CURSOR (0: all), with the next cursor; the page polls it every second.

Fed by the stack's callbacks (`on_exchange`, `on_batch`, given to `LocalStack`), the sync function's log records
(through a handler on the Powertools logger while it runs), and with the built-in sandbox its stored writes
(`add_write_listener`) and its request log (`requests_log`: method, path, status; read every REQUESTS_POLL_S, which
times each request to within that).
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from heymarket_local.api import ApiExchange
from heymarket_local.aws import LOCAL_HOST
from heymarket_local.inspector.journal import Journal
from heymarket_local.inspector.page import PAGE_HTML
from heymarket_local.poller import BatchResult
from heymarket_sandbox import ContactWrite, HeymarketSandbox
from heymarket_sandbox.serving import Serving, TrackedServer, host_is_local

PAGE_PATH: Final = "/_inspector"
REQUESTS_POLL_S: Final = 0.2
ACTIVITY_PATH: Final = "/_inspector/api/activity"
# The page is the only document: no framing, no other origin's scripts, no referrer leaving this machine.
_SECURITY_HEADERS: Final = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)


class _InspectorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "heymarket-bridge-inspector"
    sys_version = ""
    server: _InspectorServer

    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the terminal shows the stack's activity, not the page's polls."""

    def do_GET(self) -> None:
        target = urlsplit(self.path)
        if not host_is_local(self):  # DNS rebinding: a page of another site resolved to 127.0.0.1
            self._send_json(
                HTTPStatus.FORBIDDEN,
                {"error": f"open the inspector as http://127.0.0.1:{self.server.server_address[1]}{PAGE_PATH}"},
            )
        elif target.path in (PAGE_PATH, PAGE_PATH + "/"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", PAGE_HTML.encode("utf-8"))
        elif target.path == ACTIVITY_PATH:
            after = _cursor(parse_qs(target.query).get("after", ["0"])[0])
            if after is None:
                self._send_json(HTTPStatus.BAD_REQUEST, {"error": "after must be a whole number (a cursor)"})
                return
            self._send_json(HTTPStatus.OK, self.server.inspector.snapshot(after))
        else:
            self._send_json(HTTPStatus.NOT_FOUND, {"error": f"no page {target.path}; the inspector is {PAGE_PATH}"})

    def _send_json(self, status: HTTPStatus, body: Any) -> None:
        self._send(status, "application/json", json.dumps(body).encode("utf-8"))

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in _SECURITY_HEADERS:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def _cursor(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


class _InspectorServer(TrackedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], inspector: Inspector) -> None:
        self.inspector = inspector
        super().__init__(address, _InspectorHandler)


class Inspector:
    """The inspector page of a local stack on http://127.0.0.1:<port>/_inspector (port 0: a free one)."""

    def __init__(self, port: int = 0) -> None:
        self.journal = Journal()
        self._port = port
        self._serving: Serving | None = None
        self._sandbox: HeymarketSandbox | None = None
        self._requests_seen = 0
        self._requests_lock = threading.Lock()
        self._undo: list[Any] = []

    # The stack's callbacks (LocalStack's on_exchange and on_batch).
    def on_exchange(self, exchange: ApiExchange) -> None:
        self.journal.record_exchange(exchange)

    def on_batch(self, result: BatchResult) -> None:
        self.journal.record_batch(result)

    def start(self, sandbox: HeymarketSandbox | None = None) -> Inspector:
        """Listen (OSError when the port is taken) and follow the sync function's logs and, when given, the
        sandbox's writes and requests."""
        from heymarket_bridge.observability import logger as powertools_logger

        if self._serving is not None:
            return self
        server = _InspectorServer((LOCAL_HOST, self._port), self)
        self._port = server.server_address[1]
        self._serving = Serving(server, f"local-inspector-{self._port}")
        std_logger: Any = powertools_logger  # Powertools hands addHandler/removeHandler to its std logger
        std_logger.addHandler(self.journal.fates)
        self._undo.append(lambda: std_logger.removeHandler(self.journal.fates))
        if sandbox is not None:
            self._sandbox = sandbox
            self._undo.append(sandbox.add_write_listener(self._record_write))
            # The sandbox's request log holds no time: read it often, so that each request is timed to within
            # REQUESTS_POLL_S of its answer.
            stop = threading.Event()
            follower = threading.Thread(target=self._follow_requests, args=(stop,), name="local-inspector-requests")
            follower.daemon = True
            follower.start()
            self._undo.append(follower.join)  # undone last to first: the follower is told to stop, then joined
            self._undo.append(stop.set)
        return self

    def _follow_requests(self, stop: threading.Event) -> None:
        while not stop.wait(REQUESTS_POLL_S):
            self._read_requests()

    def _record_write(self, change: ContactWrite) -> None:
        phone = change.contact.get("phone") if isinstance(change.contact, dict) else None
        if isinstance(phone, str) and phone:
            self.journal.record_write(change.op, phone)

    def _read_requests(self) -> None:
        """Record the sandbox's requests answered since the last look."""
        if self._sandbox is None:
            return
        with self._requests_lock:  # the follower and a page's poll must not record a request twice
            log = self._sandbox.requests_log
            if len(log) < self._requests_seen:  # the sandbox was reset
                self._requests_seen = 0
            new = log[self._requests_seen :]
            self._requests_seen += len(new)
            self.journal.record_requests(new)

    def snapshot(self, after: int) -> dict[str, Any]:
        """The journal's JSON after `after`, the sandbox's newest requests read first."""
        self._read_requests()
        return self.journal.snapshot(after)

    def stop(self) -> None:
        """Stop serving and following; safe to call twice."""
        while self._undo:
            try:
                self._undo.pop()()
            except Exception:  # keep undoing the rest
                logging.getLogger(__name__).exception("stopping the inspector")
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    @property
    def url(self) -> str:
        """The page's URL."""
        if self._serving is None:
            raise RuntimeError("the inspector is not running: call start() first")
        return f"http://{LOCAL_HOST}:{self._port}{PAGE_PATH}"

    def __enter__(self) -> Inspector:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
