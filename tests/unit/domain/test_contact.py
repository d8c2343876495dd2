from __future__ import annotations

import pytest

from heymarket_bridge.domain.contact import Contact, parse_contact, read_contact
from heymarket_bridge.domain.failures import InvalidContact


def test_every_problem_of_a_contact_is_named_at_once() -> None:
    with pytest.raises(InvalidContact) as caught:
        parse_contact({"phone": "555-12", "email": "carol@@example", "tags": [1, 2, 3, 4, 5, 6]}, "US")
    errors = " | ".join(caught.value.errors)
    assert "phone" in errors
    assert "email" in errors
    assert "tags" in errors


def test_missing_phone_is_refused() -> None:
    with pytest.raises(InvalidContact, match="phone is required"):
        parse_contact({"first": "Ann"}, "US")


def test_fields_not_provided_are_never_sent_to_heymarket() -> None:
    contact = parse_contact({"phone": "5105551234", "first": "Ann", "last": "", "email": None}, "US")
    body = contact.to_heymarket()
    assert body == {
        "phone": "15105551234",
        "first": "Ann",
        "contact_channels": [{"channel_type": "phone", "channel_id": "15105551234"}],
    }


def test_optional_fields_are_typed_for_heymarket() -> None:
    contact = parse_contact(
        {
            "phone": "+1 415 555 0100",
            "tags": ["3", {"tag_id": 4}],
            "is_opted_out": "yes",
            "assignee_id": "-1",
            "custom": {"101": 7, "102": True, "103": ""},
            "contact_id": "A1B2C3D4-E5F6-7890-ABCD-EF1234567890",
        },
        "US",
    )
    body = contact.to_heymarket()
    assert body["tags"] == [{"tag_id": 3}, {"tag_id": 4}]
    assert body["is_opted_out"] is True
    assert body["assignee_id"] == -1
    assert body["custom"] == {"101": "7", "102": "true"}
    assert body["contact_id"] == "a1b2c3d4-e5f6-7890-abcd-ef1234567890"


def test_a_later_contact_wins_field_by_field_and_custom_fields_merge() -> None:
    earlier = Contact(phone="15105551234", first="Alice", last="Smith", custom={"101": "a", "102": "b"})
    later = Contact(phone="15105551234", last="Jones", custom={"102": "c"})
    merged = earlier.merged_with(later)
    assert merged == Contact(phone="15105551234", first="Alice", last="Jones", custom={"101": "a", "102": "c"})


def test_queue_form_round_trips() -> None:
    contact = Contact(phone="15105551234", first="A", tags=(1, 2), custom={"1": "x"}, is_opted_out=False)
    assert Contact.from_dict(contact.to_dict()) == contact


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        (
            "first",
            "Ada \ud800",
            "D800",
        ),  # a lone surrogate, as a JSON "\ud800" escape decodes: botocore cannot encode it
        ("last", "Love\ufffflace", "FFFF"),  # outside the characters SQS accepts
        ("email", "ada\x00@example.com", "0000"),  # a control character: SQS refuses it too
    ],
)
def test_text_the_queue_cannot_carry_is_refused_by_name(field: str, value: str, code: str) -> None:
    with pytest.raises(InvalidContact) as refused:
        parse_contact({"phone": "+14155550100", field: value}, "US")

    assert refused.value.errors == [f"{field} contains a character that cannot be sent (U+{code})"]


def test_custom_fields_the_queue_cannot_carry_are_refused_and_the_rest_of_the_contact_is_named() -> None:
    with pytest.raises(InvalidContact) as refused:
        parse_contact({"phone": "+14155550100", "custom": {"plan": "gold", "note\udc80": "x"}}, "US")

    assert refused.value.errors == ["custom field 'note\\udc80' contains a character that cannot be sent (U+DC80)"]


def test_tabs_newlines_and_characters_beyond_the_basic_plane_are_kept() -> None:
    contact = parse_contact({"phone": "+14155550100", "first": "Ada\tB", "last": "L\U0001f600"}, "US")

    assert (contact.first, contact.last) == ("Ada\tB", "L\U0001f600")


# ---------------------------------------------------------------- values as senders write them (issue 13)


def test_an_invalid_optional_field_is_dropped_and_named_never_costing_the_contact() -> None:
    contact, dropped, _ = read_contact(
        {"phone": "5105550113", "email": "ann@@example", "tags": "3,-1", "is_opted_out": "maybe", "first": "Ann"},
        "US",
    )

    assert (contact.phone, contact.first, contact.email, contact.tags, contact.is_opted_out) == (
        "15105550113",
        "Ann",
        None,
        (3,),
        None,
    )
    assert [item.field for item in dropped] == ["email", "tags", "is_opted_out"]


# Digits written without "+" that the default country rejects are read as an international number (11-15 digits):
# when a national number with a digit too many would read the same, the reading carries a warning.


# ------------------------------------------------------------------------------------------------ tags and lists


def test_lists_are_not_sent_to_heymarket_as_a_contact_field_in_either_mode() -> None:
    contact = Contact(phone="15105550113", first="Ann", lists=(42, "Spring open house"), tags=(3,))

    assert "lists" not in contact.to_heymarket()
    assert contact.fields_v1_cannot_send() == ["tags"]
    assert Contact.from_dict(contact.to_dict()) == contact


@pytest.mark.parametrize("digits", ["4930123456727234", "1" * 16, "+15105550157", "", "15105550157x"])
def test_a_contact_never_holds_a_phone_that_is_not_1_to_15_digits(digits: str) -> None:
    with pytest.raises(ValueError, match="1 to 15 digits"):
        Contact(phone=digits)


def test_a_queued_contact_with_too_many_digits_cannot_be_rebuilt() -> None:
    with pytest.raises(ValueError, match="1 to 15 digits"):
        Contact.from_dict({"phone": "4930123456727234"})


def test_a_submissions_country_and_its_sources_evidence_decide_the_phone() -> None:
    raw = {
        "phone": "0664 123456",
        "country_evidence": [{"field": "address.country", "value": "Austria", "of_number": False}],
    }

    contact, _, _ = read_contact(raw, "US")

    assert contact.phone == "43664123456"
