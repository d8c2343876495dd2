"""Scoped tokens: what a webhook-secrets entry lets its holder do, for a token that sits in a public page's HTML.

An entry of the webhook-secrets secret (keyed by the source's name, as always) is one of:

- a string: the source's secret, unscoped (what every entry was before scopes, and what `heymarket-bridge sources
  add` writes);
- an object `{"token": "<secret>", "scopes": {...}}`: the secret, scoped;
- a list of those (strings and objects): several secrets for one source, each with its own scopes (an unscoped
  token for the form's own backend and a scoped one in the public page; or the old and the new secret during a
  rotation). The request is authenticated with each in turn; the first that matches decides the scopes.

A token's entry is under one source's name and authenticates that source's route only: a scoped token is limited
to one source by where it is written. The scopes, each with the safe value when absent:

- `contacts_per_minute` (an integer >= 1; absent: 60): contacts this token may send per minute, shared across
  executions; beyond it a 429 with `Retry-After` (heymarket_bridge.ingest.limits);
- `lists` (a list of list names; absent: none): the only lists a contact may be put on, by name (the list's title,
  compared case-blind). A list given by id, or by a name not listed, is left out of the contact, so the token can
  neither add to a list the operator did not name nor make the bridge create one;
- `opt_in` (true or false; absent: false): whether an opt-in (`is_opted_out: false`) is kept. When false it is left
  out of the contact: never an opt-in. An opt-out (a STOP) is always kept.

Whatever a scope leaves out is answered in the 202's `rejected` entry for that contact (`"accepted": true` with
`"dropped"` naming the field and the reason), so the form's owner can see it. An entry of any other shape, or a
scope not in this table, is a configuration error (`MalformedSecretEntry`): the webhook is answered 503 until the
operator fixes it, so nothing is taken with scopes the operator did not mean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from heymarket_bridge.domain.contact import Contact, DroppedField
from heymarket_bridge.domain.text import fold_name
from heymarket_bridge.ingest.failures import MalformedSecretEntry

DEFAULT_SCOPED_CONTACTS_PER_MINUTE = 60
SCOPE_NAMES = frozenset({"contacts_per_minute", "lists", "opt_in"})


@dataclass(frozen=True)
class TokenScopes:
    """What a token may do. `scoped` False: everything (a string entry). `lists`: folded names allowed."""

    scoped: bool = False
    contacts_per_minute: int | None = None
    lists: frozenset[str] = frozenset()
    opt_in: bool = True

    def restrict(self, contact: Contact) -> tuple[Contact, list[DroppedField]]:
        """The contact as this token may send it, and each field (or list) left out, with the reason."""
        if not self.scoped:
            return contact, []
        dropped: list[DroppedField] = []
        if contact.is_opted_out is False and not self.opt_in:
            dropped.append(DroppedField("is_opted_out", "is_opted_out: this token may not opt anyone in"))
            contact = replace(contact, is_opted_out=None)
        if contact.lists:
            kept = tuple(item for item in contact.lists if isinstance(item, str) and fold_name(item) in self.lists)
            if len(kept) < len(contact.lists):
                dropped.append(
                    DroppedField(
                        "lists",
                        "lists: this token may put contacts only on the lists named in its scopes, by name "
                        f"({len(contact.lists) - len(kept)} left out)",
                    )
                )
                contact = replace(contact, lists=kept or None)
        return contact, dropped


UNSCOPED = TokenScopes()


@dataclass(frozen=True)
class SecretEntry:
    """One secret of a source's entry and its scopes."""

    token: str
    scopes: TokenScopes = UNSCOPED

    @property
    def token_id(self) -> str:
        """A name for the token that reveals nothing of it (for counters and logs): 16 hex digits of its SHA-256."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:16]


def read_entry(value: Any) -> list[SecretEntry]:
    """The secrets of one webhook-secrets entry, in order: [] for an absent or empty one. Raises
    MalformedSecretEntry (the message names the problem, never the token)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    entries = [_one(item) for item in items]
    return [entry for entry in entries if entry is not None]


def _one(item: Any) -> SecretEntry | None:
    if isinstance(item, str):
        return SecretEntry(item.strip()) if item.strip() else None
    if not isinstance(item, Mapping):
        raise MalformedSecretEntry("an entry must be a string, a {token, scopes} object or a list of them")
    token = item.get("token")
    if not isinstance(token, str) or not token.strip():
        raise MalformedSecretEntry('an object entry needs a non-empty "token" string')
    unknown = sorted(set(item) - {"token", "scopes"})
    if unknown:
        raise MalformedSecretEntry(f"an object entry holds only token and scopes, not {unknown[:5]}")
    return SecretEntry(token.strip(), _scopes(item.get("scopes", {})))


def _scopes(raw: Any) -> TokenScopes:
    if not isinstance(raw, Mapping):
        raise MalformedSecretEntry('"scopes" must be an object')
    unknown = sorted(set(raw) - SCOPE_NAMES)
    if unknown:
        raise MalformedSecretEntry(f"unknown scopes {unknown[:5]}; the scopes are {sorted(SCOPE_NAMES)}")
    cap = raw.get("contacts_per_minute", DEFAULT_SCOPED_CONTACTS_PER_MINUTE)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise MalformedSecretEntry('"contacts_per_minute" must be an integer of at least 1')
    lists = raw.get("lists", [])
    if not isinstance(lists, list) or not all(isinstance(name, str) and name.strip() for name in lists):
        raise MalformedSecretEntry('"lists" must be a list of list names')
    opt_in = raw.get("opt_in", False)
    if not isinstance(opt_in, bool):
        raise MalformedSecretEntry('"opt_in" must be true or false')
    return TokenScopes(True, cap, frozenset(fold_name(name) for name in lists), opt_in)
