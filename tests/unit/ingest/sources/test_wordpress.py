from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support import load_event
from tests.unit.ingest.sources.harness import deliver, payload_of, read_delivery, with_body, with_headers, with_json
from tests.unit.ingest.sources.in_turn import deliver_in_turn

GRAVITY = "wordpress/gravity_forms_select_fields"
SAMPLES = {
    GRAVITY: {"phone": "15125550100", "first": "Maria", "last": "Lopez", "email": "maria.lopez@example.com"},
    "wordpress/wpforms": {"phone": "13035550147", "first": "Sam", "last": "Carter", "email": "sam.carter@example.com"},
    "wordpress/contact_form_7": {
        "phone": "16175550166",
        "first": "Priya",
        "last": "Natarajan",
        "email": "priya@example.com",
    },
    "wordpress/elementor": {
        "phone": "13055550111",
        "first": "Chris",
        "last": "Doyle",
        "email": "chris.doyle@example.com",
    },
}
# A Gravity Forms entry object as the Webhooks Add-On's "All Fields" body sends it (docs.gravityforms.com/entry-object):
# a Name field (1: .3 first, .6 last), an Email field (3), a Phone field (4), an Address field (2: .6 country).
ALL_FIELDS = {
    "id": "1043",
    "form_id": "3",
    "post_id": None,
    "date_created": "2026-11-23 08:59:58",
    "date_updated": "2026-11-23 08:59:58",
    "is_starred": 0,
    "is_read": 0,
    "ip": "203.0.113.5",
    "source_url": "https://example.com/contact/",
    "user_agent": "Mozilla/5.0",
    "currency": "USD",
    "created_by": None,
    "status": "active",
    "1.2": "",
    "1.3": "Paul",
    "1.4": "",
    "1.6": "Girard",
    "1.8": "",
    "2.1": "10 Rue de Rivoli",
    "2.2": "",
    "2.3": "Paris",
    "2.4": "",
    "2.5": "75001",
    "2.6": "France",
    "3": "paul.girard@example.com",
    "4": "06 12 34 56 78",
    "5": "Do you ship to France?",
}


@pytest.fixture
def gravity() -> dict[str, Any]:
    return load_event(GRAVITY)


def as_query(event: dict[str, Any], query: str) -> dict[str, Any]:
    changed = dict(event)
    changed["rawQueryString"] = query
    changed["queryStringParameters"] = dict(pair.split("=", 1) for pair in query.split("&") if pair)
    return changed


def form_post(event: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return with_body(with_headers(event, content_type="application/x-www-form-urlencoded"), urlencode(pairs))


@pytest.mark.parametrize("sample", sorted(SAMPLES))
def test_each_plugins_documented_shape_becomes_a_contact(sample: str) -> None:
    delivered = deliver(load_event(sample))

    assert delivered.status == 202
    assert delivered.queued == [SAMPLES[sample]]


def test_the_gravity_entry_id_and_its_date_created_go_with_the_contact(gravity: dict[str, Any]) -> None:
    delivery = read_delivery(gravity)

    assert delivery.identity.sender_id == "3:1042"
    assert delivery.event_ids == ("3:1042",)
    assert delivery.occurred_at[0] is not None
    assert delivery.occurred_at[0].isoformat() == "2026-11-23T08:59:57+00:00"


# ---------------------------------------------------------------- Gravity Forms "All Fields": field ids


def test_an_all_fields_entry_with_the_phone_mapped_reads_names_and_the_address_country(gravity: dict[str, Any]) -> None:
    event = with_json(gravity, ALL_FIELDS)

    [contact] = deliver(event, mappings={"wordpress": {"phone": "4", "email": "3"}}).queued

    # "06 12 34 56 78" is a French mobile: read in the Address field's country, never in DefaultCountry (US).
    assert contact == {"phone": "33612345678", "first": "Paul", "last": "Girard", "email": "paul.girard@example.com"}


@pytest.mark.parametrize("hidden", [("2.1", "2.3", "2.5"), ("2.1", "2.2", "2.3", "2.4", "2.5")])
def test_an_address_with_its_street_or_postcode_hidden_still_gives_its_country(
    gravity: dict[str, Any], hidden: tuple[str, ...]
) -> None:
    # Gravity lets a form hide any input of an Address field: its .6 is still the country (a field with .3 and .6
    # but neither .1 nor .5 stays a Name: every multi-input Name has .3)
    entry = {key: value for key, value in ALL_FIELDS.items() if key not in hidden}

    [contact] = deliver(with_json(gravity, entry), mappings={"wordpress": {"phone": "4"}}).queued

    assert (contact["phone"], contact["last"]) == ("33612345678", "Girard")


def test_an_all_fields_entry_without_a_mapped_phone_is_rejected_saying_to_map_it(gravity: dict[str, Any]) -> None:
    delivered = deliver(with_json(gravity, ALL_FIELDS))

    assert (delivered.status, delivered.queued) == (202, [])
    assert "map the phone field's id" in delivered.rejected[0]["errors"][0]


def test_an_all_fields_entry_in_form_encoding_is_read_the_same(gravity: dict[str, Any]) -> None:
    pairs = [(key, "" if value is None else str(value)) for key, value in ALL_FIELDS.items()]
    event = as_query(form_post(gravity, pairs), "plugin=gravity_forms")

    [contact] = deliver(event, mappings={"wordpress": {"phone": "4"}}).queued

    assert (contact["phone"], contact["first"]) == ("33612345678", "Paul")


def test_a_mapped_phone_field_left_empty_is_rejected_naming_the_field(gravity: dict[str, Any]) -> None:
    delivered = deliver(with_json(gravity, {**ALL_FIELDS, "4": ""}), mappings={"wordpress": {"phone": "4"}})

    assert delivered.queued == []
    assert '"4"' in delivered.rejected[0]["errors"][0]


# ---------------------------------------------------------------- Elementor and Contact Form 7 shapes


def test_elementors_advanced_data_reads_each_fields_title_and_type(gravity: dict[str, Any]) -> None:
    pairs = [
        ("form[id]", "a1b2c3"),
        ("form[name]", "Quote"),
        ("fields[name][id]", "name"),
        ("fields[name][type]", "text"),
        ("fields[name][title]", "Your name"),
        ("fields[name][value]", "Chris Doyle"),
        ("fields[field_7][type]", "tel"),
        ("fields[field_7][title]", "Best number"),
        ("fields[field_7][value]", "(305) 555-0111"),
        ("meta[remote_ip][value]", "203.0.113.9"),
    ]

    [contact] = deliver(as_query(form_post(gravity, pairs), "plugin=elementor")).queued

    assert contact == {"phone": "13055550111", "first": "Chris", "last": "Doyle"}


def test_a_cf7_plugin_nesting_the_fields_under_form_data_is_read(gravity: dict[str, Any]) -> None:
    body = {"form_id": 12, "form_data": {"your-name": "Priya Natarajan", "your-phone": "617-555-0166"}}

    [contact] = deliver(with_json(gravity, body)).queued

    assert (contact["phone"], contact["last"]) == ("16175550166", "Natarajan")


def test_an_emergency_contacts_phone_is_never_the_respondents(gravity: dict[str, Any]) -> None:
    delivered = deliver(with_json(gravity, {"name": "Ana Ruiz", "emergency_contact_phone": "(415) 555-0142"}))

    assert delivered.queued == []
    assert "about someone else" in delivered.rejected[0]["errors"][0]


def test_an_unknown_plugin_in_the_url_is_400_naming_the_known_ones(gravity: dict[str, Any]) -> None:
    delivered = deliver(as_query(gravity, "plugin=ninja_forms"))

    assert delivered.status == 400
    assert "gravity_forms" in delivered.json["error"]["message"]


# ---------------------------------------------------------------- consent


@pytest.mark.parametrize("answer", ["1", "Yes", "I agree to receive SMS", "on"])
def test_a_consent_checkbox_is_never_read_without_a_mapping(gravity: dict[str, Any], answer: str) -> None:
    payload = {**payload_of(gravity), "sms_consent": answer, "sms_opt_out": answer}

    [contact] = deliver(with_json(gravity, payload)).queued

    assert "is_opted_out" not in contact


def test_a_mapping_may_name_the_opt_out_field(gravity: dict[str, Any]) -> None:
    payload = {**payload_of(gravity), "stop_texts": "yes"}

    [contact] = deliver(with_json(gravity, payload), mappings={"wordpress": {"is_opted_out": "stop_texts"}}).queued

    assert contact["is_opted_out"] is True


# ---------------------------------------------------------------- the token


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        ({"x_bridge_token": "demo-wordpress-secret"}, ""),
        ({"x_bridge_token": None, "authorization": "Bearer demo-wordpress-secret"}, ""),
        ({"x_bridge_token": None}, "token=demo-wordpress-secret"),
    ],
)
def test_the_token_is_taken_from_a_header_or_the_url(
    gravity: dict[str, Any], headers: dict[str, str | None], query: str
) -> None:
    assert deliver(as_query(with_headers(gravity, **headers), query)).status == 202


@pytest.mark.parametrize("token", [None, "wrong", ""])
def test_a_missing_or_wrong_token_is_401(gravity: dict[str, Any], token: str | None) -> None:
    delivered = deliver(with_headers(gravity, x_bridge_token=token))

    assert (delivered.status, delivered.queued) == (401, [])


# ---------------------------------------------------------------- repeats and order


def test_the_same_gravity_entry_posted_twice_gives_one_contact(gravity: dict[str, Any]) -> None:
    turns = deliver_in_turn([gravity, gravity])

    assert turns.replies[1]["duplicate"] is True
    assert len(turns.messages) == 1


def test_the_same_elementor_post_twice_is_a_repeat_of_the_newest_contact() -> None:
    elementor = load_event("wordpress/elementor")

    turns = deliver_in_turn([elementor, elementor])

    assert turns.statuses == [202, 202]
    assert len(turns.messages) == 1


def test_an_older_entry_after_a_newer_one_is_ordered_below_it(gravity: dict[str, Any]) -> None:
    payload = payload_of(gravity)
    newer = with_json(gravity, {**payload, "entry_id": "2", "last_name": "Lopez-Diaz"})
    older = with_json(gravity, {**payload, "entry_id": "1", "date_created": "2026-11-23 08:00:00"})

    turns = deliver_in_turn([newer, older])

    assert [m["contact"]["last"] for m in turns.messages] == ["Lopez-Diaz", "Lopez"]
    newer_rank, older_rank = turns.ranks()
    assert older_rank < newer_rank


# ---------------------------------------------------------------- hostile bodies


@pytest.mark.parametrize(
    "body",
    [
        "[]",
        '"text"',
        '{"fields": [1, 2]}',
        json.dumps({f"k{n}": "v" for n in range(1001)}),
        "{" * 100_000,
        '{"n": ' + "1" * 5000 + "}",
    ],
)
def test_a_body_that_is_no_form_entry_is_400(gravity: dict[str, Any], body: str) -> None:
    delivered = deliver(with_body(gravity, body))

    assert delivered.status == 400
    assert delivered.queued == []


def test_an_unsupported_content_type_is_415(gravity: dict[str, Any]) -> None:
    assert deliver(with_headers(gravity, content_type="application/xml")).status == 415


@pytest.mark.parametrize("value", [{"a": {"b": [1, 2]}}, [["x"]], 5125550100, True, None, "5" * 100_000])
def test_a_field_of_any_shape_is_never_a_500(gravity: dict[str, Any], value: Any) -> None:
    payload = {**payload_of(gravity), "phone": value, "first_name": value}

    assert deliver(with_json(gravity, payload)).status in (202, 413)
