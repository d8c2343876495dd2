"""Setup commands: `sources list|add|rotate|show`, `doctor` (and `check-credentials`, its credentials part).

They act on a deployed stack (`--stack-name`) or the running local stack (`--local`, the default), as the other
operator commands do (heymarket_bridge_tools.target); `explain`, offline, is in explain.py. Only click is imported
here at module level; boto3 and the layer load when a command runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_FAILURE, EXIT_USAGE, CliError
from heymarket_bridge_tools.target import Target, resolve, target_options
from heymarket_bridge_tools.terminal import echo

if TYPE_CHECKING:
    from heymarket_bridge.ingest.sources.common import CredentialEntry


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


@click.group(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sources list --stack-name heymarket-bridge",
        "heymarket-bridge sources add typeform --stack-name heymarket-bridge",
        "heymarket-bridge sources add hubspot --value-file hubspot-secret.txt --stack-name heymarket-bridge",
        "heymarket-bridge sources show hubspot --stack-name heymarket-bridge",
    ),
)
def sources() -> None:
    """Connect senders: list the sources, add or rotate their entries in the webhook secret, show the vendor's steps.

    A token the bridge issues is generated here and printed once; a secret the vendor issues is read from a hidden
    prompt, a file (--value-file) or stdin, never from the command line (it would stay in your shell's history).
    """


@sources.command(
    "list",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples("heymarket-bridge sources list --stack-name heymarket-bridge", "heymarket-bridge sources list"),
)
@target_options
def sources_list(**where: Any) -> None:
    """Every source the bridge ships: whether the webhook secret holds its entries, its URL, what it needs."""
    from heymarket_bridge_tools.source_setup import allowed_without_token, describe_scopes, source_states

    target = resolve(**where)
    echo(f"sources of the {target.description}")
    held_entries = target.webhook_secrets()
    for state in source_states(target, held_entries, allowed_without_token(target)):
        verdict = (
            "configured" if state.configured else "open without a token" if state.open_without_token else "not set up"
        )
        echo(f"\n{state.name}: {verdict}\n  URL  {state.url}")
        for entry, present in state.entries:
            issuer = "the bridge issues it" if entry.issued_by == "bridge" else "the vendor issues it"
            echo(f"  {'held   ' if present else 'missing'}  {entry.key}: {entry.what} ({issuer})")
            scopes = describe_scopes(held_entries.get(entry.key))
            if scopes:
                echo(f"           {scopes}")


@sources.command(
    "add",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sources add typeform --stack-name heymarket-bridge",
        "heymarket-bridge sources add shopify --value-file shopify-secret.txt --local",
        "pbpaste | heymarket-bridge sources add hubspot --value-file - --stack-name heymarket-bridge",
    ),
)
@click.argument("name")
@click.option(
    "--value-file",
    "value_files",
    multiple=True,
    type=click.File("r"),
    metavar="FILE",
    help="A file holding the vendor's value (- for stdin), one per vendor-issued entry, in the order `sources list` "
    "shows them. Without it you are asked (hidden input).",
)
@target_options
def sources_add(name: str, value_files: tuple[Any, ...], **where: Any) -> int:
    """Put NAME's entries into the webhook secret: a new token for each entry the bridge issues (printed once), the
    vendor's value for each entry the vendor issues. Refused when NAME is set up already (use `sources rotate`)."""
    return _set_entries(name, value_files, where, rotate=False, only=None)


@sources.command(
    "rotate",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sources rotate generic --stack-name heymarket-bridge",
        "heymarket-bridge sources rotate salesforce --entry salesforce_org_id --stack-name heymarket-bridge",
    ),
)
@click.argument("name")
@click.option("--entry", "only", metavar="KEY", help="The entry to replace (default: NAME's main entry, NAME).")
@click.option(
    "--value-file", "value_files", multiple=True, type=click.File("r"), metavar="FILE", help="As for `sources add`."
)
@target_options
def sources_rotate(name: str, only: str | None, value_files: tuple[Any, ...], **where: Any) -> int:
    """Replace NAME's main entry (or --entry KEY) in the webhook secret: a new token when the bridge issues it, the
    vendor's new value when the vendor does. Running functions keep the old value for up to 5 minutes."""
    return _set_entries(name, value_files, where, rotate=True, only=only or name)


def _set_entries(
    name: str, value_files: tuple[Any, ...], where: dict[str, Any], *, rotate: bool, only: str | None
) -> int:
    from heymarket_bridge_tools.source_setup import new_token, rotated_value, source_url, write_entries

    target = resolve(**where)
    current = target.webhook_secrets()
    chosen = _chosen_entries(name, only, current, rotate=rotate)
    values = _vendor_values([entry for entry in chosen if entry.issued_by != "bridge"], list(value_files))
    changes: dict[str, Any] = {}
    tokens: dict[str, list[str]] = {}
    for entry in chosen:
        # A rotation keeps the entry's shape and scopes (issue 26's scoped tokens): only the secrets change.
        existing = current.get(entry.key) if rotate else None
        if entry.issued_by == "bridge":
            changes[entry.key], tokens[entry.key] = rotated_value(existing, new_token)
        else:
            changes[entry.key] = _vendor_rotated(entry.key, existing, values[entry.key])
    write_entries(target, changes)
    echo(f"{'rotated' if rotate else 'added'} {', '.join(e.key for e in chosen)} in the {target.description}")
    _print_next(name, chosen, tokens, source_url(target, name), rotate=rotate, target=target)
    return 0


def _vendor_rotated(key: str, existing: Any, value: str) -> Any:
    """The vendor's new value in place of the old one, its scopes kept; a list of several is not guessed at."""
    if isinstance(existing, list) and len(existing) > 1:
        raise CliError(
            f"the {key} entry holds {len(existing)} secrets: edit it in the secret (keep each one's scopes); "
            "nothing was changed",
            EXIT_USAGE,
        )
    if isinstance(existing, list):
        existing = existing[0] if existing else None
    return {**existing, "token": value} if isinstance(existing, dict) else value


def _chosen_entries(name: str, only: str | None, current: dict[str, Any], *, rotate: bool) -> list[CredentialEntry]:
    """The entries to set: every entry of NAME (add), or its main entry or --entry (rotate); CliError (usage) when
    NAME is set up already (add) or not yet (rotate)."""
    from heymarket_bridge_tools.source_setup import credential_entries, held

    entries = credential_entries(name)
    chosen = [entry for entry in entries if only is None or entry.key == only]
    if not chosen:
        keys = ", ".join(entry.key for entry in entries)
        raise CliError(f"{name} has no entry {only!r}; its entries are {keys}", EXIT_USAGE)
    if not rotate and all(held(current, entry.key) for entry in entries):
        raise CliError(
            f"{name} is set up already: `heymarket-bridge sources rotate {name}` (with the same --stack-name or "
            "--local) replaces its entry",
            EXIT_USAGE,
        )
    if rotate and not held(current, chosen[0].key):
        raise CliError(f"{name} has no {chosen[0].key} to rotate: `heymarket-bridge sources add {name}`", EXIT_USAGE)
    return chosen


def _print_next(
    name: str, chosen: list[CredentialEntry], tokens: dict[str, list[str]], url: str, *, rotate: bool, target: Target
) -> None:
    """Each generated token once with where it goes, the URL, and what happens meanwhile."""
    from heymarket_bridge_tools.source_setup import SECRETS_CACHE_MINUTES, token_in

    presented = token_in(name)
    for entry in chosen:
        for token in tokens.get(entry.key, []):
            _print_token(entry, token, url, presented)
    if not (tokens and presented == "query"):
        echo(f"\nwebhook URL: {url}")
    echo(
        f"Running functions read the secret again within {SECRETS_CACHE_MINUTES} minutes: until then they may refuse "
        "(401) what is sent with the new value."
        + (" The sender keeps the old value until you update it there." if rotate else "")
    )
    echo(f"Next: `heymarket-bridge sources show {name}{target.options}` prints the steps in the vendor's screens.")


def _print_token(entry: CredentialEntry, token: str, url: str, presented: str) -> None:
    """The generated token, once, and where it goes."""
    echo(f"\n{entry.key}: {entry.what}. Shown this once; it is kept only in the webhook secret:")
    if presented == "query":
        echo(f"  paste this URL into the sender: {url}?token={token}")
    elif presented == "header":
        echo(f"  send it in the X-Bridge-Token header (or as a Bearer token): {token}")
    else:
        echo(f"  paste this secret into the sender: {token}")


def _vendor_values(entries: list[CredentialEntry], files: list[Any]) -> dict[str, str]:
    """Each vendor-issued entry's value: from its --value-file, else a hidden prompt (a terminal), else a line of
    stdin."""
    from heymarket_bridge_tools.source_setup import clean_value

    if len(files) > len(entries):
        raise CliError(f"{len(files)} --value-file given for {len(entries)} vendor-issued entry(ies)", EXIT_USAGE)
    values: dict[str, str] = {}
    for n, entry in enumerate(entries):
        if n < len(files):
            raw = files[n].read()
        elif sys.stdin.isatty():
            raw = click.prompt(f"{entry.key} ({entry.what})", hide_input=True, prompt_suffix=": ", err=True)
        else:
            raw = sys.stdin.readline()
        values[entry.key] = clean_value(entry, raw)
    return values


@sources.command(
    "show",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sources show hubspot --stack-name heymarket-bridge",
        "heymarket-bridge sources show jotform --reveal --local",
    ),
)
@click.argument("name")
@click.option(
    "--reveal",
    is_flag=True,
    help="Write the entry's value into the steps (a secret: for your screen only). Default: its name.",
)
@target_options
def sources_show(name: str, reveal: bool, **where: Any) -> None:
    """NAME's webhook URL and the steps to take in the vendor's screens (from docs/sources/NAME.md)."""
    from heymarket_bridge_tools.source_setup import credential_entries, source_url, vendor_steps

    entries = credential_entries(name)
    target = resolve(**where)
    url = source_url(target, name)
    echo(f"{name} on the {target.description}\nwebhook URL: {url}\n")
    key = entries[0].key if entries else name
    value = target.webhook_secrets().get(key) if reveal else None
    shown = str(value) if isinstance(value, str) and value.strip() else f"<the {key!r} entry of the webhook secret>"
    steps = vendor_steps(name, url, shown)
    if steps is None:
        echo(f"no vendor steps found (docs/sources/{name}.md has no '## Set up in ...' section). Its entries:")
        for entry in entries:
            echo(f"  {entry.key}: {entry.what} (issued by the {entry.issued_by})")
        return
    echo(steps)


# ---------------------------------------------------------------------------------------------- doctor


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples("heymarket-bridge doctor --stack-name heymarket-bridge", "heymarket-bridge doctor --local"),
)
@target_options
def doctor(**where: Any) -> int:
    """Check a stack end to end, read-only: the Heymarket credentials and permissions, the mappings, the webhook
    secret against the sources, and every tag, custom field and list the mappings name in the Heymarket account.

    Exits 1 when something would fail (a delivery refused, a contact dead-lettered), 0 otherwise.
    """
    from heymarket_bridge_tools.doctor import run_doctor

    target = resolve(**where)
    echo(f"doctor: the {target.description}")
    findings = run_doctor(target)
    label = {"ok": "OK  ", "note": "NOTE", "fail": "FAIL"}
    topic = ""
    for finding in findings:
        if finding.topic != topic:
            topic = finding.topic
            echo(f"\n{topic}")
        echo(f"  {label[finding.level]}  {finding.text}")
    failed = sum(finding.level == "fail" for finding in findings)
    echo(f"\n{failed} problem(s) would refuse deliveries or dead-letter contacts" if failed else "\nall good")
    return EXIT_FAILURE if failed else 0


@click.command(
    "check-credentials",
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge check-credentials --stack-name heymarket-bridge", "heymarket-bridge check-credentials --local"
    ),
)
@target_options
def check_credentials(**where: Any) -> int:
    """Sign a JWT from the stack's Heymarket secret, call Heymarket (GET /v1/inboxes) with it, then probe every
    permission the bridge uses with requests that cannot change anything (the first part of `doctor`).

    Exits 0 when Heymarket accepts the credentials and grants each permission, 1 with the reason when it does not.
    """
    from heymarket_bridge_tools.doctor import check_credentials as check

    target = resolve(**where)
    queues = target.queues
    ok, message = check(target.clients("secretsmanager"), queues.heymarket_secret_arn, queues.heymarket_url)
    echo(("OK: " if ok else "FAILED: ") + message)
    return 0 if ok else EXIT_FAILURE
