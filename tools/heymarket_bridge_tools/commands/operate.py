"""Operator commands: `dlq list|show|export|redrive`, `status` (`check-credentials` is in setup.py, with `doctor`).

Each acts on a deployed stack (`--stack-name`: queue URLs from the stack's outputs, your AWS credentials) or on
the running local stack (`--local`, the default: its state file). Only click is imported here at module level;
boto3, the layer and rich load when a command runs.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, CliError
from heymarket_bridge_tools.target import Target, resolve, target_options
from heymarket_bridge_tools.terminal import echo

if TYPE_CHECKING:
    from heymarket_bridge_tools.dlq_letters import LetterFilter

_LAST_HOUR_METRICS = ("ContactsDelivered", "ContactsFailed", "ContactsDeadLettered")


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge dlq list --stack-name heymarket-bridge",
        "heymarket-bridge dlq show --local",
        "heymarket-bridge dlq export dlq.jsonl --stack-name heymarket-bridge",
        "heymarket-bridge dlq redrive --kind heymarket_unavailable --dry-run --stack-name heymarket-bridge",
    ),
)
def dlq() -> None:
    """Inspect, export and redrive the dead-letter queue.

    Every message in the DLQ says why it is there. Contacts, and Heymarket's error texts (which may quote
    names, emails and phones), are shown masked unless you pass --unmasked.
    """


@dlq.command(
    "list",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge dlq list --stack-name heymarket-bridge --region eu-west-1",
        "heymarket-bridge dlq list --local --unmasked",
    ),
)
@click.option("--unmasked", is_flag=True, help="Show Heymarket's error texts as they are (they may hold PII).")
@target_options
def dlq_list(unmasked: bool, **where: Any) -> None:
    """Count the dead letters, grouped by error, most frequent first."""
    from heymarket_bridge_tools.dlq import DeadLetterQueue

    target = resolve(**where)
    queue = DeadLetterQueue(target.clients("sqs"), target.queues)
    with _progress("reading the DLQ", unit="letters") as advance:
        entries = queue.entries(progress=advance)
    summary = Counter(entry.error if unmasked else entry.masked_error for entry in entries).most_common()
    console = _console()
    console.print(f"{len(entries)} dead letter(s) in the DLQ of the {target.description}")
    _print_shortfall(queue.last_count)
    if summary:
        table = _table("count", "error")
        for error, count in summary:
            table.add_row(str(count), error)
        console.print(table)


@dlq.command(
    "show",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples("heymarket-bridge dlq show --stack-name heymarket-bridge", "heymarket-bridge dlq show --json"),
)
@click.option("--unmasked", is_flag=True, help="Show whole contacts and error texts (they hold PII).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
@target_options
def dlq_show(unmasked: bool, as_json: bool, **where: Any) -> None:
    """Show every dead letter: its contact, source, attempts and error. Nothing is removed from the DLQ."""
    import json

    from heymarket_bridge_tools.dlq import DeadLetterQueue

    target = resolve(**where)
    queue = DeadLetterQueue(target.clients("sqs"), target.queues)
    with _progress("reading the DLQ", unit="letters") as advance:
        entries = queue.entries(progress=advance)
    if as_json:
        for entry in entries:
            echo(json.dumps(entry.unmasked() if unmasked else entry.masked()))
        _print_shortfall(queue.last_count)
        return
    console = _console()
    console.print(f"{len(entries)} dead letter(s) in the DLQ of the {target.description}")
    _print_shortfall(queue.last_count)
    if not entries:
        return
    table = _table("phone", "email", "source", "attempts", "error")
    for entry in entries:
        row = entry.masked()
        if unmasked:
            contact = (entry.letter.contact if entry.letter is not None else None) or {}
            row = {**row, "phone": contact.get("phone", ""), "email": contact.get("email", ""), "error": entry.error}
        table.add_row(
            str(row["phone"] or "-"),
            str(row["email"] or "-"),
            str(row["source"]),
            "-" if row["attempts"] is None else str(row["attempts"]),
            str(row["error"]),
        )
    console.print(table)


@dlq.command(
    "export",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge dlq export dlq.jsonl --stack-name heymarket-bridge",
        "heymarket-bridge dlq export dlq.jsonl --local --force",
    ),
)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@target_options
def dlq_export(file: Path, force: bool, **where: Any) -> None:
    """Write every dead letter to FILE as JSON lines, unmasked, to edit or re-post.

    FILE holds whole contacts: it is created readable by you only (mode 0600). The letters stay in the DLQ.
    """
    from heymarket_bridge_tools.dlq import DeadLetterQueue

    if file.exists() and not force:
        raise CliError(f"{file} exists: choose another file or pass --force to replace it", EXIT_USAGE)
    if not file.parent.is_dir():
        raise CliError(f"{file.parent}: no such folder", EXIT_USAGE)
    target = resolve(**where)
    queue = DeadLetterQueue(target.clients("sqs"), target.queues)
    with _progress("reading the DLQ", unit="letters") as advance:
        count = queue.export(file, progress=advance)
    _console().print(f"wrote {count} dead letter(s) to {file} (unmasked, mode 0600: keep it private)")
    _print_shortfall(queue.last_count)


@dlq.command(
    "redrive",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge dlq redrive --kind failed --kind heymarket_unavailable --dry-run --local",
        "heymarket-bridge dlq redrive --kind failed --since 2026-12-07T09:00Z --until 2026-12-07T12:00Z --stack-name "
        "heymarket-bridge",
        "heymarket-bridge dlq redrive --kind refused --source typeform --force --dry-run --stack-name heymarket-bridge",
        "heymarket-bridge dlq redrive --message-id 5fb1c0e2-... --set phone=+525512345679 --local",
        "heymarket-bridge dlq redrive --kind refused_at_ingest --source jotform --set country=MX --dry-run --local",
    ),
)
@click.option(
    "--kind",
    "kinds",
    multiple=True,
    metavar="KIND",
    help="Only letters of this kind of failure (repeat for several; `dlq show --json` shows each letter's "
    "error_kind): refused (Heymarket refused the contact), configuration, heymarket_unavailable (waited out an "
    "outage until the queue's retention), failed (kept failing while others succeeded), unreadable, "
    "refused_at_ingest, raw (moved by SQS itself), unclassified (written before letters had a kind).",
)
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only letters from this source (repeat).")
@click.option(
    "--since", default="", metavar="TIME", help="Only letters dead-lettered at or after TIME (ISO 8601, UTC)."
)
@click.option("--until", default="", metavar="TIME", help="Only letters dead-lettered before TIME (ISO 8601, UTC).")
@click.option("--filter", "error_filter", metavar="TEXT", hidden=True, help="Refused: use --kind, --source, --since.")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="FIELD=VALUE",
    help="Correct a refusal letter (a contact refused at ingest) before it goes back (repeat; custom.<id>=VALUE for "
    "a custom field): its fields are validated again like a delivery's, and one still refused stays in the DLQ. "
    "Only refusal letters are selected; phone, email or names can be set on one letter at a time.",
)
@click.option("--message-id", metavar="ID", help="Only this DLQ message (its message_id in `dlq show --json`).")
@click.option("--dry-run", is_flag=True, help="Count what would move; move nothing.")
@click.option(
    "--force",
    is_flag=True,
    help="Apply each letter even if its contact was changed since (by a newer operation) or it changes nothing.",
)
@target_options
def dlq_redrive(
    kinds: tuple[str, ...],
    sources: tuple[str, ...],
    since: str,
    until: str,
    error_filter: str | None,
    sets: tuple[str, ...],
    message_id: str | None,
    dry_run: bool,
    force: bool,
    **where: Any,
) -> int:
    """Send dead letters back to the main queue as their original messages.

    A refusal letter (a contact the bridge refused at ingest: "refused at ingest from <source>") goes back only once
    its fields, corrected with --set, pass the same validation as a delivery's contact.

    A letter older than the newest operation applied to its contact since is skipped when it arrives (superseded),
    and one that would change nothing is not sent: --force applies them anyway. Each letter is deleted from the DLQ
    only once its message is back on the queue. Ctrl-C stops between two letters; run the same command again to
    finish: nothing is lost and nothing is sent twice.

    Letters are selected by what the bridge itself recorded (--kind, --source, --since/--until), never by the
    error's text: it quotes what senders sent, and a sender could make its letter match.
    """
    from heymarket_bridge_tools.dlq import DeadLetterQueue, RedriveReport

    selected = _selection(error_filter, kinds, sources, since, until)
    from heymarket_bridge_tools.dlq_corrections import parse_sets

    try:
        corrections = parse_sets(sets)
    except ValueError as bad:
        raise CliError(str(bad), EXIT_USAGE) from None
    target = resolve(**where)
    queue = DeadLetterQueue(
        target.clients("sqs"), target.queues, contact_state=_contact_state(target, dry_run and force)
    )
    total = sum(queue.depth())
    with _progress("redriving" if not dry_run else "counting", total=total, unit="letters") as advance:

        def progress(report: RedriveReport) -> None:
            advance(report.moved + report.failed + report.skipped)

        report = queue.redrive(
            where=selected,
            dry_run=dry_run,
            force=force,
            sets=corrections,
            message_id=message_id,
            progress=progress,
        )
    console = _console()
    verb = "would move" if dry_run else "moved"
    console.print(
        f"{verb} {report.moved}, failed {report.failed}, skipped {report.skipped} (not matching the filter"
        + (", --message-id or --set: only refusal letters take corrections" if corrections or message_id else "")
        + ")"
    )
    if dry_run and force:
        _print_over_newer(report.over_newer, known="ContactStateTableName" in target.outputs)
    if report.returned:
        console.print(
            f"{report.returned} letter(s) came back to the DLQ while this ran (their contacts failed again: see "
            "`dlq list`): left there"
        )
    if not report.interrupted:
        _print_shortfall(queue.last_count)
    for error in report.errors[:10]:
        console.print(f"  {error}", markup=False)
    if report.interrupted:
        console.print("interrupted: run the same command again to continue (nothing was lost or sent twice)")
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if report.failed else 0


def _selection(
    error_filter: str | None, kinds: tuple[str, ...], sources: tuple[str, ...], since: str, until: str
) -> LetterFilter:
    """The letters a redrive selects; CliError (usage) for the text filter, an unknown kind or a time not ISO 8601."""
    from heymarket_bridge_tools.dlq_letters import LetterFilter

    if error_filter is not None:
        raise CliError(
            "--filter is no longer accepted: it matched the letter's error text, which quotes what senders sent (tag "
            "names, titles), so a sender could make its letter match and --force apply it over a newer STOP. Select "
            "letters with --kind (see `dlq show --json`, error_kind), --source, --since and --until.",
            EXIT_USAGE,
        )
    try:
        selected = LetterFilter.of(kinds, sources, since, until)
    except ValueError as bad:
        raise CliError(str(bad), EXIT_USAGE) from None
    return selected


def _contact_state(target: Target, wanted: bool) -> Any:
    """The stack's contact state table, read only, for a dry run of --force (None when not wanted or unknown)."""
    table = target.outputs.get("ContactStateTableName")
    if not wanted or not table:
        return None
    from heymarket_bridge.adapters.aws.contact_state import DynamoDbContactState

    return DynamoDbContactState(table, target.clients("dynamodb"))


def _print_over_newer(found: list[Any], *, known: bool) -> None:
    console = _console()
    if not known:
        console.print(
            "the stack names no ContactStateTable: which letters --force applies over newer operations is unknown"
        )
        return
    if not found:
        console.print("--force would apply none of them over a newer operation of its contact")
        return
    console.print(f"--force would apply {len(found)} letter(s) over a newer operation of their contact:")
    table = _table("message_id", "phone", "operation", "operation at", "newest applied at")
    for each in found[:50]:
        newest = each.newest_applied_at + (" (a delete)" if each.deleted else "")
        table.add_row(each.message_id, each.phone, each.operation, each.operation_at, newest)
    console.print(table)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples("heymarket-bridge status --stack-name heymarket-bridge", "heymarket-bridge status --local"),
)
@target_options
def status(**where: Any) -> None:
    """Show the queue's and the DLQ's depth; for a deployed stack also its alarms and the last hour's counts."""
    from heymarket_bridge_tools.ops import queue_status

    target = resolve(**where)
    depth = queue_status(target.clients("sqs"), target.queues)
    console = _console()
    console.print(f"{target.description}", markup=False)
    console.print(f"queue  {depth.queue_visible} waiting, {depth.queue_in_flight} in flight")
    if depth.queue_delayed:
        console.print(
            f"       {depth.queue_delayed} put back to wait (Heymarket unavailable or a configuration fix: see "
            "HeymarketUnavailableAlarm and HeymarketConfigurationAlarm; "
            "check-credentials tells whether the Heymarket secret works)"
        )
    console.print(f"DLQ    {depth.dlq_visible} dead letter(s)")
    if depth.fetch_dlq_visible is not None:
        console.print(
            f"fetch DLQ  {depth.fetch_dlq_visible} lead(s) or appointment(s) not fetched (LeadFetchDeadLetterQueue)",
            markup=False,
        )
        if depth.fetch_dlq_visible:
            console.print(
                "       each letter says why; to list them and fetch them again, see docs/operations/monitor.md"
                " (FetchDeadLetterAlarm)",
                markup=False,
            )
    if target.stack_name is not None:
        _print_alarms_and_counts(target, target.stack_name)


def _print_alarms_and_counts(target: Target, stack_name: str) -> None:
    console = _console()
    cloudwatch = target.clients("cloudwatch")
    names = stack_alarm_names(target.clients("cloudformation"), stack_name)
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        for alarm in cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]:
            state = alarm["StateValue"]
            colour = {"OK": "green", "ALARM": "red"}.get(state, "yellow")
            console.print(f"alarm  [{colour}]{state:<17}[/{colour}] {alarm['AlarmName']}")
    now = datetime.now(UTC)
    for name in _LAST_HOUR_METRICS:
        points = cloudwatch.get_metric_statistics(
            Namespace="HeymarketBridge",
            MetricName=name,
            Dimensions=[{"Name": "service", "Value": stack_name}],
            StartTime=now - timedelta(hours=1),
            EndTime=now,
            Period=3600,
            Statistics=["Sum"],
        )["Datapoints"]
        console.print(f"last hour  {name:<22} {int(sum(p['Sum'] for p in points))}")


def stack_alarm_names(cloudformation: Any, stack_name: str) -> list[str]:
    """The names of the alarms this stack created (its AWS::CloudWatch::Alarm resources), and no other stack's: a
    name prefix would also match a stack whose name starts with this one's (hb, hb-prod)."""
    names: list[str] = []
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        names += [
            str(resource["PhysicalResourceId"])
            for resource in page.get("StackResourceSummaries", [])
            if resource.get("ResourceType") == "AWS::CloudWatch::Alarm" and resource.get("PhysicalResourceId")
        ]
    return names


# ---------------------------------------------------------------------- output helpers (rich, loaded on use)


def _print_shortfall(count: Any) -> None:
    """A note on stderr when a read of the DLQ found fewer letters than the queue reported."""
    shortfall = count.shortfall()
    if shortfall:
        echo(f"note: {shortfall}", err=True)


def _console() -> Any:
    from heymarket_bridge_tools.console import console

    return console()


def _table(*columns: str) -> Any:
    from heymarket_bridge_tools.console import table

    return table(*columns)


def _progress(description: str, *, total: int | None = None, unit: str = "") -> Any:
    from heymarket_bridge_tools.console import progress

    return progress(description, total=total, unit=unit)
