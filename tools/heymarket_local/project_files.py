"""Where the project files the tools run from are: template.yaml, functions/ and events/.

Kept apart from template.py (which needs PyYAML, the `local` extra) so that the operator command's `send` and
`samples` find the sample events in events/ with the `cli` extra alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

# The project files a built package carries (setup.py copies template.yaml, functions/ and events/ here), for an
# installation that is not a checkout: `pip install '.[local]'`, or from an index.
BUNDLED_PROJECT: Final = Path(__file__).resolve().parent / "project"


def find_project() -> Path | None:
    """The folder holding template.yaml, functions/ and events/ that the local stack runs, or None.

    The checkout this module lives in comes first (a clone, or an editable install of it: its own template, as
    edited); otherwise the copy a built package carries (BUNDLED_PROJECT). A built package always carries one, so
    None means an installation made some other way: `local` and `demo` then ask for --template.
    """
    here = Path(__file__).resolve()
    for folder in here.parents:
        if (folder / "template.yaml").is_file() and (folder / "layers").is_dir():
            return folder
    if (BUNDLED_PROJECT / "template.yaml").is_file():
        return BUNDLED_PROJECT
    return None
