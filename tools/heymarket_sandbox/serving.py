"""Serving the local stack's HTTP servers (moto, the local API, the Heymarket sandbox) from background threads.

The API and the sandbox share reading request bodies (`read_body`). Each server must stop cleanly and free its
port while clients still hold keep-alive connections open: a handler thread blocked reading an idle connection
would otherwise keep the server (and the test, or Ctrl-C) waiting.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from io import BufferedIOBase
from typing import Any


class TrackedServer(socketserver.BaseServer):
    """Mixin (first among the bases) for a socketserver or werkzeug server: tracks open connections so that
    `close_connections` can end idle keep-alive ones, and stays quiet when a client goes away mid-answer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        if isinstance(request, socket.socket):
            with self._connections_lock:
                self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so that they end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client may have closed it already
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # the client went away mid-answer, which tests and benchmarks do on purpose
        super().handle_error(request, client_address)


class Serving:
    """A TrackedServer served from a daemon thread named `name`, until `stop`."""

    def __init__(self, server: TrackedServer, name: str, poll_interval_s: float = 0.05) -> None:
        self.server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": poll_interval_s}, name=name, daemon=True
        )
        self._thread.start()

    def stop(self, drain: Callable[[], None] | None = None) -> None:
        """Stop accepting, run `drain` (e.g. wait for requests in progress), end open connections, free the port."""
        self.server.shutdown()
        if drain is not None:
            drain()
        self.server.close_connections()
        self.server.server_close()
        self._thread.join()


class UnreadableBody(Exception):
    """A request body that cannot be read (its message says why); `too_large` when it exceeds the limit."""

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def read_body(handler: BaseHTTPRequestHandler, limit: int) -> bytes:
    """The body of the request `handler` is answering: by Content-Length, or chunked."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return _read_chunked(handler.rfile, limit)
    length_header = handler.headers.get("Content-Length")
    if length_header is None:
        return b""
    try:
        length = int(length_header)
    except ValueError:
        raise UnreadableBody("invalid Content-Length") from None
    if length < 0:
        raise UnreadableBody("invalid Content-Length")
    if length > limit:
        raise UnreadableBody("request body too large", too_large=True)
    return handler.rfile.read(length)


def _read_chunked(rfile: BufferedIOBase, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while True:
        size_line = rfile.readline(1024)
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise UnreadableBody("malformed chunked body") from None
        if size == 0:
            while rfile.readline(1024).strip():  # trailers, up to the blank line
                pass
            return b"".join(chunks)
        total += size
        if total > limit:
            raise UnreadableBody("request body too large", too_large=True)
        chunks.append(rfile.read(size))
        rfile.readline(1024)


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_WILDCARDS = ("", "0.0.0.0", "::")  # noqa: S104 - the names of a wildcard bind, compared, never bound here


def host_is_local(handler: BaseHTTPRequestHandler) -> bool:
    """Whether the request's Host header names this server as this machine does: 127.0.0.1:<port>,
    localhost:<port> or [::1]:<port> (or the address it is bound to, when that is a specific one).

    Refusing any other Host defeats DNS rebinding: a web page on attacker.example whose name is made to resolve to
    127.0.0.1 reaches the port from the victim's browser, but its requests carry Host: attacker.example.
    """
    address: Any = handler.server.server_address  # (host, port, ...) for the IP servers here
    host, port = str(address[0]), address[1]
    names = {*_LOOPBACK_NAMES, *(() if host in _WILDCARDS else (f"[{host}]" if ":" in host else host,))}
    return handler.headers.get("Host", "").strip().lower() in {f"{name}:{port}" for name in names}
