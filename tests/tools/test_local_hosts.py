"""The local servers a browser can reach (the inspector, the sandbox's /_sandbox/ endpoints) answer only requests
that name them as this machine does: DNS rebinding (another site's name resolved to 127.0.0.1) gets a 403."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from heymarket_local.inspector.server import ACTIVITY_PATH, PAGE_PATH, Inspector
from heymarket_sandbox import HeymarketSandbox


def get(url: str, path: str, host: str | None) -> tuple[int, bytes]:
    """GET `path` from the server at `url`, its Host header `host` (None: the one the URL gives)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            connection.putheader("Host", host)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@pytest.fixture(scope="module")
def inspector() -> Iterator[Inspector]:
    running = Inspector(0).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HeymarketSandbox]:
    with HeymarketSandbox() as running:
        yield running


def port_of(url: str) -> int:
    return urlsplit(url).port or 0


@pytest.mark.parametrize("path", [PAGE_PATH, ACTIVITY_PATH + "?after=0"])
@pytest.mark.parametrize("host", ["attacker.example:{port}", "attacker.example", "127.0.0.1:1", ""])
def test_the_inspector_refuses_a_host_that_is_not_this_machine(inspector: Inspector, path: str, host: str) -> None:
    status, body = get(inspector.url, path, host.format(port=port_of(inspector.url)))

    assert status == 403
    assert "127.0.0.1" in json.loads(body)["error"]


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}"])
def test_the_inspector_answers_its_own_names(inspector: Inspector, host: str) -> None:
    status, _ = get(inspector.url, ACTIVITY_PATH + "?after=0", host.format(port=port_of(inspector.url)))

    assert status == 200


@pytest.mark.parametrize("path", ["/_sandbox/contacts", "/_sandbox/stats", "/_sandbox/faults"])
def test_the_sandbox_read_endpoints_refuse_another_host_and_answer_their_own(
    sandbox: HeymarketSandbox, path: str
) -> None:
    port = port_of(sandbox.url)

    refused, body = get(sandbox.url, path, f"rebound.example:{port}")
    answered, _ = get(sandbox.url, path, f"localhost:{port}")

    assert refused == 403
    assert "127.0.0.1" in body.decode()
    assert answered == 200
