"""`heymarket-bridge explain SOURCE FILE`: how a recorded delivery maps, offline (heymarket_bridge_tools.explain).

Only click is imported here at module level; the layer loads when the command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from heymarket_bridge_tools.terminal import echo


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge explain typeform events/typeform/form_response.json",
        "heymarket-bridge explain generic body.json --body --mappings mappings.json --default-country MX",
        "heymarket-bridge explain deletes events/generic/delete_contacts.json",
    ),
)
@click.argument("source")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--body", "raw_body", is_flag=True, help="FILE is the raw body as the sender posts it.")
@click.option("--content-type", metavar="TYPE", help="The body's content type (default: as the source's sample).")
@click.option(
    "--mappings",
    "mappings_file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    metavar="FILE",
    help="A JSON file of SourceMappings (default: none, every source's defaults).",
)
@click.option(
    "--default-country",
    default="US",
    metavar="CC",
    help="The country a phone with no evidence is read in: the stack's DefaultCountry parameter (ISO 3166 alpha-2).",
)
@click.option("--unmasked", is_flag=True, help="Show phones and emails whole.")
def explain(
    source: str,
    file: Path,
    raw_body: bool,
    content_type: str | None,
    mappings_file: Path | None,
    default_country: str,
    unmasked: bool,
) -> int:
    """Show, offline, how a recorded delivery to SOURCE maps: per contact the field that gave each value, the phone's
    country and why, the consent read, what is refused and why, and the Heymarket requests it would make.

    FILE is an API Gateway event (as in events/SOURCE/), or with --body the raw body. A bulk delete (SOURCE
    "deletes", or an event of POST /contacts/delete) is explained target by target. Nothing is sent anywhere; the
    sender's signature is not checked.
    """
    import re

    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL

    if not re.fullmatch(r"[A-Za-z]{2}", default_country):
        raise CliError(f"--default-country {default_country!r}: an ISO 3166 alpha-2 code such as US", EXIT_USAGE)
    from heymarket_bridge.ingest.failures import WebhookError
    from heymarket_bridge.ingest.http import is_delete_route

    data = _read_bounded(file)
    event = _event_of(data) if not raw_body else None
    if source == DELETE_CREDENTIAL or (event is not None and is_delete_route(event)):
        return _explain_deletes(data, event, content_type, default_country.upper(), unmasked)
    mappings = _mappings(mappings_file)
    payload = _payload(source, data, file, raw_body, content_type)
    from heymarket_bridge_tools.explain import explain as run
    from heymarket_bridge_tools.explain import request_of

    try:
        told = run(
            source,
            request_of(source, payload.body, payload.content_type),
            mappings,
            default_country.upper(),
            unmasked=unmasked,
        )
    except WebhookError as refused:
        echo(f"the whole delivery is refused: {refused.status} {refused.message}")
        for item in (refused.details or {}).get("rejected", []):
            echo(f"  contact {item.get('index')}: {'; '.join(item.get('errors', []))}")
        return EXIT_FAILURE
    _print_explanation(told)
    return 0


def _read_bounded(file: Path) -> bytes:
    """FILE's bytes, read as the ingest function reads a body: at most MaxBodyBytes (its default) and, for an
    API Gateway event, what holds such a body (base64 and JSON escapes: 6 bytes per byte at most); a larger file
    is refused as ingest refuses it (413) before more is read, so /dev/zero or a pipe cannot hang explain."""
    from heymarket_bridge_tools.explain import default_settings

    limit = default_settings().max_body_bytes * 6 + 65_536
    with file.open("rb") as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise CliError(
            f"the whole delivery is refused: 413: {file} is larger than any body the ingest function takes "
            f"(MaxBodyBytes {default_settings().max_body_bytes})",
            EXIT_FAILURE,
        )
    return data


def _event_of(data: bytes) -> dict[str, Any] | None:
    """The API Gateway event FILE holds (as in events/), None for a raw body."""
    import json

    try:
        event = json.loads(data)
    except ValueError:
        return None
    return event if isinstance(event, dict) and isinstance(event.get("requestContext"), dict) else None


def _payload(source: str, data: bytes, file: Path, raw_body: bool, content_type: str | None) -> Any:
    """The body and content type a webhook FILE holds (heymarket_bridge_tools.samples.file_payload)."""
    from heymarket_bridge_tools.samples import file_payload
    from heymarket_bridge_tools.source_setup import credential_entries

    credential_entries(source)  # an unknown source is a usage error naming the others
    payload = file_payload(source, data, str(file), content_type)
    if not raw_body and payload.body == data and content_type is None:
        echo(f"note: {file} is not an API Gateway event: read as the raw body (--body)", err=True)
    return payload


def _mappings(mappings_file: Path | None) -> Any:
    """--mappings read as the ingest function reads SourceMappings; CliError (usage) naming what is wrong."""
    from heymarket_bridge.ingest.sources import SOURCE_NAMES
    from heymarket_bridge.settings import ConfigError, parse_source_mappings

    raw = mappings_file.read_text(encoding="utf-8") if mappings_file else "{}"
    try:
        return parse_source_mappings(raw, str(mappings_file), SOURCE_NAMES)
    except ConfigError as invalid:
        raise CliError(str(invalid), EXIT_USAGE) from None


def _explain_deletes(
    data: bytes, event: dict[str, Any] | None, content_type: str | None, default_country: str, unmasked: bool
) -> int:
    """A bulk delete request explained: each target and the requests that delete it."""
    import base64

    from heymarket_bridge.ingest.failures import WebhookError
    from heymarket_bridge_tools.explain import explain_deletes

    body, kind = data, content_type or "application/json"
    if event is not None:
        raw = str(event.get("body") or "")
        body = base64.b64decode(raw) if event.get("isBase64Encoded") else raw.encode("utf-8")
        headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
        kind = content_type or headers.get("content-type", kind)
    try:
        lines = explain_deletes(body, kind, default_country, unmasked=unmasked)
    except WebhookError as refused:
        echo(f"the whole delete request is refused: {refused.status} {refused.message}")
        return EXIT_FAILURE
    echo(f"bulk delete (POST /contacts/delete, its 'deletes' token): {len(lines)} item(s)")
    for line in lines:
        echo(f"  {line}")
    return 0


def _print_explanation(told: Any) -> None:
    if told.notices is not None:
        echo(
            f"{told.source}: a notification naming {told.notices} record(s): the ingest function answers 200 and "
            f"queues one fetch each; the fetch function reads each record from {told.fetched_from} later (not "
            "offline), then maps it as any delivery"
        )
        return
    echo(f"{told.source}: {len(told.contacts)} contact(s) in the delivery")
    for story in told.contacts:
        echo(f"\ncontact {story.index}: " + ("REFUSED" if story.refused else "queued"))
        for name, value, origin in story.fields:
            echo(f"  {name:<14} {value}  <- {origin}")
        if story.country:
            echo(f"  phone country  {story.country}")
            for item in story.evidence:
                echo(f"    {item}")
        echo(f"  consent        {story.consent or 'none read (is_opted_out not given: left as Heymarket holds it)'}")
        for reason in story.refused:
            echo(f"  refused        {reason}")
        for note in story.notes:
            echo(f"  note           {note}")
        if story.refused:
            echo("  Heymarket      nothing: a refusal letter goes to the DLQ (`dlq redrive --set` to correct it)")
        for write in story.writes:
            echo(f"  Heymarket      {write}")
