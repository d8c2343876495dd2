"""Terminal output of the `heymarket-bridge` command, with rich: tables, colour, progress bars.

Imported only by commands that print (rich takes tens of milliseconds to import, which `--help` should not pay).
Results go to stdout; progress bars go to stderr and only to a terminal, so a pipe or a file gets clean output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from heymarket_bridge_tools.terminal import terminal_text


class EscapingConsole(Console):
    """A rich console that escapes control characters in every string it renders (printed text, table cells), as
    `terminal.echo` does for plain lines: rich passes ESC through, so a sender's value could drive the terminal."""

    def render_str(self, text: str, **options: Any) -> Text:
        """Rich's rendering of `text` (markup, if asked), after its control characters are escaped."""
        return super().render_str(terminal_text(text), **options)


@cache
def console() -> Console:
    """The console for results (stdout); no colour when stdout is not a terminal."""
    return EscapingConsole(highlight=False, soft_wrap=True)


@cache
def error_console() -> Console:
    """The console for progress and notes (stderr)."""
    return EscapingConsole(stderr=True, highlight=False, soft_wrap=True)


def table(*columns: str) -> Table:
    """A plain table with these column headers (the last one takes the remaining width and wraps)."""
    result = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for index, column in enumerate(columns):
        last = index == len(columns) - 1
        result.add_column(column, overflow="fold" if last else "ellipsis", no_wrap=not last)
    return result


@contextmanager
def progress(description: str, *, total: int | None = None, unit: str = "") -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while the block runs; the block calls the yielded function with the count done."""
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.completed} " + unit)]
    columns.append(TimeElapsedColumn())
    out = error_console()
    with Progress(*columns, console=out, transient=True, disable=not out.is_terminal) as bar:
        task = bar.add_task(description, total=total)

        def advance(completed: int) -> None:
            bar.update(task, completed=completed)

        yield advance
