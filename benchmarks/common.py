"""What the benchmarks share: figures with their baselines, quiet handlers, message helpers, percentiles."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import statistics
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
OUTPUT_DIR: Final = ROOT / ".local" / "bench"
LOG_FILE: Final = OUTPUT_DIR / "handlers.log"


@dataclass(frozen=True)
class Figure:
    """One measured figure next to its baseline from the same run; `ratio` is value / baseline."""

    benchmark: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None  # None: no target
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.value / self.baseline


@dataclass
class Section:
    """The figures of one benchmark, plus notes (how it was measured, what a profile showed)."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f} %"
    if abs(value) >= 1000:
        return f"{value:,.0f} {unit}"
    if abs(value) >= 100:
        return f"{value:.0f} {unit}"
    if abs(value) >= 10:
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def render(sections: Sequence[Section]) -> str:
    """The plain-text table: one line per figure with its baseline and their ratio, then the notes."""
    rows = [("figure", "value", "baseline (same run)", "ratio", "target")]
    for section in sections:
        rows.append((f"[{section.title}]", "", "", "", ""))
        for figure in section.figures:
            baseline = ""
            if figure.baseline is not None:
                baseline = f"{number(figure.baseline, figure.unit)} {figure.baseline_name}".strip()
            ratio = f"{figure.ratio:.3g}x" if figure.ratio is not None else ""
            verdict = {None: "", True: "  met", False: "  NOT MET"}[figure.met]
            rows.append(
                ("  " + figure.name, number(figure.value, figure.unit), baseline, ratio, figure.target + verdict)
            )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    for section in sections:
        if section.notes:
            lines.append("")
            lines.append(f"{section.title} ({section.seconds:.0f} s):")
            lines.extend(f"  - {note}" for note in section.notes)
    return "\n".join(lines)


def to_json(sections: Sequence[Section], environment: dict[str, Any]) -> str:
    return json.dumps(
        {
            "environment": environment,
            "sections": [
                {
                    "title": section.title,
                    "seconds": round(section.seconds, 1),
                    "figures": [{**asdict(figure), "ratio": figure.ratio} for figure in section.figures],
                    "notes": section.notes,
                    "details": section.details,
                }
                for section in sections
            ],
        },
        indent=2,
    )


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 30 values is the largest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


class LockedStream(io.TextIOBase):
    """A text stream many threads can write whole lines to (a plain file object may interleave their bytes)."""

    def __init__(self, stream: IO[str] | io.TextIOBase) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            return self._stream.write(text)

    def flush(self) -> None:
        with self._lock:
            self._stream.flush()


@contextmanager
def handlers_quiet(file: IO[str] | io.TextIOBase) -> Iterator[None]:
    """Send what the handlers print (JSON logs, EMF metric lines, warnings) to `log` instead of the terminal."""
    from heymarket_bridge.observability import logger

    log = LockedStream(file)
    handler = logger.registered_handler
    previous = handler.setStream(log) if isinstance(handler, logging.StreamHandler) else None
    tools = logging.getLogger("heymarket_bridge_tools")
    tools_handler = logging.StreamHandler(log)
    tools.addHandler(tools_handler)
    tools.propagate, propagate = False, tools.propagate
    try:
        with redirect_stdout(log), redirect_stderr(log):
            yield
    finally:
        tools.propagate = propagate
        tools.removeHandler(tools_handler)
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)


def progress(message: str) -> None:
    """A line on the real terminal, whatever stdout is redirected to."""
    with contextlib.suppress(OSError):
        print(message, file=sys.__stderr__, flush=True)
