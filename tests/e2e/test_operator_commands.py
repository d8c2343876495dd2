"""The operator commands a user runs against `heymarket-bridge local`: send, status, dlq, check-credentials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_local_stack import free_ports, wait_for_ready
from tests.support import ROOT, load_event

pytestmark = pytest.mark.e2e

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tools"), str(ROOT / "layers")])}


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`heymarket-bridge local` in tmp_path (where it writes .local/stack.json), a 1 s batching window."""
    api, aws, sandbox = free_ports(3)
    stdout = tmp_path / "stdout"
    with stdout.open("wb") as out, (tmp_path / "stderr").open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "heymarket_bridge_tools.cli",
                "local",
                "--api-port",
                str(api),
                "--aws-port",
                str(aws),
                "--sandbox-port",
                str(sandbox),
                "--batching-window",
                "1",
            ],
            stdout=out,
            stderr=err,
            env=ENV,
            cwd=tmp_path,
        )
    try:
        info = wait_for_ready(process, stdout)
        yield {**info, "cwd": tmp_path}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert not (tmp_path / ".local" / "stack.json").exists()  # removed on a clean stop


def ports(api: int, aws: int, sandbox: int) -> list[str]:
    return ["--api-port", str(api), "--aws-port", str(aws), "--sandbox-port", str(sandbox)]


def bridge(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "heymarket_bridge_tools.cli", *args],
        cwd=cwd,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_send_signs_a_payload_like_its_source_and_the_contact_is_delivered(local_stack: dict[str, Any]) -> None:
    cwd: Path = local_stack["cwd"]
    shopify = load_event("shopify/customers_create")
    payload = cwd / "customer.json"
    payload.write_text(shopify["body"])

    sent = bridge(cwd, "send", str(payload), "--source", "shopify", "--local")

    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.startswith("202")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = bridge(cwd, "status", "--local")
        if "0 waiting, 0 in flight" in status.stdout:
            break
        time.sleep(0.5)
    assert "0 waiting, 0 in flight" in status.stdout
    assert "DLQ    0 dead letter(s)" in status.stdout
    listing = bridge(cwd, "dlq", "list", "--local")
    assert listing.stdout.startswith("0 dead letter(s)")


def test_check_credentials_reports_whether_heymarket_accepts_them(local_stack: dict[str, Any]) -> None:
    checked = bridge(local_stack["cwd"], "check-credentials", "--local")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK: the credentials work")


def test_a_bad_signature_is_refused(local_stack: dict[str, Any]) -> None:
    cwd: Path = local_stack["cwd"]
    payload = cwd / "customer.json"
    payload.write_text(json.dumps({"id": 1, "phone": "+15105550123"}))
    sent = bridge(cwd, "send", str(payload), "--source", "shopify", "--secret", "not-the-secret", "--local")
    assert sent.returncode == 1
    assert sent.stdout.startswith("401")


def test_without_a_running_stack_the_commands_say_so(tmp_path: Path) -> None:
    result = bridge(tmp_path, "dlq", "list")
    assert result.returncode == 2
    assert "no running local stack" in result.stderr
