"""`heymarket-bridge send SOURCE` (a sample webhook, signed for the target) and `heymarket-bridge samples`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import click

from heymarket_bridge.ingest.sources import SOURCE_NAMES
from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from heymarket_bridge_tools.target import resolve, target_options
from heymarket_bridge_tools.terminal import echo

SEND_TIMEOUT_S: Final = 30.0
# Every source the bridge has (its modules in heymarket_bridge/ingest/sources/: a file listing, nothing imported).
SOURCES: Final = sorted(SOURCE_NAMES)
SEND_HELP: Final = f"""Post a webhook to a stack as SOURCE would: its sample body (or --file), authenticated for it.

    SOURCE is one of {", ".join(SOURCES)}; its sample is its event in events/SOURCE/. The body is
    signed with the stack's secret for SOURCE as its sender signs (HubSpot over the URL the bridge checks: the stack's
    PublicBaseUrl when it has one; Calendly and HubSpot for this moment; the delivery times a Shopify or Typeform body
    carries moved to this moment, as the bridge checks them); a Jotform or Salesforce token goes in the URL as they
    put it; a Salesforce message is made to name the stack's org id (a note says so when your file named another).
    Prints the bridge's answer; exits 0 on a 2xx, 1 otherwise.
    """


@click.command(
    context_settings=CONTEXT_SETTINGS,
    help=SEND_HELP,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge send typeform                                # to the running local stack\n"
    "  heymarket-bridge send hubspot --stack-name heymarket-bridge   # to a deployed stack\n"
    "  heymarket-bridge samples shopify > customer.json              # a sample to edit, then:\n"
    "  heymarket-bridge send shopify --file customer.json",
)
@click.argument("source", type=click.Choice(SOURCES), metavar="SOURCE")
@click.option(
    "--file",
    "body_file",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    metavar="FILE",
    help="Your own body instead of the bundled sample (an events/ API Gateway event is unwrapped to its body).",
)
@click.option("--content-type", metavar="TYPE", help="Content type of --file (default: the one SOURCE sends).")
@click.option("--secret", metavar="SECRET", help="The source's secret (default: the one the stack holds).")
@click.option("--url", metavar="URL", help="The webhook base URL (default: the stack's WebhookUrl or the local API).")
@target_options
def send(
    source: str, body_file: Path | None, content_type: str | None, secret: str | None, url: str | None, **where: Any
) -> int:
    from datetime import UTC, datetime

    from heymarket_bridge_tools.samples import authenticate, file_payload, sample_payload

    if body_file is not None:
        payload = file_payload(source, body_file.read_bytes(), str(body_file), content_type)
    else:
        if content_type is not None:
            raise CliError("--content-type applies to --file only", EXIT_USAGE)
        payload = sample_payload(source)
    base = url
    org_id: str | None = None
    public_base_url = ""
    if base is None or secret is None or source == "salesforce":
        target = resolve(**where)
        base = base or target.api_url
        public_base_url = target.parameter("PublicBaseUrl", "")
        if source == "salesforce":
            from heymarket_bridge.ingest.sources.salesforce import ORG_ID_ENTRY

            org_id = target.webhook_secret(ORG_ID_ENTRY)
        if secret is None:
            secret = target.webhook_secret(source)
            if secret is None:
                raise CliError(
                    f"the {target.description} holds no secret for {source!r}: add one to its webhook secrets, "
                    "or pass --secret"
                )
    if not base:
        raise CliError("the stack has no WebhookUrl output: pass --url", EXIT_USAGE)
    webhook_url = _webhook_url(base, source)
    webhook_url, body, headers, note = authenticate(
        source,
        webhook_url,
        payload.body,
        secret,
        now=datetime.now(UTC),
        org_id=org_id,
        public_base_url=public_base_url,
    )
    headers["Content-Type"] = payload.content_type
    for text in (payload.note, note):
        if text:
            echo(f"note: {text}", err=True)
    status, reason, answer = _post(webhook_url, body, headers)
    _print_answer(status, reason, answer)
    return 0 if 200 <= status < 300 else EXIT_FAILURE


def _webhook_url(base: str, source: str) -> str:
    base = base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CliError(f"--url {base!r} is not an http(s) URL", EXIT_USAGE)
    for suffix in (f"/webhooks/{source}", "/webhooks"):
        base = base.removesuffix(suffix)
    return f"{base}/webhooks/{source}"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
    import urllib3

    http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5.0, read=SEND_TIMEOUT_S))
    try:
        response = http.request("POST", url, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as error:
        raise CliError(f"cannot reach {url}: {_reason(error)}; is the stack running and the URL right?") from None
    finally:
        http.clear()
    return response.status, response.reason or "", response.data


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None)
    return str(reason or error).split(": ", 1)[-1]


def _print_answer(status: int, reason: str, answer: bytes) -> None:
    from heymarket_bridge_tools.console import console

    out = console()
    colour = "green" if 200 <= status < 300 else "red"
    out.print(f"[{colour}]{status} {reason}[/{colour}]")
    text = answer.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        out.print(text, markup=False)
        return
    out.print(json.dumps(parsed, indent=2), markup=False)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge samples                     # the sources and their samples\n"
    "  heymarket-bridge samples typeform > form.json\n"
    "  heymarket-bridge send typeform --file form.json",
)
@click.argument("source", type=click.Choice(SOURCES), metavar="[SOURCE]", required=False)
def samples(source: str | None) -> None:
    """List the sample webhooks (events/SOURCE/), or print SOURCE's sample body (to edit and post with `send --file`).

    A multipart form's sample (Jotform's) is printed as a JSON object of its form fields; `send SOURCE --file`
    posts such a file as the multipart form the sender sends.
    """
    from heymarket_bridge_tools.samples import sample_of

    if source is not None:
        click.echo(sample_of(source).text(), nl=False)  # the project's own sample, raw bytes for a pipe
        return
    from heymarket_bridge_tools.console import console, table

    listing = table("source", "content type", "sample")
    for sample in map(sample_of, SOURCES):
        listing.add_row(sample.source, sample.content_type.split(";")[0], f"{sample.path.name}: {sample.description}")
    console().print(listing)
