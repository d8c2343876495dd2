"""The tags and lists adapter (adapters.heymarket.segments) over the in-memory Heymarket: the documented shapes, the
pages of tags, creates never sent twice when they may have landed, list writes split until a refused phone is found."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.failures import UnreadableAnswer
from heymarket_bridge.adapters.heymarket.segments import HeymarketSegments, read_created, read_tags_page
from heymarket_bridge.domain.failures import ConfigurationFailure, PermanentFailure, TransientFailure
from heymarket_bridge.sync.failures import ListGone
from heymarket_bridge.sync.model import ListChange, Tag
from tests.contract.shapes import load_example
from tests.unit.sync.harness import ANN, BOB, Harness

LISTS = "POST /v2/lists"
LIST = "PUT /v2/lists/*"


def example(name: str) -> Any:
    return load_example(f"{name}.json")


def segments(h: Harness, max_batch: int = 100) -> HeymarketSegments:
    return HeymarketSegments(h.gateway.client, h.http, max_batch=max_batch)


def test_the_documented_answers_are_read() -> None:
    assert read_tags_page(example("v1-tags.response")) == [(Tag(55, "VIP"), "2026-01-10T08:00:00Z")]
    assert read_created(example("v2-lists-create.response")) == 42
    assert read_created(example("v2-lists-update.response")) == 42


@pytest.mark.parametrize("answer", [{"tags": []}, [{"id": "55", "tag": "VIP"}], [{"id": 55}], ["VIP"]])
def test_a_tags_answer_of_another_shape_is_unreadable(answer: Any) -> None:
    with pytest.raises(UnreadableAnswer):
        read_tags_page(answer)


def test_the_list_requests_have_the_documented_shapes() -> None:
    h = Harness()
    port = segments(h)

    list_id = port.create_list("Spring open house", "heymarket-bridge:test:abc", h.deadline())
    port.update_list(ListChange(list_id, add_phones=("15105550110", "15105550111")), h.deadline())

    create, update = (data for route, data in h.heymarket.log)
    documented = example("v2-lists-create.request")
    assert set(create) == set(documented) - {"phones"}
    assert (create["type"], create["title"]) == (documented["type"], documented["title"])
    assert update == example("v2-lists-update.request")


def test_every_page_of_tags_is_read_until_a_short_one() -> None:
    h = Harness()
    for n in range(61):
        h.heymarket.add_tag(f"Tag {n}")

    tags = segments(h).tags(h.deadline())

    assert sorted(tag.name for tag in tags) == sorted(f"Tag {n}" for n in range(61))
    assert h.heymarket.routes() == ["POST /v1/tags"] * 3


def test_a_page_that_brings_no_new_tag_ends_the_reading() -> None:
    # Whether `date` is inclusive is not documented: a Heymarket that repeats the page must not be read forever.
    h = Harness()
    page = [{"id": n, "tag": f"Tag {n}", "updated": "2026-01-10T08:00:00Z"} for n in range(30)]
    h.heymarket.script("POST /v1/tags", (200, page), (200, page))

    tags = segments(h).tags(h.deadline())

    assert (len(tags), len(h.heymarket.routes())) == (30, 2)


@pytest.mark.parametrize(
    "answer", [(200, {"rev": 1}), (200, b"<html>ok</html>"), (504, b"<html>Gateway Timeout</html>"), (500, {})]
)
def test_a_create_that_may_have_landed_is_not_sent_again(answer: tuple[int, Any]) -> None:
    h = Harness()
    h.heymarket.script(LISTS, answer)

    with pytest.raises(TransientFailure) as raised:
        segments(h).create_list("Spring", "local", h.deadline())

    assert raised.value.outcome_unknown is True
    assert h.heymarket.routes() == [LISTS]


def test_a_throttled_create_did_nothing_and_is_sent_again() -> None:
    h = Harness()
    h.heymarket.script(LISTS, (429, {"error_code": "rate_limited"}))

    assert segments(h).create_list("Spring", "local", h.deadline()) == 42
    assert h.heymarket.routes() == [LISTS, LISTS]


def test_a_refused_create_is_a_permanent_failure_naming_what() -> None:
    h = Harness()
    h.heymarket.script("POST /v1/tag", (400, {"error_code": "bad_data", "message": "tag: too long"}))

    with pytest.raises(PermanentFailure, match="refused to create the tag 'x': Heymarket answered 400: tag: too long"):
        segments(h).create_tag("x", h.deadline())


def test_a_list_write_heymarket_refuses_is_split_until_the_refused_phone_is_alone() -> None:
    h = Harness()
    list_id = h.heymarket.add_list("Spring")

    def refuse_bob(data: Any) -> Any:
        if BOB in data.get("add_phones", []):
            return 400, {"error_code": "bad_data", "message": "add_phones: invalid"}
        return h.heymarket._update_list(list_id, data)

    h.heymarket.script(LIST, *[refuse_bob] * 5)

    failed = segments(h).update_list(ListChange(list_id, add_phones=(ANN, BOB, "15105550001")), h.deadline())

    assert list(failed) == [BOB]
    assert isinstance(failed[BOB], PermanentFailure)
    assert h.heymarket.list_titled("Spring")[0].phones == [ANN, "15105550001"]


def test_phones_are_written_in_chunks_of_the_batch_size() -> None:
    h = Harness()
    list_id = h.heymarket.add_list("Spring")
    phones = tuple(f"1510555{n:04d}" for n in range(5))

    failed = segments(h, max_batch=2).update_list(
        ListChange(list_id, add_phones=phones[:3], remove_phones=phones[3:]), h.deadline()
    )

    assert failed == {}
    assert [len(data.get("add_phones", []) + data.get("remove_phones", [])) for _, data in h.heymarket.log] == [2, 2, 1]


def test_a_write_to_a_list_heymarket_does_not_hold_fails_every_phone_as_gone() -> None:
    h = Harness()
    h.heymarket.add_list("Elsewhere")  # the base URL works

    failed = segments(h).update_list(ListChange(999, add_phones=(ANN,), remove_phones=(BOB,)), h.deadline())

    assert set(failed) == {ANN, BOB}
    assert all(isinstance(failure, ListGone) for failure in failed.values())


def test_a_refused_read_of_the_tags_is_a_permanent_failure_naming_it() -> None:
    h = Harness()
    h.heymarket.script("POST /v1/tags", (400, {"error_code": "bad_data", "message": "date: must be RFC 3339"}))

    with pytest.raises(PermanentFailure, match="refused to list the team's tags: Heymarket answered 400: date"):
        segments(h).tags(h.deadline())


ARCHIVED = (400, {"error_code": "bad_data", "message": "id: the list is archived"})
PHONES = tuple(f"1510555{n:04d}" for n in range(100))


def test_a_list_heymarket_refuses_for_every_phone_costs_three_requests_not_one_per_phone() -> None:
    # Given a list Heymarket refuses every change to (archived in its app), whatever the phone
    h = Harness()
    list_id = h.heymarket.add_list("Spring")
    h.heymarket.script(LIST, *[ARCHIVED] * 300)

    # When 100 phones are added to it
    failed = segments(h).update_list(ListChange(list_id, add_phones=PHONES), h.deadline())

    # Then the chunk, its first phone alone and its last phone alone were sent: the list is refused for all
    assert [len(data["add_phones"]) for _, data in h.heymarket.log] == [100, 1, 1]
    assert set(failed) == set(PHONES)
    assert {failure.reason for failure in failed.values()} == {
        f"Heymarket refuses every change to list {list_id}, whatever the phone (Heymarket answered 400: id: the list "
        "is archived): the list itself is refused (archived, or not a list of contacts?); fix it in Heymarket or name "
        "another list, then redrive"
    }
    assert all(isinstance(failure, PermanentFailure) for failure in failed.values())


def test_the_next_chunk_refused_alike_is_refused_for_the_list_without_asking_again() -> None:
    h = Harness()
    list_id = h.heymarket.add_list("Spring")
    h.heymarket.script(LIST, *[ARCHIVED] * 300)

    failed = segments(h, max_batch=50).update_list(ListChange(list_id, add_phones=PHONES), h.deadline())

    assert [len(data["add_phones"]) for _, data in h.heymarket.log] == [50, 1, 1, 50]
    assert len(failed) == 100


@pytest.mark.parametrize("refused", [0, 37, 99])
def test_a_phone_refused_with_the_same_words_as_its_chunk_is_found_alone_wherever_it_is(refused: int) -> None:
    # Given Heymarket refuses one phone with an answer that does not name it (the chunk gets the same words)
    h = Harness()
    list_id = h.heymarket.add_list("Spring")
    bad = PHONES[refused]

    def refuse_the_bad_phone(data: Any) -> Any:
        if bad in data.get("add_phones", []):
            return 400, {"error_code": "bad_data", "message": "add_phones: invalid"}
        return h.heymarket._update_list(list_id, data)

    h.heymarket.script(LIST, *[refuse_the_bad_phone] * 100)

    # When the chunk holding it is written
    failed = segments(h).update_list(ListChange(list_id, add_phones=PHONES), h.deadline())

    # Then that phone alone is refused, as a phone's refusal, and the other 99 are on the list
    assert list(failed) == [bad]
    assert "for the phone" in failed[bad].reason
    assert sorted(h.heymarket.list_titled("Spring")[0].phones) == sorted(set(PHONES) - {bad})
    assert len(h.heymarket.log) <= 20


@pytest.mark.parametrize(
    "answer",
    [
        (404, b"<html><body><h1>404 Not Found</h1></body></html>", {"Content-Type": "text/html"}),
        (404, {"message": "Not Found"}),  # an API gateway's 404 in front of the base URL
        (404, b""),
    ],
)
def test_a_404_that_is_not_heymarkets_error_object_is_a_configuration_failure_not_a_list_gone(
    answer: Any,
) -> None:
    # Given a base URL that reaches Heymarket, and a list write answered 404 by something other than Heymarket
    h = Harness()
    list_id = h.heymarket.add_list("Spring")
    h.heymarket.script(LIST, answer)

    # When a phone is added to the list
    with pytest.raises(ConfigurationFailure, match="not Heymarket's answer for a missing list"):
        segments(h).update_list(ListChange(list_id, add_phones=(ANN,)), h.deadline())

    # Then nothing says the list is gone
    assert h.heymarket.list_titled("Spring")[0].phones == []
