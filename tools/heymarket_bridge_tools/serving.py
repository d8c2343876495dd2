"""Serving the local stack's HTTP servers (moto, the local API, the Heymarket sandbox) from background threads.

Each server must stop cleanly and free its port while clients still hold keep-alive connections open: a handler
thread blocked reading an idle connection would otherwise keep the server (and the test, or Ctrl-C) waiting.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
from collections.abc import Callable
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
