from __future__ import annotations

from typing import Any

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, read_delivery, with_body, with_headers, with_json

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


# ---------------------------------------------------------------- what real senders send (issue 13)


def test_a_phone_that_became_a_float_is_stored_as_its_digits(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, {"phone": 5105550113.0, "first": "Ann"}))

    assert (delivered.status, delivered.queued) == (202, [{"phone": "15105550113", "first": "Ann"}])


def test_tags_joined_with_commas_are_a_list(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, {"phone": "(510) 555-0109", "tags": "3,7"}))

    assert delivered.queued == [{"phone": "15105550109", "tags": [3, 7]}]


def test_an_invalid_email_is_dropped_with_a_warning_and_the_contact_is_queued(single: dict[str, Any]) -> None:
    delivered = deliver(with_json(single, {"phone": "(510) 555-0109", "email": "ann@@example"}))

    assert (delivered.status, delivered.queued) == (202, [{"phone": "15105550109"}])
    [entry] = delivered.rejected
    assert (entry["index"], entry["accepted"], entry["dropped"]) == (0, True, ["email"])
    assert entry["warnings"] == ["email is not a valid address: the contact was queued without it"]


def test_a_json_body_after_a_byte_order_mark_is_read(single: dict[str, Any]) -> None:
    delivered = deliver(with_body(single, b'\xef\xbb\xbf{"phone": "(510) 555-0109"}'))

    assert delivered.queued == [{"phone": "15105550109"}]


def test_a_form_post_is_read_in_its_declared_charset(single: dict[str, Any]) -> None:
    form = with_headers(single, content_type="application/x-www-form-urlencoded; charset=ISO-8859-1")

    delivered = deliver(with_body(form, b"phone=5105550109&first=Ren%E9e&tags[]=3&tags[]=7&is_opted_out=on"))

    assert delivered.queued == [{"phone": "15105550109", "first": "Renée", "tags": [3, 7], "is_opted_out": True}]


def test_a_form_post_names_tags_and_lists_by_name_a_field_repeated_for_each(single: dict[str, Any]) -> None:
    form = with_headers(single, content_type="application/x-www-form-urlencoded")

    delivered = deliver(with_body(form, b"phone=5105550109&tags=VIP&tags=7&lists=Spring+open+house&lists=42"))

    assert delivered.queued == [{"phone": "15105550109", "tags": ["VIP", 7], "lists": ["Spring open house", 42]}]


def test_a_json_contact_names_its_tags_and_lists_by_name(single: dict[str, Any]) -> None:
    # changed (review 22, 11): a one-item list is split as its item is, so two names keep a comma in an array
    lists = ["Spring, 2026", "Fall"]
    delivered = deliver(with_json(single, {"phone": "(510) 555-0109", "tags": "VIP, 7", "lists": lists}))

    assert delivered.queued == [{"phone": "15105550109", "tags": ["VIP", 7], "lists": lists}]


def test_json_sent_as_a_form_post_is_415_saying_so(single: dict[str, Any]) -> None:
    form = with_headers(single, content_type="application/x-www-form-urlencoded")

    delivered = deliver(with_body(form, '{"phone": "5105550109"}'))

    assert delivered.status == 415
    assert "JSON" in delivered.json["error"]["message"]


def test_an_unknown_charset_is_415_naming_it(single: dict[str, Any]) -> None:
    changed = with_headers(single, content_type="application/json; charset=x-no-such-charset")

    delivered = deliver(changed)

    assert delivered.status == 415
    assert "x-no-such-charset" in delivered.json["error"]["message"]


@pytest.mark.parametrize("number", ["1" * 5000, "-" + "9" * 4400, "1" * 65])
def test_a_number_of_thousands_of_digits_is_400_not_500(single: dict[str, Any], number: str) -> None:
    delivered = deliver(with_body(single, f'{{"phone": "5105550109", "assignee_id": {number}}}'))

    assert (delivered.status, delivered.json["error"]["code"]) == (400, "bad_request")


def test_a_header_sent_twice_with_the_same_value_is_read_once(single: dict[str, Any]) -> None:
    token = single["headers"]["authorization"]
    twice = with_headers(single, authorization=f"{token},{token}", content_type="application/json,application/json")

    assert deliver(twice).status == 202


def test_the_token_may_come_as_basic_auth_as_zapier_sends_it(single: dict[str, Any]) -> None:
    import base64

    basic = "Basic " + base64.b64encode(b"zapier:demo-generic-token").decode()

    assert deliver(with_headers(single, authorization=basic)).status == 202


def test_the_idempotency_key_is_read_whole_and_without_structured_field_quotes(single: dict[str, Any]) -> None:
    key = "k" * 300

    quoted = read_delivery(with_headers(single, idempotency_key=f'"{key}"')).identity

    assert (quoted.sender_id, quoted.id_covers_body) == (f"key:{key}", True)


def test_a_phone_that_could_be_a_mistyped_national_one_is_queued_with_a_warning_and_logged(
    single: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    delivered = deliver(with_json(single, {"phone": "31255504034", "first": "Wim"}))

    assert delivered.queued == [{"phone": "31255504034", "first": "Wim"}]
    assert delivered.json["accepted"] == 1
    [entry] = delivered.rejected
    assert (entry["index"], entry["accepted"], entry["errors"]) == (0, True, [])
    assert "+31" in entry["warnings"][0]
    [logged] = [r for r in caplog.records if r.getMessage().startswith("Phones without a + read as international")]
    assert logged.indexes == [0]
    assert "255504034" not in caplog.text


def test_an_international_number_with_its_plus_is_queued_without_a_warning(single: dict[str, Any]) -> None:
    assert deliver(with_json(single, {"phone": "+31 25 550 4034"})).rejected == []
