"""Cold start: a fresh process importing each handler module, against a fresh process that only imports boto3.

Each run is a new interpreter started as Lambda would import the handler: the function's folder as the working
directory and first on sys.path, the layer's package on PYTHONPATH, and the function's environment from
template.yaml (Globals included). Runs are interleaved (boto3, ingest, sync, boto3, ...) so that a slower moment
of the machine costs every variant alike; the first round only warms the bytecode and page caches.

The interpreter is the runtime's, python3.13 (`make test`'s .venv313 or PYTHON313: benchmarks/lambda_runtime.py),
in a virtualenv holding only what Lambda holds: the runtime's boto3 and its dependencies, and the layer's packages.
The bench's own interpreter (3.11) is measured the same way for a note; without a python3.13 the figures are the
bench interpreter's, and say so.

"As deployed" runs import a layer folder made as `sam build` makes it (the layer's packages and today's
heymarket_bridge) from a read-only point of view (PYTHONDONTWRITEBYTECODE, as /opt on Lambda): with the
bytecode layers/Makefile ships (compiled by the runtime's interpreter with unchecked-hash invalidation), and, for
comparison, without it, where every cold start compiles every module of the layer. boto3 comes precompiled with
the runtime in every case.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final, NamedTuple

from benchmarks.common import ROOT, Figure, Section, median
from benchmarks.lambda_runtime import RuntimeSite, runtime_interpreter, runtime_site
from heymarket_local.template import LocalResources, StackTemplate

FUNCTIONS: Final = {"ingest": "IngestFunction", "sync": "SyncFunction", "fetch": "FetchFunction"}
TARGET_RATIO: Final = 1.3  # issue 27
# Placeholders shaped like deployed values: importing reads none of them, the first invocation does.
DEPLOYED: Final = LocalResources(
    queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/heymarket-bridge-ContactQueue-AbC",
    queue_arn="arn:aws:sqs:us-east-1:123456789012:heymarket-bridge-ContactQueue-AbC",
    dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/heymarket-bridge-ContactDeadLetterQueue-AbC",
    dlq_arn="arn:aws:sqs:us-east-1:123456789012:heymarket-bridge-ContactDeadLetterQueue-AbC",
    max_receive_count=5,
    webhook_secrets_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:WebhookSecrets-AbC",
    heymarket_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:HeymarketCredentials-AbC",
    # Every table of the template, named as CloudFormation would (a table added later needs no edit here).
    tables={logical_id: f"heymarket-bridge-{logical_id}-AbC" for logical_id in StackTemplate.load().table_ids()},
    ssm_parameters={"SourceMappingsParameter": "CFN-SourceMappingsParameter-AbC"},
    # The other queues (LeadFetchQueue and its dead-letter queue, which FetchFunction names), likewise.
    queues={
        logical_id: f"https://sqs.us-east-1.amazonaws.com/123456789012/heymarket-bridge-{logical_id}-AbC"
        for logical_id, resource in StackTemplate.load().document["Resources"].items()
        if resource.get("Type") == "AWS::SQS::Queue" and logical_id not in {"ContactQueue", "ContactDeadLetterQueue"}
    },
)


# Appended to each measured process's code: the CPU time it has used when the import ends, on stderr.
IMPORT_END_MARK: Final = "cpu-at-import-end"
IMPORT_END: Final = f"\nimport sys, time\nsys.stderr.write('\\n{IMPORT_END_MARK} %r\\n' % time.process_time())"
LAYER_VARIANTS: Final = ("as deployed", "without layer bytecode")


class Variant(NamedTuple):
    """One kind of process measured: `python -c code` in folder `cwd` with `environment`."""

    python: Path
    code: str
    cwd: str
    environment: dict[str, str]


class Sites(NamedTuple):
    """The runtime-shaped virtualenvs: `main` (python3.13 when there is one), `note` (the bench's own interpreter,
    when it is another version), and the layer folders made for `main`."""

    main: RuntimeSite
    is_runtime: bool
    note: RuntimeSite | None
    layers: dict[str, Path]


@contextmanager
def sites() -> Iterator[Sites]:
    """The virtualenvs and layer folders of one run, removed afterwards."""
    runtime = runtime_interpreter()
    with ExitStack() as stack:
        bench = stack.enter_context(runtime_site(Path(sys.executable)))
        main = stack.enter_context(runtime_site(runtime)) if runtime is not None else bench
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="heymarket-bridge-layer-")))
        layers = {
            variant: main.layer(directory / variant.replace(" ", "-"), bytecode=variant == "as deployed")
            for variant in LAYER_VARIANTS
        }
        note = bench if main is not bench and bench.version[:4] != main.version[:4] else None
        yield Sites(main, runtime is not None, note, layers)


def _environment(function_id: str | None, layer: Path | None = None) -> dict[str, str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "POWERTOOLS_", "PYTHON", "VIRTUAL_ENV"))
    }
    environment.update(
        {
            "PYTHONPATH": str(layer or ROOT / "layers"),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": function_id or "baseline",
        }
    )
    if layer is not None:
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  # /opt is read-only on Lambda: nothing compiled is kept
    if function_id is not None:
        environment.update(StackTemplate.load().function_environment(function_id, DEPLOYED))
    return environment


def _python(variant: Variant, *extra: str) -> tuple[float, float, str]:
    """Wall seconds and CPU seconds (user + system) of `python -c code` in a fresh process, and its stderr."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [variant.python, *extra, "-c", variant.code],
        cwd=variant.cwd,
        env=dict(variant.environment),
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"python -c {variant.code!r} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stderr


def _handler(python: Path, function: str, layer: Path | None = None) -> Variant:
    function_id = FUNCTIONS[function]
    return Variant(python, "import app", str(ROOT / "functions" / function), _environment(function_id, layer))


def import_profile(python: Path, function: str) -> list[tuple[str, float]]:
    """The heaviest imports of a handler (cumulative ms, from `python -X importtime`), outermost first."""
    _, _, stderr = _python(_handler(python, function), "-X", "importtime")
    rows: list[tuple[int, str, float]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not cumulative.strip().isdigit():
            continue
        depth = (len(name) - len(name.lstrip())) // 2
        rows.append((depth, name.strip(), int(cumulative) / 1000))
    heavy = [(name, ms) for depth, name, ms in rows if depth <= 3 and ms >= 15]
    return sorted(heavy, key=lambda row: -row[1])[:12]


def run(rounds: int = 7) -> Section:
    with sites() as measured:
        return _measure(rounds, measured)


def _variants(measured: Sites) -> dict[str, Variant]:
    """name -> process of each variant measured: the baseline, each handler with its bytecode cached, each handler
    against each layer folder, and (names ending in the bench interpreter's version) the same on that one."""
    python = measured.main.python
    variants = {
        "baseline": Variant(python, "import boto3", str(ROOT), _environment(None)),
        **{function: _handler(python, function) for function in FUNCTIONS},
    }
    for variant, layer in measured.layers.items():
        variants.update({f"{function} {variant}": _handler(python, function, layer) for function in FUNCTIONS})
    if measured.note is not None:
        suffix = f" on {measured.note.version}"
        variants[f"baseline{suffix}"] = Variant(measured.note.python, "import boto3", str(ROOT), _environment(None))
        variants.update({f"{function}{suffix}": _handler(measured.note.python, function) for function in FUNCTIONS})
    return variants


def _import_figure(title: str, function: str, value: float, baseline: float, version: str) -> Figure:
    name, _, variant = function.partition(" ")
    informational = variant == "without layer bytecode"  # what the layer's bytecode saves, not a deployment
    return Figure(
        title,
        f"{name} handler import on {version}, {variant or 'bytecode cached'}"
        + (" (layer with .pyc, read-only)" if variant == "as deployed" else ""),
        value * 1000,
        "ms",
        baseline=baseline * 1000,
        baseline_name="import boto3",
        target="" if informational else f"<= {TARGET_RATIO}x",
        met=None if informational else value / baseline <= TARGET_RATIO,
    )


Times = dict[str, list[float]]


def _run_rounds(rounds: int, variants: Mapping[str, Variant]) -> tuple[Times, Times, Times]:
    """name -> seconds of each round after the warm-up one: (CPU at the end of the import, whole-process CPU, wall)."""
    at_import_end: Times = {name: [] for name in variants}
    cpu_times: Times = {name: [] for name in variants}
    wall_times: Times = {name: [] for name in variants}
    for round_number in range(rounds + 1):
        for name, variant in variants.items():
            elapsed, cpu, stderr = _python(variant._replace(code=variant.code + IMPORT_END))
            if round_number:  # round 0 warms the caches
                at_import_end[name].append(float(stderr.rsplit(IMPORT_END_MARK, 1)[1].split()[0]))
                wall_times[name].append(elapsed)
                cpu_times[name].append(cpu)
    return at_import_end, cpu_times, wall_times


def _times_note(label: str, times: Times, names: list[str], baseline: str = "baseline") -> str:
    base = median(times[baseline])
    return f"{label} time, median (ratio to `import boto3`'s on the same interpreter): " + ", ".join(
        f"{name} {median(times[name]) * 1000:.0f} ms ({median(times[name]) / base:.2f}x)" for name in names
    )


def _measure(rounds: int, measured: Sites) -> Section:
    section = Section("1. Cold start: import of each handler in a fresh process (CPU time to the end of the import)")
    variants = _variants(measured)
    bare = Variant(measured.main.python, "pass", str(ROOT), _environment(None))
    # The figure is the CPU time (user + system) a process has used when its import ends (time.process_time(), read
    # by the process itself: interpreter start + imports). Lambda's init phase ends there; it never runs the
    # interpreter's teardown, which a fresh process here does, and which cost the handlers 30-45 ms more than a
    # bare `import boto3` (the final collections over what the imports left). CPU rather than wall time: on a shared
    # machine a process's wall time also counts the moments other processes held the CPU (medians of one variant
    # varied 2x between runs). Whole-process CPU and wall times are in the notes and details.
    at_import_end, cpu_times, wall_times = _run_rounds(rounds, {**variants, "interpreter": bare})
    version = f"Python {measured.main.version}"
    baseline = median(at_import_end["baseline"])
    section.figures.append(
        Figure(
            section.title,
            f"python -c pass (interpreter start, {version})",
            median(at_import_end["interpreter"]) * 1000,
            "ms",
        )
    )
    section.figures.append(
        Figure(section.title, f"bare `import boto3` (the baseline, {version})", baseline * 1000, "ms")
    )
    main_names = [name for name in variants if name != "baseline" and " on " not in name]
    section.figures += [
        _import_figure(section.title, name, median(at_import_end[name]), baseline, version) for name in main_names
    ]
    section.details["interpreters"] = {
        "figures": str(measured.main.python.resolve()),
        "packages": measured.main.versions,
        "note": str(measured.note.python.resolve()) if measured.note else None,
    }
    section.details["runs_cpu_at_import_end_ms"] = {
        n: [round(t * 1000, 1) for t in ts] for n, ts in at_import_end.items()
    }
    section.details["runs_cpu_ms"] = {name: [round(t * 1000, 1) for t in ts] for name, ts in cpu_times.items()}
    section.details["runs_ms"] = {name: [round(t * 1000, 1) for t in ts] for name, ts in wall_times.items()}
    section.notes += _bench_interpreter_note(measured, at_import_end)
    section.notes += [
        _times_note("whole process, teardown included: CPU", cpu_times, main_names),
        _times_note("wall", wall_times, main_names),
    ]
    for function in FUNCTIONS:
        profile = import_profile(measured.main.python, function)
        section.details[f"{function}_import_profile_ms"] = profile
        section.notes.append(
            f"{function} import profile (-X importtime, cumulative): "
            + ", ".join(f"{name} {ms:.0f} ms" for name, ms in profile[:7])
        )
    section.notes += _notes(rounds, measured)
    return section


def _bench_interpreter_note(measured: Sites, at_import_end: Times) -> list[str]:
    """The figures of the bench's own interpreter (3.11), when it is not the runtime's version."""
    if measured.note is None:
        return []
    suffix = f" on {measured.note.version}"
    return [
        _times_note(
            f"the bench's own interpreter, Python {measured.note.version}, bytecode cached: CPU at import end",
            at_import_end,
            [f"{function}{suffix}" for function in FUNCTIONS],
            f"baseline{suffix}",
        )
    ]


def _notes(rounds: int, measured: Sites) -> list[str]:
    notes = [
        f"CPU time (user + system) used by the end of the import, median of {rounds} fresh processes each "
        "(interleaved, after a warm-up round); a process = interpreter start + imports, as in Lambda's init phase "
        "(where the runtime has started already). Every process runs in a virtualenv holding only the runtime's "
        "boto3 (and its dependencies) and the layer's packages, as on Lambda: a development virtualenv also holds "
        "`cryptography` (moto's), which PyJWT imports whenever it is installed (30 to 40 ms of the sync function's "
        "import that Lambda never spends)."
    ]
    if not measured.is_runtime:
        notes.append(
            f"NOT THE RUNTIME'S INTERPRETER: no python3.13 with the packages (PYTHON313 or `make test`'s .venv313); "
            f"these figures are Python {measured.main.version}'s"
        )
    notes.append(
        "Each function imports only its own side (heymarket_bridge.app.ingest or .sync): the ingest function "
        "never loads the Heymarket client or PyJWT; neither loads Powertools' batch utility (the sync function "
        "answers Lambda's partial batch response itself); the sync function never loads the "
        "sources, domain.phone (reading phones: its patterns and tables; the sync side compares phones with "
        "domain.e164) "
        "or phonenumbers (imported inside domain.phone's readers, which only the ingest side calls; the "
        "ingest function loads it at init through its sources). Lazy on purpose: boto3 clients (AwsClients, "
        "created by the builders on the first invocation: no credential lookup at import, and tests can mock AWS); "
        "the DynamoDB idempotency adapter (imported in compose_ingest() only when IDEMPOTENCY_TABLE is set); the "
        "sync use case's ports (Protocols, imported for type checks only); domain.mapping in the sync function (only "
        "the sources' side parses mappings); in the sync function, what a batch of plain upserts never takes, "
        "imported when a batch first does: the lists steps and their adapters (sync.lists.batch.DeferredSegmenter, "
        "on a batch naming a tag or a list), the consent record's adapter (on a consent change to record), "
        "contacts.deletes (on a delete or a custom field named by title), the v1 gateway (HEYMARKET_API_MODE=v1 "
        "only). Not built at import: the codecs of the charsets a body may declare "
        "(ingest.bodies names them; a codec is loaded when a body declares it). "
        "Not avoidable: Powertools' parameters package imports boto3 (the baseline) itself."
    )
    return notes
