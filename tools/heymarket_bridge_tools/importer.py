"""Importing a contact export (CSV, JSON lines or a JSON array) through a stack's generic webhook, resumably.

The export is read and checked whole before anything is sent (`read_export`, `check_export`): its encoding
(UTF-8 unless told otherwise), a CSV's delimiter (sniffed from its header: comma, semicolon, tab or bar), rows at
all, every `--map` column present, and a phone column. Rows become contacts in the bridge's field names (`--map
phone=Mobile` says which column holds which field; `name=` a full name split on its last space, as SourceMappings
does; `custom.<id>=Column` a custom field), are posted in chunks of the stack's MaxContactsPerRequest, and each
answer's rejections are written with their row number and reasons to a JSON-lines file (mode 0600: it holds the
rows); contacts accepted with a warning (answers.py) go to another. A checkpoint file next to the export records how
many rows are done; a run started again skips them.
Each chunk carries an `Idempotency-Key` made of the run's id and the hash of the body sent, so that a chunk whose
answer was lost (Ctrl-C, a crash, a dropped connection) and is sent again by a resumed run is recognised by the
bridge as a repeat (no row queued twice), while another body (a corrected --map) or another run (--restart) is a
new request. The bridge also answers as a repeat, queuing nothing, contacts it queued unchanged within the last 15
minutes (heymarket_bridge.ingest.service): the summary counts such chunks and says so. Chunks go out `concurrency` at a
time; the checkpoint only advances over chunks all answered.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Final, Protocol

from heymarket_bridge.domain.mapping import split_name
from heymarket_bridge.domain.operations import REFUSED_AT_INGEST
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_local.answers import Answer, read_answer

# The contact fields a column can fill, as the generic source reads them (README "The generic source"); `name` is a
# full name, split into first and last as SourceMappings splits it (README "Mapping fields").
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
    "contact_id",
    "country",
    "occurred_at",
)
MAPPING_FIELDS: Final = (*CONTACT_FIELDS, "name")
# Delimiters a CSV header is sniffed for, the first one winning a tie.
DELIMITERS: Final = (",", ";", "\t", "|")
MAX_TRIES: Final = 6
RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})

Post = Callable[[bytes, Mapping[str, str]], tuple[int, bytes, Mapping[str, str]]]
"""Posts a body with headers to the stack's generic webhook: (status, answer body, answer headers)."""


class RowSink(Protocol):
    """Where rows with their reasons are written, one JSON line each (a file, or a lazily created one)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


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


@dataclass(frozen=True)
class Export:
    """An export read whole: its rows, and what was found out reading it."""

    path: Path
    kind: str  # "CSV", "JSON lines" or "JSON"
    encoding: str
    delimiter: str  # a CSV's ("" otherwise)
    columns: tuple[str, ...]  # a CSV's header, or every key the JSON rows use, in order of appearance
    rows: tuple[Row, ...]


def read_export(path: Path, *, encoding: str = "utf-8", delimiter: str | None = None) -> Export:
    """Read an export (CSV with a header, JSON lines, or a JSON array or {"contacts": [...]}); a CliError names what
    cannot be read: an unknown encoding, or bytes that are not in it (with the option that reads them)."""
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise CliError(
            f"--encoding {encoding!r} is not an encoding Python knows (e.g. utf-8, cp1252, latin-1)", EXIT_USAGE
        ) from None
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise CliError(
            f"{path} is not {encoding} text (byte 0x{data[error.start]:02x} on line {line}): pass the encoding it was "
            "saved in, e.g. --encoding cp1252 (Excel on Windows) or --encoding latin-1",
            EXIT_USAGE,
        ) from None
    json_rows = _json_document(text) if path.suffix.lower() not in (".jsonl", ".ndjson") else None
    if json_rows is not None:
        return _export(path, "JSON", codec, "", json_rows)
    if path.suffix.lower() in (".jsonl", ".ndjson") or text.lstrip().startswith("{"):
        return _export(path, "JSON lines", codec, "", list(_json_lines(text)))
    used = delimiter if delimiter is not None else _sniff_delimiter(text)
    columns, rows = _csv_rows(text, used)
    return Export(path, "CSV", codec, used, columns, tuple(rows))


def read_rows(path: Path, *, encoding: str = "utf-8", delimiter: str | None = None) -> Iterator[Row]:
    """The data rows of an export (see read_export)."""
    yield from read_export(path, encoding=encoding, delimiter=delimiter).rows


def _export(path: Path, kind: str, codec: str, delimiter: str, rows: list[Row]) -> Export:
    keys: dict[str, None] = {}
    for row in rows:
        keys.update(dict.fromkeys(row.values or {}))
    return Export(path, kind, codec, delimiter, tuple(keys), tuple(rows))


def _json_document(text: str) -> list[Row] | None:
    """The rows of a file that is one JSON document: an array of contacts, {"contacts": [...]}, or one contact.
    None when the text is not one JSON document (JSON lines, a CSV)."""
    if not text.lstrip().startswith(("[", "{")):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("contacts"), list):
        document = document["contacts"]
    items = document if isinstance(document, list) else [document]
    return [
        _item_row(number, item) if isinstance(item, dict) else Row(number, None, "not a JSON object")
        for number, item in enumerate(items, start=1)
    ]


def _json_lines(text: str) -> Iterator[Row]:
    number = 0
    for line in text.splitlines():
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
        yield _item_row(number, value)


def _item_row(number: int, item: dict[str, Any]) -> Row:
    """A JSON item as a row; a refusal letter edited into an explicit opt-in (`is_opted_out` no longer true) is
    refused: a correction never opts a person in (heymarket_bridge_tools.dlq_corrections.opt_in_by_correction)."""
    row = _unwrapped(item)
    if row is not item and _opted_in_by_edit(row):
        return Row(number, None, "a refusal letter's is_opted_out can only be true: only the person opts back in")
    return Row(number, row)


def _opted_in_by_edit(fields: dict[str, Any]) -> bool:
    from heymarket_bridge_tools.dlq_corrections import opt_in_by_correction

    # The file holds only the edited letter: an explicit opt-in in it is refused (a removed key cannot be told from
    # a letter that never held one; such a contact is written without any opt-in claim, as any sender's is).
    return bool(opt_in_by_correction(None, fields))


def _unwrapped(item: dict[str, Any]) -> dict[str, Any]:
    """A row as given, or, for a refusal letter of `heymarket-bridge dlq export` (a contact refused at ingest, maybe
    edited since), the fields it holds: re-imported, they are validated again like any row."""
    fields = item.get("fields")
    if item.get("kind") == REFUSED_AT_INGEST and isinstance(fields, dict):
        return dict(fields)
    return item


def _sniff_delimiter(text: str) -> str:
    """The delimiter its header line uses most (outside quotes); a comma when it uses none (one column)."""
    header = text.split("\n", 1)[0]
    outside_quotes = "".join(part for index, part in enumerate(header.split('"')) if index % 2 == 0)
    counts = {delimiter: outside_quotes.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _csv_rows(text: str, delimiter: str) -> tuple[tuple[str, ...], list[Row]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return (), []
    columns = tuple(name.strip() for name in header)
    rows: list[Row] = []
    number = 0
    for record in reader:
        if not any(value.strip() for value in record):
            continue  # a blank line, or a line of delimiters only
        number += 1
        if len(record) > len(columns):
            rows.append(Row(number, None, f"{len(record) - len(columns)} more value(s) than the header has columns"))
            continue
        rows.append(Row(number, dict(zip(columns, [*record, *[""] * (len(columns) - len(record))], strict=True))))
    return columns, rows


def check_export(export: Export, mapping: Mapping[str, str]) -> None:
    """Refuse, before anything is sent, an export that cannot be imported as asked: no rows, a --map column it does
    not have, no phone column. The message names the columns found and how the file was read."""
    how = f"read as {export.kind}" + (f" with the delimiter {export.delimiter!r}" if export.delimiter else "")
    if not export.rows:
        raise CliError(f"{export.path} holds no contact rows ({how}): nothing to import", EXIT_USAGE)
    columns = ", ".join(repr(column) for column in export.columns[:20]) or "none"
    missing = [f"{name}={column}" for name, column in mapping.items() if column not in export.columns]
    if missing:
        raise CliError(
            f"--map {' '.join(missing)}: {export.path} has no such column ({how}; its columns: {columns})", EXIT_USAGE
        )
    if "phone" not in mapping and "phone" not in export.columns:
        raise CliError(
            f"{export.path} has no phone column ({how}; its columns: {columns}): say which holds the phone with "
            "--map phone=COLUMN"
            + (", or its delimiter with --delimiter" if export.kind == "CSV" and len(export.columns) == 1 else ""),
            EXIT_USAGE,
        )


def parse_mapping(items: Sequence[str]) -> dict[str, str]:
    """`("phone=Mobile", "custom.101 = Campus")` -> {"phone": "Mobile", "custom.101": "Campus"} (spaces around the
    field and the column are not part of them)."""
    mapping: dict[str, str] = {}
    for item in items:
        name, equals, column = item.partition("=")
        name, column = name.strip(), column.strip()
        if not equals or not name or not column:
            raise CliError(f"--map: expected FIELD=COLUMN (e.g. phone=Mobile), got {item!r}", EXIT_USAGE)
        if name not in MAPPING_FIELDS and not (name.startswith("custom.") and name[7:].strip()):
            known = ", ".join(MAPPING_FIELDS)
            raise CliError(f"--map: unknown field {name!r}; fields: {known}, custom.<field id>", EXIT_USAGE)
        if name.startswith("custom."):
            name = "custom." + name[7:].strip()
        mapping[name] = column
    return mapping


def to_contact(values: Mapping[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A row as a contact in the bridge's names: mapped columns, plus columns already named as fields; `name` a full
    name split into first and last (a mapped first or last wins over its part)."""
    contact: dict[str, Any] = {}
    if "name" in mapping:
        first, last = split_name(values.get(mapping["name"]))
        contact.update({key: value for key, value in (("first", first), ("last", last)) if value is not None})
    for name in CONTACT_FIELDS:
        if name in ("first", "last") and "name" in mapping and name not in mapping:
            continue
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
    """What a run has done, saved after every chunk so that a later run resumes there.

    `run_id` is made when an import starts from its first row (a first run, or --restart) and kept by the runs that
    resume it: it is part of every chunk's Idempotency-Key.
    """

    fingerprint: str
    target: str
    mapping: dict[str, str]
    chunk_size: int
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    encoding: str = "utf-8"
    delimiter: str = ""
    rows_done: int = 0
    accepted: int = 0
    rejected: int = 0
    warned: int = 0  # accepted with a warning (counted in `accepted` too)
    repeated_chunks: int = 0  # chunks the bridge answered as repeats: nothing of them was queued by this import
    repeated_rows: int = 0  # the contacts those chunks accepted
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
        except FileNotFoundError:
            return None
        except ValueError as error:
            raise CliError(f"{path} is not an import checkpoint ({error}): delete it or pass --restart") from None
        if isinstance(data, dict) and "fingerprint" in data and "run_id" not in data:
            raise CliError(
                f"{path} was written by an older heymarket-bridge: pass --restart (contacts the bridge queued "
                "unchanged in the last 15 minutes are recognised and not queued again)"
            )
        try:
            return cls(**data)
        except TypeError as error:
            raise CliError(f"{path} is not an import checkpoint ({error}): delete it or pass --restart") from None


@dataclass
class ImportSummary:
    checkpoint: Checkpoint
    rows_this_run: int = 0
    requests_this_run: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # of this run's rejections
    warnings: Counter[str] = field(default_factory=Counter)  # of this run's contacts accepted with a warning
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


@dataclass
class _Outcome:
    """What the bridge answered for one chunk (all its parts)."""

    accepted: int = 0
    requests: int = 0
    repeated_chunks: int = 0
    repeated_rows: int = 0
    rejected: list[tuple[Row, list[str]]] = field(default_factory=list)
    warned: list[tuple[Row, list[str]]] = field(default_factory=list)


class ContactImport:
    """One run of an import: chunks out, answers in, rejections and warnings written, checkpoint advanced."""

    def __init__(
        self,
        post: Post,
        checkpoint: Checkpoint,
        checkpoint_path: Path,
        rejects: RowSink,
        *,
        warnings: RowSink | None = None,
        concurrency: int = 4,
        max_body_bytes: int = 1024 * 1024,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._post = post
        self.checkpoint = checkpoint
        self._checkpoint_path = checkpoint_path
        self._rejects = rejects
        self._warnings = warnings
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
        # Saved before the first request: a run that dies before any answer leaves its run id to the next run, whose
        # resends are then recognised by their keys.
        self.checkpoint.save(self._checkpoint_path)
        skip = self.checkpoint.rows_done
        chunks = self._chunks(rows, skip)
        pending: dict[Future[_Outcome], _Chunk] = {}
        finished: dict[int, tuple[_Chunk, _Outcome]] = {}
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
                    next_row = self._advance(finished, next_row, summary, progress)
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        summary.interrupted = interrupted() and not exhausted
        self.checkpoint.complete = exhausted and not finished and not summary.interrupted
        self.checkpoint.save(self._checkpoint_path)
        summary.elapsed_s = time.monotonic() - started
        return summary

    def _advance(
        self,
        finished: dict[int, tuple[_Chunk, _Outcome]],
        next_row: int,
        summary: ImportSummary,
        progress: Callable[[int], None],
    ) -> int:
        """Advance the checkpoint over the chunks answered, in file order only; the next row to wait for."""
        while next_row in finished:
            chunk, outcome = finished.pop(next_row)
            self._settle(chunk, outcome, summary)
            next_row += len(chunk.rows)
            progress(next_row)
        return next_row

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

    def _send(self, chunk: _Chunk) -> _Outcome:
        """What the bridge answered for one chunk, split if its body is too big."""
        readable = [row for row in chunk.rows if row.values is not None]
        outcome = _Outcome(rejected=[(row, [row.problem]) for row in chunk.rows if row.values is None])
        for part in self._parts(readable, chunk.first_row):
            contacts = [to_contact(row.values or {}, self.checkpoint.mapping) for row in part]
            body = json.dumps({"contacts": contacts}, separators=(",", ":")).encode()
            status, answer, tries = self._post_with_retries(body, self.idempotency_key(body))
            outcome.requests += tries
            reply = _json(answer)
            if status >= 300 and not (status == 422 and isinstance(reply.get("rejected"), list)):
                raise ChunkFailed(
                    f"rows {part[0].number}-{part[-1].number}: HTTP {status}: {_error_text(reply, answer)}"
                )
            read = read_answer(reply)
            if read is not None:
                _count(outcome, read, part)
        return outcome

    def idempotency_key(self, body: bytes) -> str:
        """This run's key for a body: the same body sent again by this import (a resumed run) is the same request;
        another body, or a run started over (--restart), is a new one."""
        return f"import-{self.checkpoint.run_id}-{hashlib.sha256(body).hexdigest()[:32]}"

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

    def _settle(self, chunk: _Chunk, outcome: _Outcome, summary: ImportSummary) -> None:
        for row, reasons in sorted(outcome.rejected, key=lambda item: item[0].number):
            self._rejects.write(json.dumps({"row": row.number, "errors": reasons, "values": row.values}) + "\n")
            summary.reasons.update(reasons)
        self._rejects.flush()
        if self._warnings is not None and outcome.warned:
            for row, notes in sorted(outcome.warned, key=lambda item: item[0].number):
                self._warnings.write(json.dumps({"row": row.number, "warnings": notes, "values": row.values}) + "\n")
            self._warnings.flush()
        for _, notes in outcome.warned:
            summary.warnings.update(notes)
        checkpoint = self.checkpoint
        checkpoint.rows_done += len(chunk.rows)
        checkpoint.accepted += outcome.accepted
        checkpoint.rejected += len(outcome.rejected)
        checkpoint.warned += len(outcome.warned)
        checkpoint.requests += outcome.requests
        checkpoint.repeated_chunks += outcome.repeated_chunks
        checkpoint.repeated_rows += outcome.repeated_rows
        summary.rows_this_run += len(chunk.rows)
        summary.requests_this_run += outcome.requests
        checkpoint.save(self._checkpoint_path)


def _count(outcome: _Outcome, read: Answer, part: list[Row]) -> None:
    """Add one answer to the chunk's outcome: contacts accepted (and repeated), rows rejected or warned about."""
    accepted = read.accepted or 0
    outcome.accepted += accepted
    if read.duplicate:
        outcome.repeated_chunks += 1
        outcome.repeated_rows += accepted
    for note in read.rejected:
        if note.index is not None and 0 <= note.index < len(part):
            outcome.rejected.append((part[note.index], list(note.texts)))
    for note in read.warnings:
        if note.index is not None and 0 <= note.index < len(part):
            outcome.warned.append((part[note.index], list(note.texts)))


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


class LazyRowFile:
    """A rows file (mode 0600, like the rejections file) created only once something is written to it; a run that
    starts over removes the previous run's."""

    def __init__(self, path: Path, *, append: bool) -> None:
        self.path = path
        self._append = append
        self._file: IO[str] | None = None
        if not append:
            path.unlink(missing_ok=True)

    def write(self, text: str) -> int:
        if self._file is None:
            self._file = open_rejects(self.path, append=self._append)
        return self._file.write(text)

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    @property
    def written(self) -> bool:
        return self._file is not None

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> LazyRowFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
