"""Custom values keyed by a field title are mapped to the field's id with the team's field list."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.domain.custom_fields import (
    CustomField,
    CustomFieldIndex,
    is_title,
    parse_contact_fields,
    titles_in,
)

FIELDS = [CustomField("101", "Campus"), CustomField("102", "Lead source"), CustomField("103", "Plan")]


@pytest.mark.parametrize(("key", "title"), [("101", False), ("Campus", True), ("Lead source", True), ("10a", True)])
def test_a_key_that_is_not_all_digits_is_a_title(key: str, title: bool) -> None:
    assert is_title(key) is title


def test_titles_in_lists_only_the_title_keys() -> None:
    assert titles_in({"101": "x", "Plan": "y"}) == ["Plan"]
    assert titles_in(None) == []


def test_titles_resolve_exactly_or_ignoring_case_and_outer_spaces() -> None:
    index = CustomFieldIndex(FIELDS)

    assert index.lookup("Campus") == "101"
    assert index.lookup("  lead   SOURCE ") == "102"
    assert index.lookup("Campuses") is None


def test_a_title_two_fields_share_once_case_is_ignored_resolves_only_exactly() -> None:
    index = CustomFieldIndex([CustomField("1", "VIP"), CustomField("2", "vip")])

    assert index.lookup("VIP") == "1"
    assert index.lookup("vip") == "2"
    assert index.lookup("Vip") is None


def test_resolve_keys_every_value_by_id_and_unknown_names_the_missing_titles() -> None:
    index = CustomFieldIndex(FIELDS)

    assert index.resolve({"Campus": "North", "103": "Gold"}) == {"101": "North", "103": "Gold"}
    assert index.unknown({"Campus": "North", "Favourite colour": "blue", "104": "x"}) == ["Favourite colour"]
    with pytest.raises(KeyError):
        index.resolve({"Favourite colour": "blue"})


@pytest.mark.parametrize(
    "answer",
    [
        [{"id": 101, "title": "Campus"}],
        {"contact_fields": [{"id": "101", "title": "Campus"}]},
        {"fields": [{"id": 101, "name": "Campus"}, {"id": None, "title": "broken"}, "junk"]},
    ],
    ids=["list", "wrapped", "name-and-junk"],
)
def test_the_field_list_is_read_from_the_answer_shapes_heymarket_may_use(answer: Any) -> None:
    assert parse_contact_fields(answer) == [CustomField("101", "Campus")]


def test_an_answer_without_fields_yields_none() -> None:
    assert parse_contact_fields("ok") == []
