"""The `heymarket-bridge` command installed from a wheel into a fresh virtualenv, run outside any checkout.

`pip install '.[local]'` is the README's way to get `local` and `demo`: the wheel is built from a copy of this
checkout and really installed (pip, no editable link to the source tree); only its dependencies are borrowed from
the test environment (a .pth line), so that nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT, load_event

pytestmark = pytest.mark.e2e

# What a wheel is built from: the files a fresh clone holds that the build reads.
SOURCES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "template.yaml",
    "functions",
    "events",
    "layers",
    "tools",
)


def run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtualenv with heymarket-bridge installed from its wheel; yields its bin/ folder."""
    work = tmp_path_factory.mktemp("installed")
    source = work / "source"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = run(
        *pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", work / "wheels", source, cwd=work
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "wheels").glob("heymarket_bridge-*.whl")
    venv = work / "venv"
    created = run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=work)
    assert created.returncode == 0, created.stderr
    python = venv / "bin" / "python"
    install = run(*pip, "--python", python, "install", "--no-deps", "--no-index", wheel, cwd=work)
    assert install.returncode == 0, install.stdout + install.stderr
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=work).stdout.strip()
    # The dependencies (moto, boto3, click...) from this environment, after the fresh one's own packages.
    Path(purelib, "test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield venv / "bin"
    shutil.rmtree(work, ignore_errors=True)


def outside_the_checkout(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["HOME"] = str(tmp_path)
    return env


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    where = run(
        installed / "python",
        "-c",
        "import heymarket_local.template as t; print(t.__file__); print(t.TEMPLATE_PATH)",
        cwd=tmp_path,
        env=outside_the_checkout(tmp_path),
    )
    module, template = where.stdout.split()
    assert Path(module).is_relative_to(installed.parent)
    assert Path(template) == Path(module).parent / "project" / "template.yaml"


def test_an_installed_demo_runs_the_bundled_template_functions_and_events(installed: Path, tmp_path: Path) -> None:
    demo = run(
        installed / "heymarket-bridge",
        "demo",
        "--batching-window",
        "1",
        "--timeout",
        "60",
        cwd=tmp_path,
        env=outside_the_checkout(tmp_path),
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Received       31 contacts" in demo.stdout  # every bundled sample, the second-wave sources included
    assert "OK: every accepted contact was delivered or dead-lettered" in demo.stdout
    assert (tmp_path / ".local" / "demo" / "handlers.log").is_file()  # under the folder it ran in


def test_installed_samples_are_the_bundled_events(installed: Path, tmp_path: Path) -> None:
    listed = run(installed / "heymarket-bridge", "samples", cwd=tmp_path, env=outside_the_checkout(tmp_path))
    printed = run(
        installed / "heymarket-bridge", "samples", "generic", cwd=tmp_path, env=outside_the_checkout(tmp_path)
    )

    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "single_contact.json" in listed.stdout
    assert printed.returncode == 0, printed.stdout + printed.stderr
    assert json.loads(printed.stdout) == json.loads(load_event("generic/single_contact")["body"])
