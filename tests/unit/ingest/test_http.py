"""The request line (heymarket_bridge.ingest.http.RequestLine): which source a webhook posts as, on the {source}
route and on a source's own route (template.yaml gives each source one, for its throttle)."""

from __future__ import annotations

from typing import Any

import pytest

from heymarket_bridge.ingest.http import RequestLine, Route


def line(route_key: str, path_parameters: dict[str, str] | None = None) -> RequestLine:
    event: dict[str, Any] = {"routeKey": route_key, "rawPath": "/webhooks/typeform", "requestContext": {}}
    if path_parameters is not None:
        event["pathParameters"] = path_parameters
    return RequestLine.of(event)


def test_on_the_source_route_the_source_is_its_path_parameter() -> None:
    assert line("POST /webhooks/{source}", {"source": "Generic"}).source == "generic"


def test_on_a_sources_own_route_the_source_is_the_route_it_matched() -> None:
    assert line("POST /webhooks/typeform").source == "typeform"


def test_on_a_handshake_route_the_source_is_the_route_it_matched() -> None:
    # Meta's verification handshake is a GET on its own route (template.yaml MetaHandshake); API Gateway has no GET
    # route for any other source, so a GET never reaches the function for one.
    assert line("GET /webhooks/meta").source == "meta"


@pytest.mark.parametrize(
    "route_key", ["$default", "POST /webhooks/a/b", "PUT /webhooks/typeform", "ANY /webhooks/x", ""]
)
def test_no_other_route_names_a_source(route_key: str) -> None:
    assert line(route_key).source == ""


def test_the_delete_routes_have_no_source() -> None:
    assert (line("POST /contacts/delete").route, line("POST /contacts/delete").source) == (Route.DELETE, "")
