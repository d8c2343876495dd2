"""An environment shaped like Lambda's Python runtime, for measuring the handlers' imports as they are deployed.

A development virtualenv holds far more than Lambda does: moto brings `cryptography`, which PyJWT imports whenever
it is installed (jwt.algorithms), so a handler imported there loads packages it never loads on Lambda (the sync
function's HS256 tokens need none of them). This module makes, from an interpreter that has the packages installed
(`make test`'s .venv313 for python3.13), a fresh virtualenv whose site-packages holds only:

- the packages the runtime ships: boto3 and what it depends on ("The Python runtimes include the AWS SDK for
  Python (Boto3)", https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html; AWS does not list the rest, so
  boto3's own dependency closure stands for it), as symlinks to the installed copies and their bytecode;
- the layer's third-party packages (layers/requirements.lock), for the "bytecode cached" rows; the "as deployed"
  rows get their own copy of them in a layer folder (`layer()`), as `sam build` ships them (all of them are
  pure-Python wheels, so the files are those of the Lambda platform's wheels).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks.common import ROOT

RUNTIME_VERSION: Final = (3, 13)  # template.yaml: Runtime python3.13
RUNTIME_DISTRIBUTIONS: Final = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
LOCK: Final = ROOT / "layers" / "requirements.lock"

# Run by the measured interpreter: each distribution's version and top-level files (packages, modules and the
# bytecode of single-module distributions, which lives in site-packages/__pycache__).
_LOCATE: Final = """
import importlib.metadata as metadata, json, sys
found = {}
for name in sys.argv[1:]:
    distribution = metadata.distribution(name)
    tops = set()
    for file in distribution.files or ():
        head = file.parts[0]
        if head.endswith((".dist-info", ".egg-info")) or head in ("..", "bin"):
            continue
        tops.add(str(distribution.locate_file(file if head == "__pycache__" else head)))
    found[name] = [distribution.version, sorted(tops)]
print(json.dumps(found))
"""


def layer_distributions() -> dict[str, str]:
    """name -> exact version of each package layers/requirements.lock pins (what `sam build` puts in the layer)."""
    pinned = re.findall(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)", LOCK.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(pinned)


def runtime_interpreter() -> Path | None:
    """A python3.13 with boto3 and the layer's packages installed: PYTHON313, else `make test`'s .venv313; None
    when there is none (the bench then says that its figures are not the runtime's)."""
    for candidate in (os.environ.get("PYTHON313", ""), str(ROOT / ".venv313" / "bin" / "python")):
        if candidate and _answers(
            candidate, f"import sys, boto3, jwt; sys.exit(sys.version_info[:2] != {RUNTIME_VERSION})"
        ):
            return Path(candidate)
    return None


def _answers(python: str, code: str) -> bool:
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, check=False)  # noqa: S603 - our interpreter
    except OSError:
        return False
    return done.returncode == 0


@dataclass(frozen=True)
class RuntimeSite:
    """A virtualenv (`python`) holding only the runtime's and the layer's packages; `layer_files` the top-level
    files of the layer's packages in the source interpreter, `versions` name -> version of everything it holds."""

    python: Path
    version: str
    layer_files: tuple[Path, ...]
    versions: dict[str, str]

    def layer(self, into: Path, *, bytecode: bool) -> Path:
        """A layer folder (`into`/python) as `sam build` makes it: the layer's packages and today's
        heymarket_bridge, compiled by this interpreter with unchecked-hash invalidation when `bytecode`
        (layers/Makefile), else with no .pyc at all."""
        layer = into / "python"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        layer.mkdir(parents=True)
        for source in self.layer_files:
            if source.parent.name == "__pycache__":
                continue
            if source.is_dir():
                shutil.copytree(source, layer / source.name, ignore=skip)
            else:
                shutil.copy2(source, layer / source.name)
        shutil.copytree(ROOT / "layers" / "heymarket_bridge", layer / "heymarket_bridge", ignore=skip)
        if bytecode:
            subprocess.run(  # noqa: S603 - our interpreter, compiling our copy
                [self.python, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", layer],
                check=True,
                capture_output=True,
            )
        return layer


@contextmanager
def runtime_site(source: Path) -> Iterator[RuntimeSite]:
    """A fresh virtualenv made from interpreter `source` (which must have the packages installed), with symlinks to
    the runtime's and the layer's packages only. Raises RuntimeError when one of them is not installed there."""
    wanted = list(dict.fromkeys([*RUNTIME_DISTRIBUTIONS, *layer_distributions()]))
    located = subprocess.run(  # noqa: S603 - our interpreter
        [source, "-c", _LOCATE, *wanted], capture_output=True, text=True, check=False
    )
    if located.returncode != 0:
        raise RuntimeError(f"{source} lacks a package of the runtime or the layer: {located.stderr[-1000:]}")
    found: dict[str, list[Any]] = json.loads(located.stdout)
    with tempfile.TemporaryDirectory(prefix="heymarket-bridge-runtime-") as directory:
        venv = Path(directory) / "venv"
        subprocess.run([source, "-m", "venv", "--without-pip", venv], check=True, capture_output=True)  # noqa: S603
        python = venv / "bin" / "python"
        site_packages = Path(
            subprocess.run(  # noqa: S603 - the virtualenv just made
                [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
        for _, tops in found.values():
            for top in map(Path, tops):
                target = site_packages / ("__pycache__" if top.parent.name == "__pycache__" else "") / top.name
                target.parent.mkdir(exist_ok=True)
                if not target.exists():
                    target.symlink_to(top)
        version = subprocess.run(  # noqa: S603
            [python, "-c", "import platform; print(platform.python_version())"], capture_output=True, text=True
        ).stdout.strip()
        yield RuntimeSite(
            python=python,
            version=version,
            layer_files=tuple(Path(top) for name in layer_distributions() for top in found[name][1]),
            versions={name: str(found[name][0]) for name in wanted},
        )
