"""A stalled AWS service ends a webhook as the bridge's 503 within the ingest function's timeout, not as a timeout.

The stall is an endpoint on 127.0.0.1 that accepts connections and never answers, which boto3 reaches through
its service-specific endpoint variable (AWS_ENDPOINT_URL_<SERVICE>) while the other services stay on moto.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox
from tests.integration.bridge import running_bridge
from tests.support import load_event

INGEST_TIMEOUT_S = StackTemplate.load().function("IngestFunction").timeout_s


@contextmanager
def stalled_endpoint() -> Iterator[str]:
    """An HTTP endpoint on 127.0.0.1 that accepts every connection and never answers; closed on exit."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)  # held open, never read or answered

    thread = threading.Thread(target=accept, name="stalled-endpoint", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for connection in accepted:
            connection.close()


@pytest.mark.parametrize(
    "variable",
    [
        "AWS_ENDPOINT_URL_SSM",  # the mappings, read at start-up
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",  # the webhook tokens
        "AWS_ENDPOINT_URL_DYNAMODB",  # the delivery ledger (idempotency)
        "AWS_ENDPOINT_URL_SQS",  # the contact queue
        "AWS_ENDPOINT_URL",  # all of them
    ],
)
def test_a_stalled_aws_service_is_answered_503_within_the_ingest_timeout(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # Given a freshly started ingest function whose one AWS dependency accepts connections and never answers
    with (
        stalled_endpoint() as stalled,
        HeymarketSandbox() as sandbox,
        running_bridge(monkeypatch, sandbox, extra_env={variable: stalled}) as bridge,
    ):
        # When a valid webhook arrives
        started = time.monotonic()
        status, body = bridge.post(load_event("generic/single_contact"))
        elapsed_s = time.monotonic() - started

    # Then the sender is told to retry (503), before Lambda would have stopped the function
    assert (status, body["error"]["code"]) == (503, "buffer_unavailable")
    assert elapsed_s < INGEST_TIMEOUT_S - 1
