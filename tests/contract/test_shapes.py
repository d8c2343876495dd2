"""The shape comparison the contract tests rely on must catch every kind of difference."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.shapes import CONTACT_FIELDS, assert_same_shape, json_type, load_example, shape_mismatches

DOCUMENTED = {"contacts": [{"id": 1, "first": "Ada", "custom": {}}], "failed_contacts": [], "ratio": 0.5}


def test_the_same_keys_and_types_match_whatever_the_values() -> None:
    actual = {"contacts": [{"id": 2, "first": "Bob", "custom": {"7": "x"}}] * 2, "failed_contacts": [], "ratio": 1.5}

    assert shape_mismatches(actual, DOCUMENTED) == []


@pytest.mark.parametrize(
    ("actual", "mismatch"),
    [
        ({"contacts": [{"id": 2, "custom": {}}], "failed_contacts": [], "ratio": 0.5}, "$.contacts[0].first: missing"),
        (
            {"contacts": [{"id": 2, "first": "B", "custom": {}, "uuid": "u"}], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0].uuid: not in the example, nor listed as optional here",
        ),
        (
            {"contacts": [{"id": "2", "first": "B", "custom": {}}], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0].id: string where the example has integer",
        ),
        (
            {"contacts": [{"id": True, "first": "B", "custom": {}}], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0].id: boolean where the example has integer",
        ),
        (
            {"contacts": [{"id": 2.0, "first": "B", "custom": {}}], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0].id: number where the example has integer",
        ),
        (
            {"contacts": ["98765"], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0]: string where the example has object",
        ),
        ([{"id": 2, "first": "B", "custom": {}}], "$: array where the example has object"),
        (
            {"contacts": [{"id": 2, "first": None, "custom": {}}], "failed_contacts": [], "ratio": 0.5},
            "$.contacts[0].first: null where the example has string",
        ),
    ],
    ids=["missing key", "extra key", "string id", "boolean id", "float id", "string item", "array", "null"],
)
def test_each_kind_of_difference_is_reported_with_its_path(actual: Any, mismatch: str) -> None:
    assert shape_mismatches(actual, DOCUMENTED) == [mismatch]


def test_an_integer_is_accepted_where_the_example_has_a_number() -> None:
    actual = {"contacts": [], "failed_contacts": [], "ratio": 1}

    assert shape_mismatches(actual, DOCUMENTED) == []


def test_optional_keys_are_allowed_only_where_listed_and_with_their_type() -> None:
    documented = {"contacts": [{"id": 1}], "other": {"id": 1}}
    optional = {"$.contacts[*]": {"email": "string", "avatar": None}}

    good = {"contacts": [{"id": 1, "email": "a@example.com", "avatar": 3}], "other": {"id": 1}}
    misplaced = {"contacts": [{"id": 1}], "other": {"id": 1, "email": "a@example.com"}}
    mistyped = {"contacts": [{"id": 1, "email": 5}], "other": {"id": 1}}

    assert shape_mismatches(good, documented, optional=optional) == []
    assert shape_mismatches(misplaced, documented, optional=optional) == [
        "$.other.email: not in the example, nor listed as optional here"
    ]
    assert shape_mismatches(mistyped, documented, optional=optional) == [
        "$.contacts[0].email: integer where string is documented"
    ]


def test_assert_same_shape_lists_every_mismatch() -> None:
    with pytest.raises(AssertionError, match=r"(?s)\$\.contacts: missing.*\$\.failed_contacts: missing"):
        assert_same_shape({"ratio": 0.5}, DOCUMENTED)


SEARCHED = load_example("v2-contacts-search.response.json")[0]
CREATED = load_example("v2-contacts-bulk.response.json")["contacts"][0]


@pytest.mark.parametrize("contact", [SEARCHED, CREATED], ids=["search", "bulk"])
def test_every_field_of_the_documented_contacts_is_in_contact_fields_with_its_type(contact: dict[str, Any]) -> None:
    # The examples themselves must agree with the field list the contract tests allow, or the list is wrong.
    assert {key: json_type(value) for key, value in contact.items()} == {key: CONTACT_FIELDS[key] for key in contact}
