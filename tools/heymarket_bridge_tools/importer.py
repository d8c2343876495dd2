"""Importing a contact export (CSV or JSON lines) through a stack's generic webhook, resumably.

Rows become contacts in the bridge's field names (`--map phone=Mobile` says which column holds which field;
`custom.<id>=Column` fills a custom field), are posted in chunks of the stack's MaxContactsPerRequest, and each
answer's rejections are written with their row number and reasons to a JSON-lines file (mode 0600: it holds the
rows). A checkpoint file next to the export records how many rows are done; a run started again skips them.
Each chunk carries an `Idempotency-Key` made of the file's hash and its row range, so a chunk whose answer was
lost (Ctrl-C, a crash, a dropped connection) and is sent again is recognised by the bridge as a repeat: no row
is queued twice. Chunks go out `concurrency` at a time; the checkpoint only advances over chunks all answered.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError

CONTACT_FIELDS: Final = (
    "phone",
    "first",
    "last",
    "display_name",
    "email",
    "avatar",
    "tags",
    "is_opted_out",
    "assignee_id",
)
MAX_TRIES: Final = 6
RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})

Post = Callable[[bytes, Mapping[str, str]], tuple[int, bytes, Mapping[str, str]]]
"""Posts a body with headers to the stack's generic webhook: (status, answer body, answer headers)."""


@dataclass(frozen=True)
class Row:
    number: int  # 1 = the first data row
    values: dict[str, Any] | None  # None: the line could not be read
    problem: str = ""


def fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_rows(path: Path) -> Iterator[Row]:
    """The data rows of a CSV file (a header line first) or a JSON-lines file (one object a line)."""
    with path.open("r", encoding="utf-8-sig", newline="") as file:
        first = file.read(1)
        file.seek(0)
        json_lines = path.suffix.lower() in (".jsonl", ".ndjson") or first == "{"
        if json_lines:
            yield from _json_rows(file)
        else:
            yield from _csv_rows(file)


def _json_rows(file: IO[str]) -> Iterator[Row]:
    number = 0
    for line in file:
        if not line.strip():
            continue
        number += 1
        try:
            value = json.loads(line)
        except ValueError as error:
            yield Row(number, None, f"not JSON: {error}")
            continue
        if not isinstance(value, dict):
            yield Row(number, None, "not a JSON object")
            continue
        yield Row(number, value)


def _csv_rows(file: IO[str]) -> Iterator[Row]:
    reader = csv.DictReader(file)
    if not reader.fieldnames:
        return
    for number, record in enumerate(reader, start=1):
        if None in record:
            yield Row(number, None, f"{len(record[None])} more value(s) than the header has columns")
            continue
        yield Row(number, {str(key): value for key, value in record.items()})


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """`("phone=Mobile", "custom.101=Campus")` -> {"phone": "Mobile", "custom.101": "Campus"}."""
    mapping: dict[str, str] = {}
    for item in items:
        name, equals, column = item.partition("=")
        name = name.strip()
        if not equals or not name or not column:
            raise CliError(f"--map: expected FIELD=COLUMN (e.g. phone=Mobile), got {item!r}", EXIT_USAGE)
        if name not in CONTACT_FIELDS and not (name.startswith("custom.") and name[7:].strip()):
            known = ", ".join(CONTACT_FIELDS)
            raise CliError(f"--map: unknown field {name!r}; fields: {known}, custom.<field id>", EXIT_USAGE)
        mapping[name] = column
    return mapping


def to_contact(values: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A row as a contact in the bridge's names: mapped columns, plus columns already named as fields."""
    contact: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        column = mapping.get(name, name)
        value = values.get(column)
        if value not in (None, ""):
            contact[name] = value
    custom = dict(values["custom"]) if isinstance(values.get("custom"), dict) else {}
    for name, column in mapping.items():
        if name.startswith("custom.") and values.get(column) not in (None, ""):
            custom[name[7:]] = values[column]
    if custom:
        contact["custom"] = custom
    return contact


@dataclass
class Checkpoint:
    """What a run has done, saved after every chunk so that a later run resumes there."""

    fingerprint: str
    target: str
    mapping: dict[str, str]
    chunk_size: int
    rows_done: int = 0
    accepted: int = 0
    rejected: int = 0
    repeated_chunks: int = 0  # chunks the bridge had already queued (a resumed run's resend)
    requests: int = 0
    complete: bool = False

    def save(self, path: Path) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)

    @classmethod
    def load(cls, path: Path) -> Checkpoint | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as error:
            raise CliError(f"{path} is not an import checkpoint ({error}): delete it or pass --restart") from None


@dataclass
class ImportSummary:
    checkpoint: Checkpoint
    rows_this_run: int = 0
    requests_this_run: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    interrupted: bool = False


class ChunkFailed(Exception):
    """A chunk the bridge refused as a whole (not a per-contact rejection), or that kept failing."""


class _Stopped(Exception):
    """A chunk given up while waiting to retry because the run was interrupted; it is sent again on resume."""


@dataclass(frozen=True)
class _Chunk:
    first_row: int  # index in the file's rows, 0-based
    rows: list[Row]


class ContactImport:
    """One run of an import: chunks out, answers in, rejections written, checkpoint advanced."""

    def __init__(
        self,
        post: Post,
        checkpoint: Checkpoint,
        checkpoint_path: Path,
        rejects: IO[str],
        *,
        concurrency: int = 4,
        max_body_bytes: int = 1024 * 1024,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._post = post
        self.checkpoint = checkpoint
        self._checkpoint_path = checkpoint_path
        self._rejects = rejects
        self._concurrency = max(1, concurrency)
        self._max_body_bytes = max_body_bytes
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait  # a wait that an interruption cuts short

    def run(
        self,
        rows: Iterator[Row],
        *,
        progress: Callable[[int], None] = lambda rows_done: None,
        interrupted: Callable[[], bool] = lambda: False,
    ) -> ImportSummary:
        """Send every row after the checkpoint; stop early (resumably) when `interrupted()` turns true."""
        summary = ImportSummary(self.checkpoint)
        started = time.monotonic()
        skip = self.checkpoint.rows_done
        chunks = self._chunks(rows, skip)
        pending: dict[Future[tuple[int, int, int, list[tuple[Row, list[str]]]]], _Chunk] = {}
        finished: dict[int, tuple[_Chunk, tuple[int, int, int, list[tuple[Row, list[str]]]]]] = {}
        next_row = skip
        exhausted = False
        with ThreadPoolExecutor(max_workers=self._concurrency, thread_name_prefix="import") as pool:
            try:
                while True:
                    while not exhausted and not interrupted() and len(pending) < self._concurrency:
                        chunk = next(chunks, None)
                        if chunk is None:
                            exhausted = True
                            break
                        pending[pool.submit(self._send, chunk)] = chunk
                    if not pending:
                        break
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    if interrupted():
                        self._stopping.set()
                    for future in done:
                        chunk = pending.pop(future)
                        try:
                            finished[chunk.first_row] = (chunk, future.result())
                        except _Stopped:
                            exhausted = False  # not answered: the checkpoint stays before it
                    # Advance the checkpoint over the chunks answered in file order only.
                    while next_row in finished:
                        chunk, outcome = finished.pop(next_row)
                        self._settle(chunk, outcome, summary)
                        next_row += len(chunk.rows)
                        progress(next_row)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        summary.interrupted = interrupted() and not exhausted
        self.checkpoint.complete = exhausted and not finished and not summary.interrupted
        self.checkpoint.save(self._checkpoint_path)
        summary.elapsed_s = time.monotonic() - started
        return summary

    def _chunks(self, rows: Iterator[Row], skip: int) -> Iterator[_Chunk]:
        size = self.checkpoint.chunk_size
        batch: list[Row] = []
        index = 0
        first = skip
        for row in rows:
            index += 1
            if index <= skip:
                continue
            batch.append(row)
            if len(batch) == size:
                yield _Chunk(first, batch)
                first += len(batch)
                batch = []
        if batch:
            yield _Chunk(first, batch)

    def _send(self, chunk: _Chunk) -> tuple[int, int, int, list[tuple[Row, list[str]]]]:
        """(accepted, requests, repeated, rejected rows with reasons) for one chunk, split if its body is too big."""
        readable = [row for row in chunk.rows if row.values is not None]
        rejected: list[tuple[Row, list[str]]] = [(row, [row.problem]) for row in chunk.rows if row.values is None]
        accepted = requests = repeated = 0
        for part in self._parts(readable, chunk.first_row):
            contacts = [to_contact(row.values or {}, self.checkpoint.mapping) for row in part]
            body = json.dumps({"contacts": contacts}, separators=(",", ":")).encode()
            key = f"import-{self.checkpoint.fingerprint[:24]}-{part[0].number}-{part[-1].number}"
            status, answer, tries = self._post_with_retries(body, key)
            requests += tries
            reply = _json(answer)
            if status >= 300 and not (status == 422 and isinstance(reply.get("rejected"), list)):
                raise ChunkFailed(
                    f"rows {part[0].number}-{part[-1].number}: HTTP {status}: {_error_text(reply, answer)}"
                )
            accepted += int(reply.get("accepted") or 0)
            repeated += bool(reply.get("duplicate"))
            for item in reply.get("rejected") or []:
                index = item.get("index") if isinstance(item, dict) else None
                if isinstance(index, int) and 0 <= index < len(part):
                    rejected.append((part[index], [str(e) for e in item.get("errors") or ["rejected"]]))
        return accepted, requests, repeated, rejected

    def _parts(self, rows: list[Row], first_row: int) -> Iterator[list[Row]]:
        """The chunk itself, or halves of it (recursively) while a body would exceed MaxBodyBytes."""
        if not rows:
            return
        contacts = [to_contact(row.values or {}, self.checkpoint.mapping) for row in rows]
        size = len(json.dumps({"contacts": contacts}, separators=(",", ":")).encode())
        if size <= self._max_body_bytes or len(rows) == 1:
            yield rows
            return
        middle = len(rows) // 2
        yield from self._parts(rows[:middle], first_row)
        yield from self._parts(rows[middle:], first_row + middle)

    def _post_with_retries(self, body: bytes, key: str) -> tuple[int, bytes, int]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        delay = 1.0
        for attempt in range(1, MAX_TRIES + 1):
            try:
                status, answer, answer_headers = self._post(body, headers)
            except OSError as error:
                if attempt == MAX_TRIES:
                    raise ChunkFailed(f"the stack did not answer: {error}") from None
                if self._stopping.is_set():
                    raise _Stopped from None
            else:
                if status not in RETRYABLE or attempt == MAX_TRIES:
                    return status, answer, attempt
                retry_after = _seconds(answer_headers.get("retry-after") or answer_headers.get("Retry-After"))
                delay = max(delay, retry_after or 0.0)
            if self._stopping.is_set():
                raise _Stopped
            self._sleep(min(delay, 30.0))
            delay *= 2
        raise AssertionError("unreachable")

    def _settle(
        self, chunk: _Chunk, outcome: tuple[int, int, int, list[tuple[Row, list[str]]]], summary: ImportSummary
    ) -> None:
        accepted, requests, repeated, rejected = outcome
        for row, reasons in sorted(rejected, key=lambda item: item[0].number):
            self._rejects.write(json.dumps({"row": row.number, "errors": reasons, "values": row.values}) + "\n")
            summary.reasons.update(reasons)
        self._rejects.flush()
        checkpoint = self.checkpoint
        checkpoint.rows_done += len(chunk.rows)
        checkpoint.accepted += accepted
        checkpoint.rejected += len(rejected)
        checkpoint.requests += requests
        checkpoint.repeated_chunks += repeated
        summary.rows_this_run += len(chunk.rows)
        summary.requests_this_run += requests
        checkpoint.save(self._checkpoint_path)


def _json(answer: bytes) -> dict[str, Any]:
    try:
        value = json.loads(answer)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_text(reply: Mapping[str, Any], answer: bytes) -> str:
    error = reply.get("error")
    if isinstance(error, dict):
        return f"{error.get('code')}: {error.get('message')}"
    if isinstance(reply.get("message"), str):
        return str(reply["message"])
    return answer.decode("utf-8", "replace")[:200]


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def open_rejects(path: Path, *, append: bool) -> IO[str]:
    """The rejections file, created readable by its owner only (it holds the rows)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    descriptor = os.open(path, flags, 0o600)
    os.chmod(path, 0o600)
    return io.TextIOWrapper(os.fdopen(descriptor, "wb"), encoding="utf-8")
