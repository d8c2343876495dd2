"""`python -m benchmarks` (`make bench`): every figure next to its baseline measured in the same run.

Prints a plain-text table and writes .local/bench/results.json (the handlers' own output goes to
.local/bench/handlers.log). Nothing here talks to AWS or Heymarket: moto and the sandbox play them on 127.0.0.1.
`--only coldstart,cpu` runs some of the benchmarks.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

from benchmarks import (
    behaviours,
    coldstart,
    consent,
    cost,
    cpu,
    efficiency,
    fetched,
    latency,
    learning,
    outage,
    rate_limit,
    segments,
    state,
)
from benchmarks.common import LOG_FILE, OUTPUT_DIR, Section, handlers_quiet, progress, render, to_json
from heymarket_local.moto_dynamodb import item_scoped_transactions

BENCHMARKS: Final[dict[str, Callable[[], Section]]] = {
    "coldstart": coldstart.run,
    "efficiency": efficiency.run,
    "ratelimit": rate_limit.run,
    "cpu": cpu.run,
    "latency": latency.run,
    "behaviours": behaviours.run,
    "segments": segments.run,
    "state": state.run,
    "learning": learning.run,
    "consent": consent.run,
    "cost": cost.run,
    "fetched": fetched.run,
    "outage": outage.run,
}
# Fake credentials and no endpoint of a real account: every AWS call goes to moto.
_FAKE_AWS: Final = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHMARKS), help=f"comma-separated, of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(_FAKE_AWS)
    item_scoped_transactions()  # moto's transactions at the cost of their items, not of whole tables
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    sections: list[Section] = []
    out = sys.stdout
    with LOG_FILE.open("w", encoding="utf-8") as log:
        for name in chosen:
            progress(f"[{time.monotonic() - started:5.0f} s] {name}...")
            began = time.monotonic()
            with handlers_quiet(log):
                section = BENCHMARKS[name]()
            section.seconds = time.monotonic() - began
            sections.append(section)
    total = time.monotonic() - started
    environment = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "seconds": round(total, 1),
    }
    results = OUTPUT_DIR / "results.json"
    results.write_text(to_json(sections, environment) + "\n", encoding="utf-8")
    print(f"heymarket-bridge benchmarks ({environment['machine']}, Python {environment['python']})", file=out)
    print(render(sections), file=out)
    print(f"\n{total:.0f} s in all; figures in {results.relative_to(OUTPUT_DIR.parent.parent)}", file=out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
