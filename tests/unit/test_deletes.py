"""The bulk delete request body: valid ids and phones become targets, the rest are refused one by one."""

from __future__ import annotations

import json

import pytest

from heymarket_bridge.deletes import InvalidTarget, parse_delete_request
from heymarket_bridge.messages import DeleteTarget
from heymarket_bridge.webhook import BadRequest, PayloadTooLarge, UnsupportedMediaType

ANN_ID = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"


def parse(body: object, content_type: str = "application/json", max_items: int = 500) -> tuple[list, list]:
    return parse_delete_request(json.dumps(body).encode(), content_type, "US", max_items)


def test_ids_are_normalised_and_phones_are_made_e164() -> None:
    targets, invalid = parse({"contact_ids": [ANN_ID.upper()], "phones": ["(510) 555-1234"]})

    assert targets == [DeleteTarget(contact_id=ANN_ID), DeleteTarget(phone="15105551234")]
    assert invalid == []


def test_invalid_items_are_refused_by_list_and_position() -> None:
    targets, invalid = parse({"contact_ids": [ANN_ID, "nope", 7], "phones": ["12"]})

    assert targets == [DeleteTarget(contact_id=ANN_ID)]
    assert [(item.field, item.index) for item in invalid] == [("contact_ids", 1), ("contact_ids", 2), ("phones", 0)]
    assert invalid[0] == InvalidTarget("contact_ids", 1, ["contact_id must be a UUID"])
    assert invalid[2].errors[0].startswith("phone")


@pytest.mark.parametrize(
    "body", [[ANN_ID], {"ids": [ANN_ID]}, {"contact_ids": ANN_ID}], ids=["list", "no-known-key", "not-a-list"]
)
def test_a_body_of_another_shape_is_a_bad_request(body: object) -> None:
    with pytest.raises(BadRequest):
        parse(body)


def test_more_items_than_allowed_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        parse({"contact_ids": [ANN_ID] * 3, "phones": ["5105551234"]}, max_items=3)


def test_a_form_post_is_not_accepted() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse({"contact_ids": [ANN_ID]}, content_type="application/x-www-form-urlencoded")
