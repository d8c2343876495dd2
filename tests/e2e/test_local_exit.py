"""`heymarket-bridge local` ends as soon as it says "stopped", however much the process holds by then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.test_local_stack import free_ports, wait_for_ready
from tests.support import ROOT

pytestmark = pytest.mark.e2e

# A model of a process whose interpreter teardown is slow (after a big import, moto's and the sandbox's memory):
# an exit handler that takes 60 s. `local` must not wait for it once the stack has stopped.
SLOW_TEARDOWN = "import atexit, time\natexit.register(time.sleep, 60)\n"


def test_local_exits_right_after_stopped_without_the_interpreter_s_teardown(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(SLOW_TEARDOWN)
    path = os.pathsep.join([str(tmp_path), str(ROOT / "tools"), str(ROOT / "layers")])
    api, aws, sandbox = free_ports(3)
    stdout, stderr = tmp_path / "stdout", tmp_path / "stderr"
    ports = ["--api-port", str(api), "--aws-port", str(aws), "--sandbox-port", str(sandbox)]
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "heymarket_bridge_tools.cli", "local", *ports],
            stdout=out,
            stderr=err,
            env={**os.environ, "PYTHONPATH": path},
            cwd=tmp_path,
        )
    try:
        wait_for_ready(process, stdout)
        process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 30
        while "stopped" not in stderr.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "heymarket-bridge: stopped" in stderr.read_text()
        stopped_at = time.monotonic()
        returncode = process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert returncode == 0, stderr.read_text()
    assert time.monotonic() - stopped_at < 10
