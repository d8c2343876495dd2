from __future__ import annotations

from typing import Any

import pytest

from tests.support import load_event
from tests.unit.sources.harness import deliver, read_delivery, with_headers, with_json

ZAPIER_SHAPED = {
    "data": {
        "Full name": "Frances Allen",
        "mobile": "",
        "phone": "(510) 555-0142",
        "contact": {"email": "frances@example.com"},
        "answers": [{"value": "Evening"}],
    }
}
MAPPING = {
    "phone": ["data.mobile", "data.phone"],
    "name": "data.Full name",
    "email": "data.contact.email",
    "custom": {"101": "data.answers.0.value"},
    "constants": {"tags": [3]},
}


@pytest.fixture
def single() -> dict[str, Any]:
    return load_event("generic/single_contact")


def test_the_sample_contact_is_queued_as_sent(single: dict[str, Any]) -> None:
    assert deliver(single).queued == [
        {"phone": "15105550199", "first": "Erin", "last": "Lee", "email": "erin@example.org"}
    ]


def test_a_wrong_token_is_401(single: dict[str, Any]) -> None:
    assert deliver(with_headers(single, authorization="Bearer guessed")).status == 401


def test_in_a_list_an_invalid_contact_is_rejected_while_the_others_go_through() -> None:
    delivered = deliver(load_event("generic/mixed_contacts"))

    assert delivered.json["accepted"] == 3
    assert [r["index"] for r in delivered.rejected] == [2]


def test_a_request_with_no_valid_contact_is_422_naming_each_problem(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, {"first": "Erin"}))

    assert delivered.status == 422
    assert delivered.json["rejected"] == [{"index": 0, "errors": ["phone is required"]}]


def test_a_mapping_of_dotted_paths_reads_a_senders_own_shape(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, ZAPIER_SHAPED), mappings={"generic": MAPPING})

    assert delivered.queued == [
        {
            "tags": [3],
            "phone": "15105550142",
            "first": "Frances",
            "last": "Allen",
            "email": "frances@example.com",
            "custom": {"101": "Evening"},
        }
    ]


def test_with_a_mapping_a_contact_without_the_mapped_phone_is_rejected(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, {"data": {"phone": ""}}), mappings={"generic": MAPPING})

    assert delivered.status == 422
    assert delivered.json["rejected"] == [
        {"index": 0, "errors": ['the contact has no value for the mapped phone reference "data.mobile", "data.phone"']}
    ]


def test_without_an_idempotency_key_a_delivery_has_no_id_only_its_bodys_digest(single: dict[str, Any]) -> None:
    identity = read_delivery(single).identity
    other = read_delivery(with_json(single, {"phone": "+15105550199"})).identity

    assert identity.sender_id == ""
    assert identity.body_digest != other.body_digest
