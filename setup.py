"""Packaging hook: a built package carries the project files the local stack runs.

`heymarket-bridge local` and `demo` run the real functions as template.yaml declares them, and the demo, `send` and
`samples` post and print the sample events: none of these is inside a Python package, so a plain wheel would leave
them behind and an installed `local` would look for them next to site-packages. This `build_py` copies
template.yaml, functions/ (their Python files) and events/ (their JSON files) into heymarket_local/project/ of the
build, where heymarket_local.project_files finds them. An editable install skips the copy: it runs from the checkout,
which holds the originals. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# (what, which files of it): template.yaml itself, the functions' code, the sample events, and the sources' docs pages
# (`heymarket-bridge sources show` prints their vendor steps).
PROJECT_FILES = (
    ("template.yaml", "template.yaml"),
    ("functions", "**/*.py"),
    ("events", "**/*.json"),
    ("docs/sources", "*.md"),
)


class BuildPyWithProject(build_py):
    """build_py, plus the project files under heymarket_local/project/."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib, "heymarket_local", "project")
        shutil.rmtree(target, ignore_errors=True)
        for name, pattern in PROJECT_FILES:
            source = ROOT / name
            files = [source] if source.is_file() else sorted(source.glob(pattern))
            for file in files:
                if "__pycache__" in file.parts:
                    continue
                destination = target / file.relative_to(ROOT)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, destination)


setup(cmdclass={"build_py": BuildPyWithProject})
