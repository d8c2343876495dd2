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

from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from tests.e2e.test_local_stack import free_ports, state_tokens, wait_for_ready
from tests.support import ROOT, load_event

pytestmark = pytest.mark.e2e

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tools"), str(ROOT / "layers")])}


@pytest.fixture
def local_stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`heymarket-bridge local` in tmp_path (where it writes .local/stacks/<api port>.json), a 1 s batching window."""
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
        yield {**info, "cwd": tmp_path, "api_port": api, "tokens": state_tokens(info)}
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
    assert not (tmp_path / ".local" / "stacks" / f"{api}.json").exists()  # removed on a clean stop


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

    sent = bridge(cwd, "send", "shopify", "--file", str(payload), "--local")

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


def test_a_forced_redrive_of_an_empty_dlq_moves_nothing_and_says_so(local_stack: dict[str, Any]) -> None:
    redriven = bridge(local_stack["cwd"], "dlq", "redrive", "--force", "--local")

    assert redriven.returncode == 0, redriven.stdout + redriven.stderr
    assert "moved 0, failed 0" in redriven.stdout


def test_check_credentials_reports_whether_heymarket_accepts_them(local_stack: dict[str, Any]) -> None:
    checked = bridge(local_stack["cwd"], "check-credentials", "--local")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("OK: the credentials work")


def test_a_bad_signature_is_refused(local_stack: dict[str, Any]) -> None:
    cwd: Path = local_stack["cwd"]
    payload = cwd / "customer.json"
    payload.write_text(json.dumps({"id": 1, "phone": "+15105550123"}))
    sent = bridge(cwd, "send", "shopify", "--file", str(payload), "--secret", "not-the-secret", "--local")
    assert sent.returncode == 1
    assert sent.stdout.startswith("401")


def test_every_source_s_bundled_sample_is_accepted_by_the_local_stack(local_stack: dict[str, Any]) -> None:
    assert SOURCE_NAMES  # every source the bridge has: a source whose sample is refused fails here
    for source in sorted(SOURCE_NAMES):
        sent = bridge(local_stack["cwd"], "send", source)
        assert sent.returncode == 0, f"{source}: {sent.stdout}{sent.stderr}"
        assert sent.stdout.startswith(("202", "200")), source


def test_an_events_file_is_unwrapped_to_the_body_it_carries(local_stack: dict[str, Any]) -> None:
    sent = bridge(local_stack["cwd"], "send", "typeform", "--file", str(ROOT / "events/typeform/form_response.json"))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "is an API Gateway event" in sent.stderr


def test_a_second_local_on_a_busy_port_fails_clearly_and_leaves_the_first_s_state(local_stack: dict[str, Any]) -> None:
    cwd: Path = local_stack["cwd"]
    state = cwd / ".local" / "stacks" / f"{local_stack['api_port']}.json"
    before = state.read_text()

    second = bridge(cwd, "local", "--api-port", str(local_stack["api_port"]))

    assert second.returncode == 1
    assert "cannot listen on" in second.stderr
    assert "Traceback" not in second.stderr
    assert state.read_text() == before
    assert bridge(cwd, "status").returncode == 0


def test_an_opt_out_sent_to_the_local_stack_is_exported_from_its_consent_record(local_stack: dict[str, Any]) -> None:
    # Given an opt-out posted to the local stack and delivered
    cwd: Path = local_stack["cwd"]
    payload = cwd / "opt-out.json"
    payload.write_text(json.dumps({"phone": "+1 510 555 0142", "is_opted_out": True}))
    sent = bridge(cwd, "send", "generic", "--file", str(payload), "--local")
    assert sent.returncode == 0, sent.stdout + sent.stderr

    # When the operator exports that phone's consent record, as JSON lines and as CSV
    deadline = time.monotonic() + 20
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        exported = bridge(cwd, "consent", "export", "record.jsonl", "--phone", "+1 510 555 0142", "--force", "--local")
        assert exported.returncode == 0, exported.stdout + exported.stderr
        lines = (cwd / "record.jsonl").read_text().splitlines()
        time.sleep(0.5)
    every = bridge(cwd, "consent", "export", "record.csv", "--local")

    # Then the change is there, applied, in both
    [change] = [json.loads(line) for line in lines]
    assert (change["phone"], change["source"], change["opted_out"], change["action"]) == (
        "15105550142",
        "generic",
        True,
        "applied",
    )
    assert every.returncode == 0, every.stdout + every.stderr
    rows = (cwd / "record.csv").read_text().splitlines()
    assert rows[0].startswith("phone,source,delivery_id")
    assert any(row.startswith("15105550142,generic,") and ",true," in row for row in rows[1:])
