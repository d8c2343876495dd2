from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.domain.mapping import SourceMapping, dotted, parse_mappings, split_name

SUBMISSION = {"mobile": "+15105550123", "work": "", "name": "Ada King Lovelace", "campus": "Oakland"}
DEFAULTS = {"phone": "+15105550199", "first": "Default", "email": "default@example.com", "custom": {"1": "d"}}


def apply(doc: dict[str, Any], defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    return SourceMapping.from_json(doc).apply(DEFAULTS if defaults is None else defaults, SUBMISSION.get)


def test_the_empty_mapping_keeps_the_defaults() -> None:
    assert apply({}) == DEFAULTS


def test_a_list_of_references_takes_the_first_present_one() -> None:
    assert apply({"phone": ["work", "mobile"]})["phone"] == "+15105550123"


def test_a_mapped_field_that_is_absent_is_left_out_rather_than_defaulted() -> None:
    assert "phone" not in apply({"phone": "home"})


def test_name_is_split_into_first_and_last_and_replaces_both_defaults() -> None:
    contact = apply({"name": "name"}, {"first": "Default", "last": "Default"})

    assert (contact["first"], contact["last"]) == ("Ada King", "Lovelace")


def test_constants_fill_in_and_the_submission_wins() -> None:
    contact = apply({"constants": {"email": "team@example.com", "assignee_id": 42, "custom": {"1": "c", "2": "c"}}})

    assert contact["email"] == "default@example.com"
    assert contact["assignee_id"] == 42
    assert contact["custom"] == {"1": "d", "2": "c"}


def test_mapped_custom_fields_win_over_default_ones() -> None:
    assert apply({"custom": {"1": "campus"}})["custom"] == {"1": "Oakland"}


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"mobile_phone": "x"}, "mobile_phone"),
        ({"phone": ""}, "phone"),
        ({"phone": []}, "phone"),
        ({"custom": ["x"]}, "custom"),
        ({"constants": {"phone": "+15105550123"}}, "phone"),
        ({"constants": {"tags": [-7]}}, "tags"),
        ({"constants": {"lists": [{"id": 42}]}}, "lists"),
        ({"constants": {"assignee_id": "me"}}, "assignee_id"),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_key(doc: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        SourceMapping.from_json(doc)


def test_mappings_name_known_sources_only() -> None:
    with pytest.raises(ValueError, match="typefrom"):
        parse_mappings('{"typefrom": {"phone": "mobile"}}', frozenset({"typeform"}))


def test_source_names_are_case_insensitive() -> None:
    assert parse_mappings('{"TypeForm": {"phone": "mobile"}}', frozenset({"typeform"})) == {
        "typeform": SourceMapping({"phone": ("mobile",)})
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [("a.b", 1), ("a.list.1.c", 2), ("a.list.9.c", None), ("a.b.c", None), ("key with. dot", 3), ("missing", None)],
)
def test_dotted_paths_walk_objects_and_lists(path: str, value: Any) -> None:
    data = {"a": {"b": 1, "list": [{}, {"c": 2}]}, "key with. dot": 3}

    assert dotted(data, path) == value


@pytest.mark.parametrize(
    ("full", "parts"),
    [("Ada", ("Ada", None)), ("  Ada   King  Lovelace ", ("Ada King", "Lovelace")), ("", (None, None))],
)
def test_split_name_splits_on_the_last_space(full: str, parts: tuple[str | None, str | None]) -> None:
    assert split_name(full) == parts


def test_constant_lists_are_added_to_the_lists_the_submission_gives() -> None:
    contact = apply({"constants": {"lists": ["Spring open house"]}}, {"phone": "1", "lists": "42,Newsletter"})

    assert contact["lists"] == ["42", "Newsletter", "Spring open house"]


def test_constant_lists_go_on_every_contact_of_the_source() -> None:
    assert apply({"constants": {"lists": [42], "tags": ["VIP"]}}, {"phone": "1"})["lists"] == [42]


def test_a_mapped_lists_reference_replaces_the_default_lists_and_constants_still_add_theirs() -> None:
    contact = apply({"lists": "campus", "constants": {"lists": [42]}}, {"phone": "1", "lists": [7]})

    assert contact["lists"] == ["Oakland", 42]


def test_constant_tags_may_be_names_and_apply_only_when_the_submission_gives_none() -> None:
    mapping = {"constants": {"tags": ["Typeform lead"]}}

    assert apply(mapping, {"phone": "1"})["tags"] == ["Typeform lead"]
    assert apply(mapping, {"phone": "1", "tags": [3]})["tags"] == [3]


def test_a_one_item_list_is_its_item_for_a_mapped_field() -> None:
    mapping = SourceMapping.from_json({"phone": "Mobile", "name": "Full name", "email": "Email"})
    named_values = {"Mobile": ["(510) 555-0157"], "Full name": ["Ada Lovelace"], "Email": ["ada@example.com"]}

    contact = mapping.apply({}, named_values.get)

    assert contact == {"phone": "(510) 555-0157", "first": "Ada", "last": "Lovelace", "email": "ada@example.com"}


def test_a_mapped_country_replaces_the_sources_country_evidence() -> None:
    mapping = SourceMapping.from_json({"country": "pais"})
    found = [{"field": "address.country", "value": "US", "of_number": False}]

    contact = mapping.apply({"phone": "55 1234 5679", "country_evidence": found}, {"pais": "MX"}.get)

    assert (contact.get("country"), "country_evidence" in contact) == ("MX", False)


def test_a_mapped_phone_keeps_only_the_evidence_about_the_person() -> None:
    mapping = SourceMapping.from_json({"phone": "whatsapp"})
    found = [
        {"field": "hs_calculated_mobile_number", "value": "+525512345679", "of_number": True},
        {"field": "country", "value": "Austria", "of_number": False},
    ]

    contact = mapping.apply({"phone": "55 1234 5679", "country_evidence": found}, {"whatsapp": "0664 123456"}.get)

    assert contact["country_evidence"] == [found[1]]


def test_a_mapped_phone_is_chosen_with_the_mapped_country() -> None:
    mapping = SourceMapping.from_json({"phone": ["home", "mobile"], "country": "land"})
    submission = {"home": "n/a", "mobile": "0664 123456", "land": "AT"}
    seen: list[tuple[object, object]] = []

    def is_phone(value: object, evidence: object) -> bool:
        seen.append((value, evidence))
        return value != "n/a"

    contact = mapping.apply({}, submission.get, is_phone)

    assert contact["phone"] == "0664 123456"
    assert [(e.field, e.value) for e in seen[-1][1]] == [("country", "AT")]  # type: ignore[attr-defined]
