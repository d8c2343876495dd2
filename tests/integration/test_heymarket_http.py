"""HeymarketHttp over real sockets: answers that are slow, cut, not JSON, redirected, or refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.failures import ConfigurationFailure, Deadline, TransientFailure

Script = Callable[[BaseHTTPRequestHandler], None]


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.paths: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptedServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _any(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.paths.append(f"{self.command} {self.path}")
        self.server.scripts.pop(0)(self)

    do_GET = do_POST = do_DELETE = do_PUT = _any


def answer(status: int, body: bytes, headers: dict[str, str] | None = None, length: int | None = None) -> Script:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.send_header("X-Request-Id", "req-1")
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()

    return send


def trickle(body: bytes, every_s: float) -> Script:
    def send(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for start in range(0, len(body), 4):
                handler.wfile.write(body[start : start + 4])
                handler.wfile.flush()
                time.sleep(every_s)
        except OSError:
            pass  # the client gave up, as it should

    return send


def reset(handler: BaseHTTPRequestHandler) -> None:
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    handler.close_connection = True
    handler.connection.close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class Secret:
    def __init__(self) -> None:
        self.reads: list[bool] = []

    def __call__(self, refresh: bool) -> Credentials:
        self.reads.append(refresh)
        return Credentials(secret_id="sid", secret_key="a-secret-key-long-enough-for-hs256")


def client(server: ScriptedServer, secret: Secret | None = None) -> HeymarketHttp:
    return HeymarketHttp(server.url, Authenticator(secret or Secret()), RequestBudget(6000), read_timeout_s=5)


def test_an_answer_that_trickles_in_past_the_deadline_is_abandoned_at_the_deadline(server: ScriptedServer) -> None:
    server.scripts.append(trickle(b'{"contacts": [], "failed_contacts": []}' * 20, every_s=0.05))  # about 10 s
    started = time.monotonic()

    with pytest.raises(TransientFailure, match=r"still arriving at the deadline|could not be read"):
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(1.0))

    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("script", "problem"),
    [
        (answer(200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}), "text/html"),
        (answer(200, b""), "empty"),
        (answer(200, b'{"contacts": [{"id": 1}], "failed_con'), "not JSON"),
    ],
)
def test_a_2xx_whose_body_is_not_json_is_a_transient_failure(
    server: ScriptedServer, script: Script, problem: str
) -> None:
    server.scripts.append(script)

    with pytest.raises(TransientFailure, match=problem):
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(5))


def test_a_body_cut_short_of_its_content_length_is_a_transient_failure(server: ScriptedServer) -> None:
    server.scripts.append(answer(200, b'{"contacts": [], "failed', length=200))

    with pytest.raises(TransientFailure):
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(2))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_a_configuration_failure_naming_where_it_points(server: ScriptedServer, status: int) -> None:
    server.scripts.append(answer(status, b"", {"Location": "https://www.heymarket.com/login"}))

    with pytest.raises(ConfigurationFailure, match=r"https://www\.heymarket\.com/login.*HeymarketBaseUrl"):
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(5))

    assert len(server.paths) == 1  # not followed


def test_a_reset_connection_is_a_transient_failure(server: ScriptedServer) -> None:
    server.scripts.append(reset)

    with pytest.raises(TransientFailure, match="unreachable"):
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(5))


def test_a_401_rereads_the_secret_and_tries_once_more(server: ScriptedServer) -> None:
    secret = Secret()
    server.scripts += [answer(401, b'{"error_code": "unauthorized"}'), answer(200, b'"ok"')]

    result = client(server, secret).call("DELETE", "/v2/contacts", {"contact_channels": []}, Deadline.after(5))

    assert (result.data, result.request_id) == ("ok", "req-1")
    assert secret.reads == [False, True]


def test_a_401_after_rereading_the_secret_is_a_configuration_failure(server: ScriptedServer) -> None:
    server.scripts += [answer(401, b'{"error_code": "unauthorized"}')] * 2

    with pytest.raises(ConfigurationFailure, match="credentials"):
        client(server).call("GET", "/v1/inboxes", None, Deadline.after(5))

    assert len(server.paths) == 2


def test_a_429_carries_its_retry_after(server: ScriptedServer) -> None:
    server.scripts.append(answer(429, b'{"error_code": "rate_limited"}', {"Retry-After": "3"}))

    with pytest.raises(TransientFailure) as raised:
        client(server).call("POST", "/v2/contacts/search", {}, Deadline.after(5))

    assert (raised.value.throttled, raised.value.retry_after_s) == (True, 3.0)


def slow_headers(handler: BaseHTTPRequestHandler) -> None:
    try:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n":
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)
    except OSError:
        pass  # the client gave up, as it should
    handler.close_connection = True


def test_a_status_line_and_headers_that_trickle_in_past_the_deadline_are_abandoned_at_the_deadline(
    server: ScriptedServer,
) -> None:
    server.scripts.append(slow_headers)  # about 14 s for the headers, each byte well within the read timeout
    started = time.monotonic()

    with pytest.raises(TransientFailure, match="had not begun") as raised:
        client(server).call("POST", "/v2/contacts", {"contacts": []}, Deadline.after(1.0))

    assert time.monotonic() - started < 1.5
    assert raised.value.outcome_unknown
