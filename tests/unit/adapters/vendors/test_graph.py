"""What each Graph answer that is not a lead means (Meta's error-handling guide), table-driven; and the request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heymarket_bridge.adapters.vendors.graph import GraphLeads, graph_failure
from heymarket_bridge.adapters.vendors.http import VendorAnswer, VendorHttp
from heymarket_bridge.ingest.failures import FetchGone, FetchRefused, FetchTransient
from heymarket_bridge.ingest.notices import FetchNotice
from heymarket_bridge.ingest.sources.common import SourceCredentials
from vendor_standins import VendorStandins


def error(status: int, code: int | None, subcode: int | None = None) -> VendorAnswer:
    body = {"message": "m", "type": "OAuthException", "fbtrace_id": "x"}
    if code is not None:
        body["code"] = code
    if subcode is not None:
        body["error_subcode"] = subcode
    return VendorAnswer(status, {"error": body})


@pytest.mark.parametrize(
    ("answer", "kind", "throttled"),
    [
        (error(400, 190, 463), FetchRefused, False),  # expired token
        (error(400, 190, 460), FetchRefused, False),  # password changed
        (error(403, 10), FetchRefused, False),  # permission denied
        (error(403, 200), FetchRefused, False),  # leads_retrieval missing, Leads Access Manager
        (error(400, 100, 33), FetchRefused, False),  # does not exist OR missing permission: waits, never lost
        (error(400, 100), FetchRefused, False),  # the same code without its subcode
        (error(400, 803), FetchRefused, False),  # "Some of the aliases you requested do not exist": wrong token
        (error(500, 1), FetchTransient, False),
        (error(503, 2), FetchTransient, False),
        (error(400, 4), FetchTransient, True),  # app request limit
        (error(400, 17), FetchTransient, True),  # user request limit
        (error(400, 32), FetchTransient, True),  # Page request limit
        (error(400, 613), FetchTransient, True),
        (VendorAnswer(429, None), FetchTransient, True),
        (VendorAnswer(502, "<html>"), FetchTransient, False),
        (VendorAnswer(401, None), FetchRefused, False),
        (VendorAnswer(404, None), FetchGone, False),
        (error(400, 80000), FetchTransient, False),  # a code not in the table: retried, then a letter
    ],
)
def test_each_graph_answer_is_sorted_by_its_code(answer: VendorAnswer, kind: type, throttled: bool) -> None:
    failure = graph_failure(answer)

    assert type(failure) is kind
    assert getattr(failure, "throttled", False) is throttled


def test_a_refusal_names_the_code_and_never_the_token() -> None:
    assert "190" in graph_failure(error(400, 190)).reason


def test_code_100_gives_both_readings_a_permission_and_a_lead_that_does_not_exist() -> None:
    reason = graph_failure(error(400, 100, 33)).reason

    assert "lacks a permission" in reason
    assert "does not exist" in reason
    assert "subcode 33" in reason


@pytest.fixture
def standins() -> Iterator[VendorStandins]:
    with VendorStandins(page_token="page-token", acuity_user_id="1", acuity_api_key="k") as running:
        yield running


def test_the_lead_is_asked_for_with_the_documented_fields_and_the_page_token(standins: VendorStandins) -> None:
    leads = GraphLeads(VendorHttp("Graph API"), standins.url, "v23.0")
    notice = FetchNotice("meta", "444444444444", "2026-11-23T09:00:00+00:00")

    lead = leads.fetch(notice, SourceCredentials("app-secret", {"meta_page_token": "page-token"}))

    assert set(lead) >= {"field_data", "created_time", "custom_disclaimer_responses", "platform", "is_organic"}
    assert leads.requests_sent == 1


def test_a_record_id_that_is_not_digits_is_never_put_in_the_url(standins: VendorStandins) -> None:
    leads = GraphLeads(VendorHttp("Graph API"), standins.url, "v23.0")
    notice = FetchNotice("meta", "../me", "2026-11-23T09:00:00+00:00")

    with pytest.raises(FetchGone):
        leads.fetch(notice, SourceCredentials("s", {"meta_page_token": "page-token"}))
    assert leads.requests_sent == 0


def test_no_answer_is_a_failure_for_now() -> None:
    leads = GraphLeads(VendorHttp("Graph API", connect_timeout_s=0.2), "http://127.0.0.1:9", "v23.0")
    notice = FetchNotice("meta", "1", "2026-11-23T09:00:00+00:00")

    with pytest.raises(FetchTransient, match="did not answer"):
        leads.fetch(notice, SourceCredentials("s", {"meta_page_token": "t"}))
