"""`sam build` without a python3.13: the layer's Makefile says so where SAM shows it (stdout), or fails if asked."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def bytecode_step(tmp_path: Path, *variables: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "module.py").write_text("x = 1\n")
    return subprocess.run(
        ["make", "-s", "-f", str(ROOT / "layers" / "Makefile"), "layer-bytecode", f"ARTIFACTS_DIR={tmp_path}",
         "PYTHON313=/nonexistent", *variables],
        env={"PATH": "/nonexistent-bin:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def test_without_python313_the_build_warns_on_stdout_and_goes_on(tmp_path: Path) -> None:
    if shutil.which("python3.13", path="/usr/bin:/bin"):
        pytest.skip("a system python3.13 exists, so there is nothing to warn about")
    built = bytecode_step(tmp_path)
    assert built.returncode == 0
    assert "WARNING: no python3.13 found" in built.stdout
    assert "WITHOUT bytecode" in built.stdout


def test_require_bytecode_turns_the_warning_into_a_failure(tmp_path: Path) -> None:
    if shutil.which("python3.13", path="/usr/bin:/bin"):
        pytest.skip("a system python3.13 exists, so the build cannot lack one")
    built = bytecode_step(tmp_path, "REQUIRE_BYTECODE=1")
    assert built.returncode != 0
    assert "REQUIRE_BYTECODE is set but no python3.13 was found" in built.stderr
