"""`sam build` with SAM's build cache (samconfig.toml: cached = true) never reuses a layer built without bytecode.

A real `sam build --cached`, three times, in a copy of the project: without a python3.13 (HOME moved, so that no
pyenv 3.13 is found either), then with REQUIRE_BYTECODE=1, then with a python3.13 (a stand-in that compiles with
this interpreter: what is checked is that the layer's Makefile runs, not the bytecode's version).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infrastructure.test_layer_build import fake_python313
from tests.support import ROOT

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]

BIN = Path(sys.executable).parent


def sam_build(project: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    # This environment (proxies, pip's settings), with no python3.13 on PATH nor pyenv's under HOME.
    env = {
        **{
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PYENV", "PYTHON", "REQUIRE_BYTECODE"))
        },
        "PATH": os.pathsep.join([str(BIN), "/usr/bin", "/bin"]),
        "VIRTUAL_ENV": str(BIN.parent),
        "HOME": str(project),
        # pip's own cache, where `make test` already put the layer's wheels
        "PIP_CACHE_DIR": os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip"),
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_DISABLE_UPDATE_CHECK": "1",
        **variables,
    }
    return subprocess.run(
        [str(BIN / "sam"), "build", "--cached"], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )


def bytecode_files(project: Path) -> int:
    return len(list((project / ".aws-sam" / "build" / "BridgeLayer" / "python").rglob("*.pyc")))


def test_a_layer_built_without_bytecode_is_built_again_not_taken_from_the_cache(tmp_path: Path) -> None:
    if shutil.which("python3.13", path="/usr/bin:/bin"):
        pytest.skip("a system python3.13 exists, so the build cannot lack one")
    project = tmp_path / "project"
    project.mkdir()
    for name in ("template.yaml", "samconfig.toml", "functions", "layers"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, project / name, ignore=shutil.ignore_patterns("__pycache__", ".bytecode-missing"))
        else:
            shutil.copy(source, project / name)

    first = sam_build(project, PYTHON313="/nonexistent")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "WITHOUT bytecode" in first.stdout + first.stderr
    assert bytecode_files(project) == 0

    required = sam_build(project, PYTHON313="/nonexistent", REQUIRE_BYTECODE="1")
    assert required.returncode != 0, required.stdout
    assert "REQUIRE_BYTECODE is set but no python3.13 was found" in required.stdout + required.stderr

    compiled = sam_build(project, PYTHON313=fake_python313(tmp_path))
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    assert bytecode_files(project) > 0
