"""The state files of running local stacks: how the operator commands find `heymarket-bridge local`.

Each running stack has its own file, `.local/stacks/<api port>.json` under the folder it was started in, holding
its ReadyInfo, the Heymarket secret's ARN, its process id and its log file. A stack writes its file only once it
listens (so a start that fails writes nothing and deletes nothing), and removes it on exit only while it still
holds its own process id (so a stack never removes another's). Two stacks cannot share an API port, so a live
stack's file is never overwritten; the file of a stack that died without cleaning up is recognised by its
process id and replaced or ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

STATE_DIR: Final = Path(".local/stacks")


@dataclass(frozen=True)
class LocalState:
    """One running local stack as its state file describes it."""

    path: Path
    data: dict[str, Any]

    @property
    def pid(self) -> int | None:
        pid = self.data.get("pid")
        return pid if isinstance(pid, int) and not isinstance(pid, bool) else None

    @property
    def alive(self) -> bool:
        """Whether the process that wrote the file still runs (a file without a pid is taken as alive)."""
        return self.pid is None or _process_alive(self.pid)

    @property
    def api_url(self) -> str:
        return str(self.data.get("api_url", ""))


class StateFileError(ValueError):
    """A state file that cannot be read; the message names it."""


def state_path(api_port: int, directory: Path = STATE_DIR) -> Path:
    return directory / f"{api_port}.json"


def write_state(path: Path, data: dict[str, Any]) -> None:
    """Write a stack's state atomically (readers never see half a file), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps({**data, "pid": os.getpid()}, indent=2) + "\n")
    os.replace(temporary, path)


def remove_state(path: Path) -> None:
    """Remove a stack's state file if it is still this process's own."""
    try:
        state = read_state(path)
    except (OSError, StateFileError):
        return
    if state.pid == os.getpid():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def read_state(path: Path) -> LocalState:
    """Read one state file; OSError if it cannot be opened, StateFileError if it is not a stack's state."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise StateFileError(f"{path} is not a local stack's state file (not JSON: {error})") from error
    missing = [key for key in ("api_url", "aws_endpoint_url", "queue_url", "dlq_url") if key not in data]
    if not isinstance(data, dict) or missing:
        raise StateFileError(f"{path} is not a local stack's state file (no {', '.join(missing) or 'object'})")
    return LocalState(path, data)


def running_stacks(directory: Path = STATE_DIR) -> list[LocalState]:
    """The stacks whose state files are in `directory` and whose process still runs, by API port."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            state = read_state(path)
        except (OSError, StateFileError):
            continue
        if state.alive:
            found.append(state)
    return found


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True
