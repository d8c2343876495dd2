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
  neither add to a list the operator did not name nor make the bridge create one. A name kept is sent in the
  operator's spelling (the scope's), so a list the bridge creates is titled as the operator wrote it;
- `tags` (a list of tag names; absent: none): the only tags a contact may be given, by name, like `lists`;
- `opt_in` (true or false; absent: false): whether an opt-in (`is_opted_out: false`) is kept. When false it is left
  out of the contact: never an opt-in. An opt-out (a STOP) is always kept.

A scoped token never sends `contact_id` (a UUID names any contact of the account: it could move someone else's
contact to the sender's phone) nor `assignee_id`: both are left out, with the reason.

Whatever a scope leaves out is answered in the 202's `rejected` entry for that contact (`"accepted": true` with
`"dropped"` naming the field and the reason), so the form's owner can see it. An entry of any other shape, or a
scope not in this table, is a configuration error (`MalformedSecretEntry`): the webhook is answered 503 until the
operator fixes it, so nothing is taken with scopes the operator did not mean.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from heymarket_bridge.domain.contact import Contact, DroppedField
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import fold_name
from heymarket_bridge.ingest.failures import MalformedSecretEntry

DEFAULT_SCOPED_CONTACTS_PER_MINUTE = 60
SCOPE_NAMES = frozenset({"contacts_per_minute", "lists", "tags", "opt_in"})


@record
class TokenScopes:
    """What a token may do. `scoped` False: everything (a string entry). `lists`, `tags`: folded names allowed;
    `spellings`: each folded name allowed (lists and tags) with the operator's spelling of it, as the scope gives it."""

    scoped: bool = False
    contacts_per_minute: int | None = None
    lists: frozenset[str] = frozenset()
    opt_in: bool = True
    tags: frozenset[str] = frozenset()
    spellings: tuple[tuple[str, str], ...] = ()

    def restrict(self, contact: Contact) -> tuple[Contact, list[DroppedField]]:
        """The contact as this token may send it, and each field (or list) left out, with the reason."""
        if not self.scoped:
            return contact, []
        dropped: list[DroppedField] = []
        if contact.is_opted_out is False and not self.opt_in:
            dropped.append(DroppedField("is_opted_out", "is_opted_out: this token may not opt anyone in"))
            contact = replace(contact, is_opted_out=None)
        if contact.contact_id is not None:
            # A UUID names any contact of the account: a public token could move someone else's contact to its phone.
            dropped.append(DroppedField("contact_id", "contact_id: this token may not name a contact by its id"))
            contact = replace(contact, contact_id=None)
        if contact.assignee_id is not None:
            dropped.append(DroppedField("assignee_id", "assignee_id: this token may not assign contacts"))
            contact = replace(contact, assignee_id=None)
        lists, dropped_lists = self._named(contact.lists, self.lists, "lists", "lists")
        tags, dropped_tags = self._named(contact.tags, self.tags, "tags", "tags")
        dropped += dropped_lists + dropped_tags
        if dropped_lists or dropped_tags or lists != contact.lists or tags != contact.tags:
            contact = replace(contact, lists=lists, tags=tags)
        return contact, dropped

    def _named(
        self, given: tuple[int | str, ...] | None, allowed: frozenset[str], field_name: str, what: str
    ) -> tuple[tuple[int | str, ...] | None, list[DroppedField]]:
        """The names of `given` this token may send, in the operator's spelling (a list it names is created so, never
        as the sender spelled it), and the drop of the others (an id, or a name the scope does not give)."""
        if not given:
            return given, []
        spelling = dict(self.spellings)
        kept = tuple(
            spelling[fold_name(item)] for item in given if isinstance(item, str) and fold_name(item) in allowed
        )
        if len(kept) == len(given):
            return kept, []
        reason = (
            f"{field_name}: this token may give only the {what} named in its scopes, by name "
            f"({len(given) - len(kept)} left out)"
        )
        return kept or None, [DroppedField(field_name, reason)]


UNSCOPED = TokenScopes()


@record
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
    lists, tags = _names(raw, "lists", "list"), _names(raw, "tags", "tag")
    opt_in = raw.get("opt_in", False)
    if not isinstance(opt_in, bool):
        raise MalformedSecretEntry('"opt_in" must be true or false')
    spellings = tuple({fold_name(name): " ".join(name.split()) for name in [*lists, *tags]}.items())
    folded = (frozenset(fold_name(name) for name in names) for names in (lists, tags))
    return TokenScopes(True, cap, next(folded), opt_in, next(folded), spellings)


def _names(raw: Mapping[str, Any], scope: str, what: str) -> list[str]:
    """The names a scope (`lists`, `tags`) gives, as the operator spelled them; absent: none."""
    names = raw.get(scope, [])
    if not isinstance(names, list) or not all(isinstance(name, str) and name.strip() for name in names):
        raise MalformedSecretEntry(f'"{scope}" must be a list of {what} names')
    return names
