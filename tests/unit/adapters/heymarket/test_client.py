"""The one typed request (adapters/heymarket/client.py) over the in-memory Heymarket: answers read with a reader of
the documented shape, the base-URL check, retries through HeymarketHttp, and the chunking helpers."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.answers import read_ok, read_search_answer
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, chunked, fill_unset, refusal_failure
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
from heymarket_bridge.domain.failures import ConfigurationFailure, PermanentFailure, TransientFailure
from tests.unit.sync.harness import ANN, Harness

SEARCH = "POST /v2/contacts/search"
CONTACT = "GET /v2/contact/*"


def client(h: Harness, max_batch: int = 100) -> HeymarketClient:
    return HeymarketClient(h.http, max_batch=max_batch)


def search_body(*phones: str) -> dict[str, Any]:
    return {"contact_channels": [{"channel_type": "phone", "channel_ids": list(phones)}]}


def read_named(c: HeymarketClient, h: Harness, uuid: str = "5f0c1e8e-4a8f-4c43-9d0e-2a3b4c5d6e7f") -> Any:
    return c.read("GET", f"/v2/contact/{uuid}", None, h.deadline(), lambda data: data, resource=True)


def test_an_answer_is_read_with_the_reader_given_and_carries_its_request_id() -> None:
    h = Harness()
    h.heymarket.add(ANN, first="Ann")

    [found], request_id = client(h).exchange(
        "POST", "/v2/contacts/search", search_body(ANN), h.deadline(), read_search_answer
    )

    assert (found.phone, found.fields["first"]) == (ANN, "Ann")
    assert request_id is not None
    assert request_id.startswith("req-")


@pytest.mark.parametrize("body", [{"contacts": []}, ["98765"], "ok"])  # JSON, not a bare array of contacts
def test_a_2xx_answer_not_of_the_documented_shape_is_a_transient_failure_whose_outcome_is_unknown(body: Any) -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (200, body))

    with pytest.raises(TransientFailure) as failure:
        client(h).read("POST", "/v2/contacts/search", search_body(ANN), h.deadline(), read_search_answer)

    assert failure.value.outcome_unknown
    assert "not of the documented shape" in failure.value.reason


def test_a_refusal_is_raised_as_refused_for_the_caller_to_settle() -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (400, {"error_code": "bad_data", "message": "phone"}))

    with pytest.raises(Refused):
        client(h).read("POST", "/v2/contacts/search", search_body(ANN), h.deadline(), read_search_answer)


def test_a_404_from_an_endpoint_that_names_nothing_is_a_configuration_failure() -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (404, b"<html>not found</html>"))

    with pytest.raises(ConfigurationFailure):
        client(h).read("POST", "/v2/contacts/search", search_body(ANN), h.deadline(), read_search_answer)


def test_a_404_for_a_contact_once_the_base_url_worked_is_not_found_and_costs_no_check() -> None:
    h = Harness()
    c = client(h)
    c.read("POST", "/v2/contacts/search", search_body(ANN), h.deadline(), read_search_answer)

    with pytest.raises(NotFound):
        read_named(c, h)

    assert h.heymarket.routes() == [SEARCH, "GET /v2/contact/5f0c1e8e-4a8f-4c43-9d0e-2a3b4c5d6e7f"]


def test_a_first_404_for_a_contact_is_checked_once_against_get_v1_inboxes() -> None:
    h = Harness()
    c = client(h)

    with pytest.raises(NotFound):
        read_named(c, h)
    with pytest.raises(NotFound):
        read_named(c, h)

    assert [route for route in h.heymarket.routes() if route == "GET /v1/inboxes"] == ["GET /v1/inboxes"]


def test_a_404_for_a_contact_where_get_v1_inboxes_is_missing_too_is_a_configuration_failure() -> None:
    h = Harness()
    h.heymarket.script("GET /v1/inboxes", (404, b"<html>not found</html>"))

    with pytest.raises(ConfigurationFailure):
        read_named(client(h), h)


def test_a_transient_failure_is_retried_through_the_http_retries() -> None:
    h = Harness()
    h.heymarket.script("DELETE /v2/contacts", (500, {"error_code": "internal"}))
    c = client(h)
    body = {"contact_channels": [{"channel_type": "id", "channel_ids": ["x"]}]}

    c.retrying(lambda: c.read("DELETE", "/v2/contacts", body, h.deadline(), read_ok), h.deadline())

    assert h.heymarket.routes() == ["DELETE /v2/contacts", "DELETE /v2/contacts"]
    assert c.requests_sent == 2


def test_a_refusal_of_a_write_is_permanent_and_a_404_for_a_contact_held_is_a_configuration_failure() -> None:
    refused = Refused(400, "bad_data", "req-1")
    missing = NotFound("not found", "req-2", heymarket_error=True)

    assert isinstance(refusal_failure(refused, "PUT /v1/contact/{id}"), PermanentFailure)
    assert isinstance(refusal_failure(missing, "PUT /v1/contact/{id}"), ConfigurationFailure)


def test_chunks_keep_the_order_and_hold_at_most_max_batch_items() -> None:
    assert chunked([1, 2, 3, 4, 5], 2) == [[1, 2], [3, 4], [5]]
    assert chunked([], 100) == []


def test_fill_unset_settles_only_the_results_still_open() -> None:
    results: list[str | None] = ["stored", None, "refused", None]

    fill_unset(results, "failed")

    assert results == ["stored", "failed", "refused", "failed"]
