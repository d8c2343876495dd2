"""The whole local stack the way a user runs it: webhooks over HTTP, moto, the real handlers, the sandbox."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3

from heymarket_bridge_tools import demo
from heymarket_local.stack import LocalStack
from heymarket_sandbox import SandboxConfig
from tests.e2e.stacks import StartStack, stack_threads
from tests.support import ROOT, demo_webhook_secrets, load_event

pytestmark = pytest.mark.e2e

GENERIC_TOKEN = demo_webhook_secrets()["generic"]


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    with urllib3.PoolManager(retries=False, timeout=10.0) as pool:
        yield pool


def post_json(http: urllib3.PoolManager, stack: LocalStack, body: Any) -> tuple[int, dict[str, Any]]:
    response = http.request(
        "POST",
        stack.webhook_url("generic"),
        body=body if isinstance(body, str) else json.dumps(body),
        headers={"Authorization": f"Bearer {GENERIC_TOKEN}", "Content-Type": "application/json"},
    )
    return response.status, json.loads(response.data)


def test_contacts_posted_over_http_reach_the_sandbox_with_their_fields(
    start_stack: StartStack, http: urllib3.PoolManager
) -> None:
    stack = start_stack()

    status, reply = post_json(http, stack, load_event("generic/mixed_contacts")["body"])

    assert status == 202
    assert reply["accepted"] == 3
    assert [rejection["index"] for rejection in reply["rejected"]] == [2]
    assert stack.wait_until_drained(20)
    assert stack.sandbox is not None
    contacts = {contact["phone"]: contact for contact in stack.sandbox.contacts()}
    assert sorted(contacts) == ["14155550100", "15105551234", "442079460958"]
    alice = contacts["15105551234"]
    assert (alice["first"], alice["last"], alice["email"]) == ("Alice", "Smith", "alice@example.com")
    assert alice["custom"] == {"101": "Spring open day"}
    assert contacts["14155550100"]["display_name"] == "Dan at Acme"
    assert contacts["442079460958"]["is_opted_out"] is False
    # The one refused is a refusal letter (the sender's answer reaches nobody); nothing failed at sync
    [letter] = [json.loads(body) for body in stack.dead_letter_bodies()]
    assert (letter["kind"], letter["source"], letter["fields"]["first"]) == ("refused_at_ingest", "generic", "Carol")


def test_a_wrong_token_is_refused_and_nothing_is_queued(start_stack: StartStack, http: urllib3.PoolManager) -> None:
    stack = start_stack()

    response = http.request(
        "POST",
        stack.webhook_url("generic"),
        body=json.dumps({"phone": "+15105550199"}),
        headers={"Authorization": "Bearer not-the-token", "Content-Type": "application/json"},
    )

    assert response.status == 401
    assert stack.status().queued == 0


def test_with_30_percent_heymarket_faults_every_accepted_contact_is_delivered_or_dead_lettered_with_a_reason(
    start_stack: StartStack, http: urllib3.PoolManager
) -> None:
    stack = start_stack(
        # Small batches make many Heymarket requests, so faults surely happen; a generous rate limit keeps it quick.
        {"BatchSize": 2, "MaxReceiveCount": 2, "HeymarketRateLimitPerMinute": 6000},
        sandbox=SandboxConfig(fail_rate=0.3, seed=11),
        # Invocations of half a second: a failing contact is soon left to SQS, redelivered, then dead-lettered.
        environment={"SYNC_DEADLINE_RESERVE": "59.5"},
    )
    phones = [f"1415555{number:04d}" for number in range(100, 120)]
    for half in (phones[:10], phones[10:]):
        status, reply = post_json(http, stack, {"contacts": [{"phone": f"+{p}", "first": "Fault"} for p in half]})
        assert (status, reply["accepted"]) == (202, 10)

    assert stack.wait_until_drained(40)

    assert stack.sandbox is not None
    delivered = {contact["phone"] for contact in stack.sandbox.contacts()}
    letters = [json.loads(body) for body in stack.dead_letter_bodies()]
    dead_lettered = {letter["contact"]["phone"] for letter in letters}
    assert delivered | dead_lettered == set(phones)
    assert all(letter["error"].strip() for letter in letters)
    assert stack.sandbox.stats()["by_status"].get("500", 0) > 0


def test_the_demo_posts_every_sample_and_accounts_for_every_contact(tmp_path: Path) -> None:
    out = io.StringIO()

    status = demo.run_demo(
        parameter_overrides={"BatchingWindowSeconds": 1}, log_file=tmp_path / "handlers.log", out=out
    )

    summary = out.getvalue()
    assert status == 0, summary
    assert "generic/mixed_contacts.json: 3 accepted, 1 rejected" in summary
    # Salesforce is answered with a SOAP Ack; its third notification (no phone) is counted all the same
    assert "salesforce/outbound_message.json: 2 accepted, 1 rejected" in summary
    assert "Received       31 contacts" in summary  # every sample of events/ (README and quickstart show the same run)
    assert "OK: every accepted contact was delivered or dead-lettered" in summary
    assert (tmp_path / "handlers.log").read_text().strip()
    assert stack_threads() == []


# ---------------------------------------------------------------------- `heymarket-bridge local` as a process


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def port_is_free(port: int) -> bool:
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError:
        return False
    return True


def wait_for_ready(process: subprocess.Popen[bytes], stdout: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in stdout.read_text(errors="replace").splitlines():
            if line.startswith("READY "):
                info: dict[str, Any] = json.loads(line[len("READY ") :])
                return info
        assert process.poll() is None, f"exited with {process.returncode} before READY"
        time.sleep(0.1)
    raise AssertionError("no READY line in time")


def state_tokens(info: dict[str, Any]) -> dict[str, str]:
    """The webhook tokens of the stack that printed `info` (READY), read from its state file (mode 0600)."""
    state = Path(info["state_file"])
    assert state.stat().st_mode & 0o077 == 0
    tokens: dict[str, str] = json.loads(state.read_text())["webhook_secrets"]
    return tokens


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_local_stops_cleanly_on_a_signal_and_frees_its_ports(
    tmp_path: Path, http: urllib3.PoolManager, stop_signal: signal.Signals
) -> None:
    api_port, aws_port, sandbox_port = free_ports(3)
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tools"), str(ROOT / "layers")])}
    ports = ["--api-port", str(api_port), "--aws-port", str(aws_port), "--sandbox-port", str(sandbox_port)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "heymarket_bridge_tools.cli", "local", *ports],
            stdout=out,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
    try:
        info = wait_for_ready(process, stdout)
        assert info["api_url"] == f"http://127.0.0.1:{api_port}"
        assert info["aws_endpoint_url"] == f"http://127.0.0.1:{aws_port}"
        assert info["heymarket_url"] == f"http://127.0.0.1:{sandbox_port}"
        assert {"queue_url", "dlq_url", "webhook_secrets"} <= set(info)
        tokens = state_tokens(info)
        assert sorted(tokens) == info["webhook_secrets"]  # names on the terminal, values only in the state file
        terminal = stdout.read_text() + stderr.read_text()
        assert not [name for name, value in tokens.items() if value in terminal]
        token = tokens["generic"]
        response = http.request(
            "POST",
            f"{info['api_url']}/webhooks/generic",
            body=json.dumps({"phone": "+15105550199"}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        assert response.status == 202
        http.clear()  # a client keeping its connection must not hold the server up, but close ours anyway

        stopped_at = time.monotonic()
        process.send_signal(stop_signal)
        returncode = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert returncode == 0, stderr.read_text()
    assert time.monotonic() - stopped_at < 10
    assert "stopped" in stderr.read_text()
    assert all(port_is_free(port) for port in (api_port, aws_port, sandbox_port))
