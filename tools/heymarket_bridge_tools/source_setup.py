"""The sources a stack can take, their entries in the webhook-secrets secret, and the vendor's steps to connect them.

What each source needs comes from the source itself (`credentials`: CredentialEntry key, issued_by, what;
heymarket_bridge.ingest.sources.common), so a new source is listed, added and rotated without a change here. The
secret is read whole, changed, and put back whole (Secrets Manager `PutSecretValue` makes a new version; the
previous one stays as AWSPREVIOUS). No value read or made here is ever logged: a generated token is returned to the
command, which prints it once.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from heymarket_bridge.ingest.sources.common import CredentialEntry
    from heymarket_bridge_tools.target import Target

# 32 random bytes, URL-safe (43 characters): a token rides in a URL for the senders that cannot set a header.
TOKEN_BYTES: Final = 32
# How long a running function keeps the secret it read (IngestSettings.secrets_max_age_s: 300 s).
SECRETS_CACHE_MINUTES: Final = 5
# What the docs pages hold in place of the stack's values (the docs helper writes docs/sources/<name>.md).
URL_PLACEHOLDER: Final = "<WEBHOOK_URL>"
ENTRY_PLACEHOLDER: Final = "<SECRET_ENTRY>"
_SETUP_HEADING: Final = re.compile(r"^## Set up in .+$", re.MULTILINE)


def source_names() -> list[str]:
    """Every source the bridge ships, by name (the ingest package's listing)."""
    from heymarket_bridge.ingest.sources import SOURCE_NAMES

    return sorted(SOURCE_NAMES)


def credential_entries(source: str) -> tuple[CredentialEntry, ...]:
    """The webhook-secret entries `source` reads, main entry first (for `deletes`, the bulk delete's token);
    CliError (usage) for an unknown source."""
    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
    from heymarket_bridge.ingest.sources.base import default_sources
    from heymarket_bridge.ingest.sources.common import CredentialEntry

    if source == DELETE_CREDENTIAL:
        # Not a sender: the bulk delete (heymarket_bridge.ingest.deletes), whose token only the bridge issues.
        return (CredentialEntry(DELETE_CREDENTIAL, "bridge", "the token of the bulk delete (DeleteContactsUrl)"),)
    if source not in source_names():
        known = ", ".join(source_names())
        raise CliError(f"unknown source {source!r}; the sources are {known} (and {DELETE_CREDENTIAL})", EXIT_USAGE)
    return default_sources([source])[source].credentials


def token_in(source: str) -> str:
    """Where the sender presents a token the bridge issues: "header", "query" (in the URL), or "" (it signs)."""
    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
    from heymarket_bridge.ingest.sources.base import default_sources

    return "header" if source == DELETE_CREDENTIAL else default_sources([source])[source].token_in


def source_url(target: Target, source: str) -> str:
    """The URL the sender posts to: the stack's WebhookUrl output followed by the source's name (for `deletes`, the
    DeleteContactsUrl output)."""
    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL

    if source == DELETE_CREDENTIAL:
        return target.outputs.get("DeleteContactsUrl") or f"{target.api_url}/contacts/delete"
    base = target.outputs.get("WebhookUrl") or f"{target.api_url}/webhooks/"
    return (base if base.endswith("/") else base + "/") + source


def held(entries: Mapping[str, Any], key: str) -> bool:
    """Whether the secret holds a usable value for `key`, as the sources read it (heymarket_bridge.ingest.scopes:
    a string that is not blank, a {"token", "scopes"} object, or a list of those); a malformed one is not."""
    return bool(entry_secrets(entries.get(key)))


def entry_secrets(value: Any) -> list[Any]:
    """The secrets (`scopes.SecretEntry`: token, scopes) of one entry's value, in order; [] for an absent, blank or
    malformed one (`entry_problem` says what is wrong)."""
    from heymarket_bridge.ingest.failures import MalformedSecretEntry
    from heymarket_bridge.ingest.scopes import read_entry

    try:
        return read_entry(value)
    except MalformedSecretEntry:
        return []


def entry_problem(value: Any) -> str | None:
    """Why the ingest function cannot read this entry's value (it answers 503 until fixed), or None."""
    from heymarket_bridge.ingest.failures import MalformedSecretEntry
    from heymarket_bridge.ingest.scopes import read_entry

    try:
        read_entry(value)
    except MalformedSecretEntry as malformed:
        return str(malformed)
    return None


def describe_scopes(value: Any) -> str:
    """The scopes of an entry's tokens, never a token: "" for one unscoped token, else e.g.
    "2 tokens: unscoped; scoped (30 contacts/min, lists: 1, opt-in: no)"."""
    found = entry_secrets(value)
    if not found or (len(found) == 1 and not found[0].scopes.scoped):
        return ""
    parts = [_scope_text(item.scopes) for item in found]
    return (f"{len(found)} tokens: " if len(found) > 1 else "") + "; ".join(parts)


def _scope_text(scopes: Any) -> str:
    if not scopes.scoped:
        return "unscoped"
    return (
        f"scoped ({scopes.contacts_per_minute} contacts/min, lists: {len(scopes.lists)}, "
        f"opt-in: {'yes' if scopes.opt_in else 'no'})"
    )


def rotated_value(current: Any, new_secret: Callable[[], str]) -> tuple[Any, list[str]]:
    """`current` (an entry's value) with each token replaced by `new_secret()` and every scope kept; the new
    tokens, in order. A string becomes the new token; an object keeps its scopes; a list gets one new token per
    item (each item keeps its own scopes, and the tokens stay distinct)."""
    if isinstance(current, list):
        pairs = [rotated_value(item, new_secret) for item in current]
        return [value for value, _ in pairs], [token for _, tokens in pairs for token in tokens]
    token = new_secret()
    if isinstance(current, Mapping):
        return {**current, "token": token}, [token]
    return token, [token]


@dataclass(frozen=True)
class SourceState:
    """One source as a stack holds it: its URL, its entries (and which the secret holds), and whether it is open
    without a token (no main entry, and named in AllowUnauthenticatedSources)."""

    name: str
    url: str
    entries: tuple[tuple[CredentialEntry, bool], ...]
    allowed_without_token: bool

    @property
    def configured(self) -> bool:
        return all(present for _, present in self.entries)

    @property
    def open_without_token(self) -> bool:
        return self.allowed_without_token and not (self.entries and self.entries[0][1])


def source_states(target: Target, entries: Mapping[str, Any], allowed: frozenset[str]) -> list[SourceState]:
    """Every source the bridge ships, as `target`'s secret (`entries`) and AllowUnauthenticatedSources hold it."""
    return [
        SourceState(
            name,
            source_url(target, name),
            tuple((entry, held(entries, entry.key)) for entry in credential_entries(name)),
            name in allowed,
        )
        for name in source_names()
    ]


def allowed_without_token(target: Target) -> frozenset[str]:
    """AllowUnauthenticatedSources, read as the ingest function reads it (lower case, comma-separated)."""
    raw = target.parameter("AllowUnauthenticatedSources", "")
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def new_token() -> str:
    """A token for an entry the bridge issues: 32 random bytes, URL-safe."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def clean_value(entry: CredentialEntry, value: str) -> str:
    """A vendor's value as pasted: outer spaces and the final newline removed; CliError when blank, or not of the
    entry's form (`CredentialEntry.refusal`: several lines, a space inside, an org id that is none)."""
    value = value.strip()
    if not value:
        raise CliError(f"no value given for {entry.key}: nothing was changed", EXIT_USAGE)
    if "\n" in value or "\r" in value:
        raise CliError(
            f"the value for {entry.key} holds several lines: give the value alone; nothing was changed", EXIT_USAGE
        )
    refusal = entry.refusal(value)
    if refusal is not None:
        raise CliError(f"the value for {entry.key} is refused: {refusal}; nothing was changed", EXIT_USAGE)
    return value


def write_entries(target: Target, changes: Mapping[str, str]) -> dict[str, Any]:
    """Read the whole webhook-secrets secret, set `changes` in it, and put it back (a new version); the entries as
    written. CliError when the stack names no secret."""
    arn = target.outputs.get("WebhookSecretsArn")
    if not arn:
        raise CliError(
            f"the {target.description} names no webhook-secrets secret (no WebhookSecretsArn output"
            + ("; restart `heymarket-bridge local` to have the setup commands find it)" if target.is_local else ")"),
            EXIT_USAGE,
        )
    entries = {**target.webhook_secrets(), **changes}
    target.clients("secretsmanager").put_secret_value(SecretId=arn, SecretString=_json(entries))
    return entries


def _json(entries: Mapping[str, Any]) -> str:
    import json

    return json.dumps(dict(entries), indent=2)


def vendor_steps(source: str, url: str, entry: str, docs: Path | None = None) -> str | None:
    """The `## Set up in <Vendor>` section of docs/sources/<source>.md with the stack's URL in place of
    URL_PLACEHOLDER and `entry` (the secret entry's value, or a phrase naming it) in place of ENTRY_PLACEHOLDER;
    None when the page or the section is missing."""
    folder = docs if docs is not None else _docs_folder()
    page = folder / "sources" / f"{source}.md" if folder is not None else None
    if page is None or not page.is_file():
        return None
    text = page.read_text(encoding="utf-8")
    found = _SETUP_HEADING.search(text)
    if found is None:
        return None
    following = re.search(r"^#{1,2} ", text[found.end() :], re.MULTILINE)
    section = text[found.start() : found.end() + following.start() if following else len(text)].rstrip()
    return section.replace(URL_PLACEHOLDER, url).replace(ENTRY_PLACEHOLDER, entry)


def _docs_folder() -> Path | None:
    """docs/ of the checkout, or the copy a built package carries (setup.py), as for template.yaml."""
    from heymarket_local.project_files import find_project

    project = find_project()
    return project / "docs" if project is not None else None
