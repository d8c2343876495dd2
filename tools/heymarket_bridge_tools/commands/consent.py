"""Operator command: `consent export`, the consent record of a deployed stack (`--stack-name`) or of the running
local stack (`--local`), per phone or for all phones, as JSON lines or CSV. Only click is imported at module level.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_bridge_tools.target import Target, resolve, target_options
from heymarket_bridge_tools.terminal import echo

TABLE_OUTPUT = "ConsentRecordTableName"
FORMATS = ("jsonl", "csv")


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge consent export consent.jsonl --stack-name heymarket-bridge\n"
    "  heymarket-bridge consent export consent.csv --phone '+1 510 555 0123' --local",
)
def consent() -> None:
    """The consent record: every SMS consent change the bridge received, per phone, and what it did with it."""


@consent.command(
    "export",
    context_settings=CONTEXT_SETTINGS,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge consent export consent.jsonl --stack-name heymarket-bridge\n"
    "  heymarket-bridge consent export ann.csv --phone '+1 510 555 0123' --local\n"
    "  heymarket-bridge consent export old.jsonl --table old-stack-ConsentRecordTable-1A2B3C --region eu-west-1",
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--phone",
    metavar="PHONE",
    help="Only this phone's changes (any format; national numbers are read in the stack's DefaultCountry).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    help="jsonl (one JSON object per line) or csv; default: from FILE's extension (.csv), else jsonl.",
)
@click.option(
    "--table",
    metavar="NAME",
    help="Read this table instead of the stack's; with --region and no --stack-name, a table on AWS kept from a "
    "deleted stack.",
)
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@target_options
def consent_export(
    file: Path, phone: str | None, output_format: str | None, table: str | None, force: bool, **where: Any
) -> None:
    """Write the consent record's changes to FILE, phone by phone in the order recorded.

    FILE holds phone numbers: it is created readable by you only (mode 0600).
    """
    if file.exists() and not force:
        raise CliError(f"{file} exists: choose another file or pass --force to replace it", EXIT_USAGE)
    if not file.parent.is_dir():
        raise CliError(f"{file.parent}: no such folder", EXIT_USAGE)
    chosen = output_format or ("csv" if file.suffix.lower() == ".csv" else "jsonl")
    from heymarket_bridge.adapters.aws.consent_log import read_changes

    if table and where.get("region") and not where.get("stack_name"):
        import boto3  # a table kept from a deleted stack: no stack to read it through

        client: Any = boto3.session.Session(region_name=where["region"]).client("dynamodb")
        digits = _phone(phone, None) if phone is not None else None
    else:
        target = resolve(**where)
        client = target.clients("dynamodb")
        digits = _phone(phone, target) if phone is not None else None
        table = table or consent_table(target)
    count = write_changes(file, read_changes(client, table, digits), chosen)
    which = "of every phone" if digits is None else "of that phone"
    echo(f"wrote {count} consent change(s) {which} to {file} ({chosen}, mode 0600: it holds phone numbers)")


def consent_table(target: Target) -> str:
    """The consent record table of the target (a CliError when the stack has none)."""
    name = target.outputs.get(TABLE_OUTPUT)
    if not name:
        raise CliError(
            f"the {target.description} has no consent record ({TABLE_OUTPUT}): update it to this version, "
            "or name a table with --table",
            EXIT_USAGE,
        )
    return name


def write_changes(path: Path, changes: Iterable[dict[str, Any]], output_format: str) -> int:
    """Write the changes to a new file at `path` (mode 0600), as JSON lines or CSV with a header; how many."""
    from heymarket_bridge.adapters.aws.consent_log import FIELDS

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=FIELDS) if output_format == "csv" else None
            if writer is not None:
                writer.writeheader()
            for change in changes:
                if writer is not None:
                    writer.writerow({k: _cell(change.get(k)) for k in FIELDS})
                else:
                    out.write(json.dumps(change, ensure_ascii=False) + "\n")
                count += 1
        os.chmod(temporary, 0o600)  # whatever the umask
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _phone(text: str, target: Target | None) -> str:
    from heymarket_bridge.domain.phone import normalise_phone

    try:
        return normalise_phone(text, target.parameter("DefaultCountry", "US") if target is not None else "US")
    except ValueError as error:
        raise CliError(f"--phone: {error}", EXIT_USAGE) from None
