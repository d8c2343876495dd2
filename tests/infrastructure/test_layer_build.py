"""`sam build` without a python3.13: the layer's Makefile says so where SAM shows it (stdout), or fails if asked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def layer_folder(tmp_path: Path) -> Path:
    """A copy of layers/Makefile in a folder of its own: the build writes its bytecode marker next to the Makefile."""
    folder = tmp_path / "layers"
    folder.mkdir(exist_ok=True)
    shutil.copy(ROOT / "layers" / "Makefile", folder / "Makefile")
    return folder


def bytecode_step(tmp_path: Path, *variables: str, python313: str = "/nonexistent") -> subprocess.CompletedProcess[str]:
    artifacts = tmp_path / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    (artifacts / "python").mkdir(parents=True)
    (artifacts / "python" / "module.py").write_text("x = 1\n")
    return subprocess.run(
        ["make", "-s", "-f", str(layer_folder(tmp_path) / "Makefile"), "layer-bytecode", f"ARTIFACTS_DIR={artifacts}",
         f"PYTHON313={python313}", *variables],
        env={"PATH": "/nonexistent-bin:/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip


def fake_python313(tmp_path: Path) -> str:
    """A `python3.13` the Makefile accepts (its version check exits 0) that compiles with this interpreter."""
    script = tmp_path / "python3.13"
    script.write_text(f'#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nexec {sys.executable} "$@"\n')
    script.chmod(0o755)
    return str(script)


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


def test_a_build_with_bytecode_removes_the_marker_so_the_cache_holds_again(tmp_path: Path) -> None:
    if shutil.which("python3.13", path="/usr/bin:/bin"):
        pytest.skip("a system python3.13 exists, so the build cannot lack one")
    assert bytecode_step(tmp_path).returncode == 0
    assert (layer_folder(tmp_path) / ".bytecode-missing").exists()

    built = bytecode_step(tmp_path, python313=fake_python313(tmp_path))

    assert built.returncode == 0, built.stderr
    assert not (layer_folder(tmp_path) / ".bytecode-missing").exists()
    assert list((tmp_path / "artifacts" / "python").rglob("*.pyc"))
