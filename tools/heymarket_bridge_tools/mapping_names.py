"""What the field mappings name in Heymarket (tags, custom fields, lists), held against what the account holds. Pure.

A mapping (heymarket_bridge.domain.mapping, SourceMappings) names Heymarket things in two places: its `custom` keys
(a custom field's id, or its title) and its `constants` (tags and lists by id or by name, custom values by id or
title). Each is read here with the product's own parsing: the constants through the contact rules
(heymarket_bridge.domain.contact.parse_contact, as the mapping itself checks them at start-up), titles and ids told
apart by heymarket_bridge.domain.custom_fields.is_title, tag names matched by the sync side's TagIndex. A name the
account lacks is reported with what the sync function would do with each contact that carries it (its rules:
heymarket_bridge.sync.lists.rules.resolve_tags, heymarket_bridge.sync.plan's title check), before any contact is
dead-lettered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from heymarket_bridge.domain.contact import Contact, parse_contact
from heymarket_bridge.domain.custom_fields import CustomField, CustomFieldIndex, is_title
from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.sync.lists.rules import Ambiguous, TagIndex
from heymarket_bridge.sync.model import Tag

# A number valid everywhere, so that only the constants are judged (as domain.mapping checks them).
_PROBE_PHONE: Final = "+14155552671"

Level = Literal["ok", "note", "fail"]


@dataclass(frozen=True)
class Finding:
    """One line of the doctor's report: `level` "ok", "note" (works, but read it) or "fail" (contacts or deliveries
    would be refused or dead-lettered), the `topic` it is about, and what to tell the operator."""

    level: Level
    topic: str
    text: str


@dataclass(frozen=True)
class NamedThings:
    """What one source's mapping names in Heymarket: tags, lists and custom-field keys (ids or titles), each with
    where in the mapping it is named (for the report), and the submission fields mapped to tags or lists."""

    tags: tuple[tuple[int | str, str], ...] = ()
    lists: tuple[tuple[int | str, str], ...] = ()
    custom: tuple[tuple[str, str], ...] = ()
    mapped_segments: tuple[str, ...] = ()


def named_things(mapping: SourceMapping) -> NamedThings:
    """The tags, lists and custom fields `mapping` names (constants read by the contact rules, as the mapping's own
    start-up check reads them); ValueError when its constants are not valid contact values."""
    constants: Contact | None = None
    if mapping.constants:
        constants = parse_contact({**mapping.constants, "phone": _PROBE_PHONE}, "US")
    tags = tuple((tag, "constants.tags") for tag in (constants.tags if constants is not None else None) or ())
    lists = tuple((ref, "constants.lists") for ref in (constants.lists if constants is not None else None) or ())
    custom = [(key, f"custom.{key}") for key in mapping.custom]
    custom += [(key, "constants.custom") for key in (constants.custom if constants is not None else None) or {}]
    mapped = tuple(
        f"{name} <- {' or '.join(mapping.fields[name])}" for name in ("tags", "lists") if name in mapping.fields
    )
    return NamedThings(tags, lists, tuple(dict.fromkeys(custom)), mapped)


@dataclass(frozen=True)
class AccountNames:
    """What the Heymarket account holds, as the sync function reads it: its tags (`POST /v1/tags`) and its custom
    fields (`POST /v1/contact-fields`)."""

    tags: tuple[Tag, ...]
    fields: tuple[CustomField, ...]


@dataclass(frozen=True)
class StackSwitches:
    """The stack's parameters that decide what happens to a name the account lacks: CreateMissingTags, and whether
    the sync function has its managed-lists table (lists by name, created tags)."""

    create_missing_tags: bool = False
    managed_lists: bool = True


def check_names(
    mappings: Mapping[str, SourceMapping], account: AccountNames, switches: StackSwitches = StackSwitches()
) -> list[Finding]:
    """For each source's mapping, each tag, custom field and list it names: found, or what would happen to each
    contact carrying it (a "fail" when it would be dead-lettered)."""
    fields = CustomFieldIndex(account.fields)
    field_ids = {field.id for field in account.fields}
    findings: list[Finding] = []
    for source in sorted(mappings):
        topic = f"mapping of {source}"
        try:
            named = named_things(mappings[source])
        except ValueError as invalid:
            findings.append(Finding("fail", topic, f"its constants are not valid contact values: {invalid}"))
            continue
        findings += [_tag(topic, tag, where, account, switches) for tag, where in named.tags]
        findings += [_custom(topic, key, where, fields, field_ids) for key, where in named.custom]
        findings += [_list(topic, ref, where, switches) for ref, where in named.lists]
        findings += [
            Finding(
                "note",
                topic,
                f"{mapped}: names taken from each submission are not checked here; a tag name the account lacks "
                "dead-letters that contact"
                + ("" if not switches.create_missing_tags else " unless CreateMissingTags creates it"),
            )
            for mapped in named.mapped_segments
        ]
    return findings


def _tag(topic: str, tag: int | str, where: str, account: AccountNames, switches: StackSwitches) -> Finding:
    index = TagIndex(account.tags)
    if isinstance(tag, int):
        if any(held.id == tag for held in account.tags):
            return Finding("ok", topic, f"{where}: tag id {tag} exists")
        return Finding(
            "fail",
            topic,
            f"{where}: tag id {tag} is not among the account's tags (POST /v1/tags): give the id of an existing tag, "
            "or its name",
        )
    found = index.lookup(tag)
    if isinstance(found, int):
        return Finding("ok", topic, f"{where}: tag {tag!r} exists (id {found})")
    if isinstance(found, Ambiguous):
        spellings = ", ".join(repr(name) for name in found.names)
        return Finding(
            "fail",
            topic,
            f"{where}: tag {tag!r} matches several tags ({spellings}): every contact carrying it is dead-lettered; "
            "write it exactly as Heymarket spells it",
        )
    if switches.create_missing_tags and switches.managed_lists:
        return Finding(
            "note",
            topic,
            f"{where}: tag {tag!r} does not exist yet: the bridge creates it on first use (CreateMissingTags)",
        )
    return Finding(
        "fail",
        topic,
        f"{where}: tag {tag!r} is not a tag of this Heymarket account: every contact carrying it is dead-lettered "
        "(create it in Heymarket, give the tag's id, or set CreateMissingTags to true)",
    )


def _custom(topic: str, key: str, where: str, fields: CustomFieldIndex, field_ids: set[str]) -> Finding:
    if is_title(key):
        found = fields.lookup(key)
        if found is not None:
            return Finding("ok", topic, f"{where}: custom field {key!r} exists (id {found})")
        return Finding(
            "fail",
            topic,
            f"{where}: custom field {key!r} is not a custom field title of this Heymarket account: every contact "
            "with a value for it is dead-lettered (create it in Heymarket, or key the value by the field's id)",
        )
    if key in field_ids:
        return Finding("ok", topic, f"{where}: custom field id {key} exists")
    return Finding(
        "fail",
        topic,
        f"{where}: custom field id {key} is not among the account's custom fields (POST /v1/contact-fields): "
        "Heymarket does not document what it does with a value for it (use an existing field's id or title)",
    )


def _list(topic: str, ref: int | str, where: str, switches: StackSwitches) -> Finding:
    if isinstance(ref, int):
        return Finding(
            "note",
            topic,
            f"{where}: list id {ref} cannot be checked without writing (Heymarket documents no endpoint that reads "
            "a list): if it does not exist, its list writes are dead-lettered",
        )
    if not switches.managed_lists:
        return Finding(
            "fail", topic, f"{where}: list {ref!r} is given by name, and the sync function has no managed-lists table"
        )
    return Finding("ok", topic, f"{where}: list {ref!r} is a list the bridge creates and manages on first use")
