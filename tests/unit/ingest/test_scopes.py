"""Scoped webhook-secret entries (heymarket_bridge.ingest.scopes): their shapes, and what a scoped token may send."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.ingest.failures import MalformedSecretEntry
from heymarket_bridge.ingest.scopes import (
    DEFAULT_SCOPED_CONTACTS_PER_MINUTE,
    UNSCOPED,
    SecretEntry,
    TokenScopes,
    read_entry,
)

PUBLIC = {"token": "pub-123", "scopes": {"contacts_per_minute": 30, "lists": ["Spring Newsletter"]}}


def test_a_string_entry_is_one_unscoped_secret() -> None:
    assert read_entry(" tok ") == [SecretEntry("tok", UNSCOPED)]


@pytest.mark.parametrize("value", [None, "", "   ", []])
def test_an_absent_or_empty_entry_has_no_secret(value: Any) -> None:
    assert read_entry(value) == []


def test_an_object_entry_is_scoped_with_the_safe_value_of_each_scope_it_does_not_give() -> None:
    (entry,) = read_entry({"token": "pub", "scopes": {}})

    assert entry.scopes == TokenScopes(True, DEFAULT_SCOPED_CONTACTS_PER_MINUTE, frozenset(), opt_in=False)


def test_a_list_entry_keeps_its_order_and_each_secrets_scopes() -> None:
    entries = read_entry(["backend-token", PUBLIC])

    assert [entry.token for entry in entries] == ["backend-token", "pub-123"]
    assert entries[0].scopes == UNSCOPED
    assert entries[1].scopes.contacts_per_minute == 30
    assert entries[1].scopes.lists == frozenset({"spring newsletter"})


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (42, "must be a string"),
        ({"scopes": {}}, '"token"'),
        ({"token": "t", "scope": {}}, "not ['scope']"),
        ({"token": "t", "scopes": {"opt_ins": True}}, "unknown scopes ['opt_ins']"),
        ({"token": "t", "scopes": {"contacts_per_minute": 0}}, "contacts_per_minute"),
        ({"token": "t", "scopes": {"contacts_per_minute": True}}, "contacts_per_minute"),
        ({"token": "t", "scopes": {"lists": "Newsletter"}}, '"lists"'),
        ({"token": "t", "scopes": {"opt_in": "no"}}, '"opt_in"'),
        ({"token": "t", "scopes": []}, '"scopes"'),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_problem_and_never_the_token(value: Any, named: str) -> None:
    with pytest.raises(MalformedSecretEntry) as raised:
        read_entry(value)

    assert named in str(raised.value)
    assert "pub-123" not in str(raised.value)


def test_the_token_id_reveals_nothing_of_the_token() -> None:
    entry = SecretEntry("a-secret-token-value")

    assert len(entry.token_id) == 16
    assert "secret" not in entry.token_id
    assert entry.token_id != SecretEntry("another").token_id


def test_an_unscoped_token_sends_the_contact_as_it_is() -> None:
    contact = Contact("15105550199", is_opted_out=False, lists=(7, "Anything"))

    assert UNSCOPED.restrict(contact) == (contact, [])


def test_a_scoped_token_cannot_opt_anyone_in() -> None:
    scopes = read_entry(PUBLIC)[0].scopes

    contact, dropped = scopes.restrict(Contact("15105550199", first="Ann", is_opted_out=False))

    assert contact == Contact("15105550199", first="Ann")
    assert [item.field for item in dropped] == ["is_opted_out"]
    assert "may not opt anyone in" in dropped[0].error


def test_a_scoped_token_allowed_opt_ins_keeps_them() -> None:
    scopes = read_entry({"token": "t", "scopes": {"opt_in": True}})[0].scopes

    assert scopes.restrict(Contact("15105550199", is_opted_out=False)) == (
        Contact("15105550199", is_opted_out=False),
        [],
    )


def test_a_scoped_token_keeps_an_opt_out() -> None:
    scopes = read_entry(PUBLIC)[0].scopes

    assert scopes.restrict(Contact("15105550199", is_opted_out=True)) == (Contact("15105550199", is_opted_out=True), [])


def test_a_scoped_token_puts_contacts_only_on_the_lists_it_names_by_name() -> None:
    scopes = read_entry(PUBLIC)[0].scopes

    contact, dropped = scopes.restrict(Contact("15105550199", lists=(12, "SPRING newsletter", "VIP")))

    assert contact.lists == ("Spring Newsletter",)  # the operator's spelling, from the scope
    assert [item.field for item in dropped] == ["lists"]
    assert "2 left out" in dropped[0].error


def test_a_scoped_token_with_no_list_named_puts_contacts_on_none() -> None:
    scopes = read_entry({"token": "t", "scopes": {}})[0].scopes

    contact, dropped = scopes.restrict(Contact("15105550199", lists=("New list",)))

    assert contact.lists is None
    assert dropped[0].field == "lists"


def test_a_scoped_token_cannot_name_a_contact_by_id_or_assign_it() -> None:
    scopes = read_entry(PUBLIC)[0].scopes

    contact, dropped = scopes.restrict(
        Contact("15105550199", first="Ann", contact_id="2d6f8328-38a1-4285-828d-73402aaa4e19", assignee_id=4)
    )

    assert contact == Contact("15105550199", first="Ann")
    assert [item.field for item in dropped] == ["contact_id", "assignee_id"]


def test_a_scoped_token_gives_only_the_tags_it_names_in_the_operators_spelling() -> None:
    scopes = read_entry({"token": "t", "scopes": {"tags": ["Open House"]}})[0].scopes

    contact, dropped = scopes.restrict(Contact("15105550199", tags=(55, "open\u200b  HOUSE", "VIP")))

    assert contact.tags == ("Open House",)
    assert [item.field for item in dropped] == ["tags"]
    assert "2 left out" in dropped[0].error


def test_a_list_a_scope_allows_is_sent_in_the_operators_spelling_not_the_senders() -> None:
    scopes = read_entry(PUBLIC)[0].scopes

    contact, dropped = scopes.restrict(Contact("15105550199", lists=("\u200bspring   NEWSLETTER",)))

    assert (contact.lists, dropped) == (("Spring Newsletter",), [])
