"""`heymarket-bridge import FILE`: a contact export through a stack, in chunks, resumable (importer.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, Final

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CliError
from heymarket_bridge_tools.target import resolve, target_options

DEFAULT_MAX_CONTACTS: Final = 500  # template.yaml's MaxContactsPerRequest default
DEFAULT_MAX_BODY_BYTES: Final = 1_048_576  # and MaxBodyBytes's


@click.command(
    "import",
    context_settings=CONTEXT_SETTINGS,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge import contacts.csv --map phone=Mobile --map first='First Name'\n"
    "  heymarket-bridge import export.jsonl --stack-name heymarket-bridge\n"
    "  heymarket-bridge import contacts.csv --map custom.101=Campus      # a custom field by its id\n"
    "  heymarket-bridge import export.csv --encoding cp1252 --map name='Full name'   # Excel on Windows\n"
    "  heymarket-bridge import contacts.csv --restart                     # ignore the checkpoint, start over",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Which column holds a field (repeat): phone, first, last, name (a full name, split on its last space), "
    "display_name, email, avatar, tags, is_opted_out, assignee_id, contact_id, custom.<id>. Columns already named as "
    "fields need none.",
)
@click.option(
    "--encoding",
    default="utf-8",
    metavar="NAME",
    help="The file's text encoding (cp1252 for Excel on Windows, latin-1...).",
)
@click.option(
    "--delimiter",
    type=click.Choice([",", ";", "tab", "|"]),
    metavar="CHAR",
    help="A CSV's delimiter: , ; tab or |  [default: the one its header line uses]",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 10_000),
    metavar="N",
    help="Contacts per request  [default: the stack's MaxContactsPerRequest]",
)
@click.option("--concurrency", type=click.IntRange(1, 16), default=4, metavar="N", help="Requests in flight at once.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where rejected rows and their reasons go, as JSON lines  [default: FILE.rejected.jsonl]",
)
@click.option("--restart", is_flag=True, help="Start from the first row, ignoring (and replacing) the checkpoint.")
@click.option("--secret", metavar="TOKEN", help="The generic source's token (default: the one the stack holds).")
@target_options
def import_contacts(
    file: Path,
    mappings: tuple[str, ...],
    encoding: str,
    delimiter: str | None,
    chunk_size: int | None,
    concurrency: int,
    rejects: Path | None,
    restart: bool,
    secret: str | None,
    **where: Any,
) -> int:
    """Send a contact export (CSV with a header, JSON lines, or a JSON array) through a stack's generic webhook.

    The file is read and checked before anything is sent: a file it cannot read (another encoding: --encoding), a
    --map column it does not have, or no phone column stops the import there. Rows go in chunks of the stack's
    MaxContactsPerRequest. Rejected rows are written with their row number and reasons to FILE.rejected.jsonl, rows
    accepted with a warning (a dropped field, a value to check) to FILE.warnings.jsonl (both mode 0600). Progress
    is saved in FILE.import.json after every chunk: if the import stops (Ctrl-C, a network failure), run the same
    command again to continue; no row is queued twice. The bridge queues nothing for contacts it queued unchanged
    in the last 15 minutes (an import run again with --restart soon after): the summary says how many.
    With --concurrency above 1, two rows for one phone in different chunks may arrive in either order.
    Exits 0 when every row was accepted, 1 when some were rejected (see the rejects file), 130 when interrupted.
    """
    from heymarket_bridge_tools.importer import (
        Checkpoint,
        ChunkFailed,
        ContactImport,
        LazyRowFile,
        check_export,
        fingerprint,
        open_rejects,
        parse_mapping,
        read_export,
    )

    mapping = parse_mapping(mappings)
    export = read_export(file, encoding=encoding, delimiter="\t" if delimiter == "tab" else delimiter)
    check_export(export, mapping)
    target = resolve(**where)
    token, max_contacts = _what_the_stack_takes(target, secret, chunk_size)
    checkpoint_path = file.with_name(file.name + ".import.json")
    rejects_path = rejects or file.with_name(file.name + ".rejected.jsonl")
    warnings_path = file.with_name(file.name + ".warnings.jsonl")
    digest = fingerprint(file)
    checkpoint = None if restart else Checkpoint.load(checkpoint_path)
    resuming = checkpoint is not None
    reading = (export.encoding, export.delimiter)
    if checkpoint is not None:
        _check_resumable(checkpoint, checkpoint_path, file, (digest, target.description, mapping, reading))
    else:
        checkpoint = Checkpoint(
            digest, target.description, mapping, chunk_size or max_contacts, encoding=reading[0], delimiter=reading[1]
        )
    total = len(export.rows)
    from heymarket_bridge_tools.console import console, progress

    out = console()
    if resuming:
        out.print(f"resuming {file} at row {checkpoint.rows_done + 1} of {total} ({checkpoint_path})")
    post = _poster(f"{target.api_url.rstrip('/')}/webhooks/generic", token)
    max_body = _int(target.parameter("MaxBodyBytes", ""), DEFAULT_MAX_BODY_BYTES)
    with (
        open_rejects(rejects_path, append=resuming) as rejects_file,
        LazyRowFile(warnings_path, append=resuming) as warnings_file,
    ):
        run = ContactImport(
            post,
            checkpoint,
            checkpoint_path,
            rejects_file,
            warnings=warnings_file,
            concurrency=concurrency,
            max_body_bytes=max_body,
        )
        with _deferred_interrupts() as interrupted, progress(f"importing {file.name}", total=total) as advance:
            advance(checkpoint.rows_done)
            try:
                summary = run.run(iter(export.rows), progress=advance, interrupted=interrupted)
            except ChunkFailed as error:
                raise CliError(
                    f"stopped after row {run.checkpoint.rows_done}: {error}; fix it and run the same command "
                    "again to continue"
                ) from None
    done = summary.checkpoint
    rate = summary.rows_this_run / summary.elapsed_s if summary.elapsed_s else 0.0
    warned = f" ({done.warned} with a warning)" if done.warned else ""
    out.print(
        f"{done.rows_done} of {total} rows sent to the {target.description}: {done.accepted} accepted{warned}, "
        f"{done.rejected} rejected; this run {summary.rows_this_run} rows in {summary.requests_this_run} requests, "
        f"{summary.elapsed_s:.1f} s ({rate:,.0f} rows/s)",
        markup=False,
    )
    _print_notes(out, summary, rejects_path, warnings_path)
    if summary.interrupted:
        out.print("interrupted: run the same command again to continue")
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if done.rejected else 0


def _print_notes(out: Any, summary: Any, rejects_path: Path, warnings_path: Path) -> None:
    """After the totals: contacts the bridge answered as repeats, and the commonest reasons rows were rejected or
    warned about, with the files that list them all."""
    done = summary.checkpoint
    if done.repeated_chunks:
        out.print(
            f"nothing was queued for {done.repeated_rows} of the accepted contacts: the bridge answered their "
            f"{done.repeated_chunks} chunk(s) as repeats of contacts it had already queued (the same rows imported "
            "within the last 15 minutes, or a chunk sent again after its answer was lost)",
            markup=False,
        )
    if done.rejected:
        out.print(f"rejected rows and reasons: {rejects_path}", markup=False)
        for reason, count in summary.reasons.most_common(5):
            out.print(f"  {count:>7}  {reason}", markup=False)
    if done.warned:
        out.print(f"rows accepted with a warning, and what to check: {warnings_path}", markup=False)
        for note, count in summary.warnings.most_common(5):
            out.print(f"  {count:>7}  {note}", markup=False)


def _what_the_stack_takes(target: Any, secret: str | None, chunk_size: int | None) -> tuple[str, int]:
    """(the generic token, MaxContactsPerRequest) of the target; CliError when it has no token or webhook URL, or
    --chunk-size is above its limit."""
    token = secret or target.webhook_secret("generic")
    if not token:
        raise CliError(f"the {target.description} holds no 'generic' token: add one to its webhook secrets or --secret")
    if not target.api_url:
        raise CliError(f"the {target.description} has no webhook URL (WebhookUrl output)")
    max_contacts = _int(target.parameter("MaxContactsPerRequest", ""), DEFAULT_MAX_CONTACTS)
    if chunk_size is not None and chunk_size > max_contacts:
        raise CliError(
            f"--chunk-size {chunk_size} is above the stack's MaxContactsPerRequest ({max_contacts})", EXIT_USAGE
        )
    return str(token), max_contacts


def _check_resumable(checkpoint: Any, checkpoint_path: Path, file: Path, run: tuple[Any, ...]) -> None:
    """CliError unless `checkpoint` is this run's (file digest, target, --map, (encoding, delimiter)) and unfinished."""
    if (
        checkpoint.fingerprint,
        checkpoint.target,
        checkpoint.mapping,
        (checkpoint.encoding, checkpoint.delimiter),
    ) != run:
        raise CliError(
            f"{checkpoint_path} is the checkpoint of another file, target, --map, --encoding or --delimiter: "
            "pass --restart to start over"
        )
    if checkpoint.complete:
        raise CliError(
            f"{file} was already imported ({checkpoint.rows_done} rows, see {checkpoint_path}): "
            "pass --restart to import it again"
        )


def _int(value: str, default: int) -> int:
    try:
        return int(value)
    except ValueError:
        return default


def _poster(url: str, token: str) -> Any:
    import urllib3

    http = urllib3.PoolManager(maxsize=16, retries=False, timeout=urllib3.Timeout(connect=5.0, read=60.0))

    def post(body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, Mapping[str, str]]:
        try:
            response = http.request("POST", url, body=body, headers={**headers, "Authorization": f"Bearer {token}"})
        except urllib3.exceptions.HTTPError as error:
            raise OSError(str(error)) from None
        return response.status, response.data, dict(response.headers)

    return post


@contextmanager
def _deferred_interrupts() -> Iterator[Any]:
    """Ctrl-C/SIGTERM become a flag checked between chunks: the chunks in flight are answered and recorded."""
    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(received)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
