"""The local API Gateway stand-in over real HTTP: payload-2.0 events in, function responses out, its own errors."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import urllib3

from heymarket_local.api import HttpApi
from heymarket_local.template import Route, StackTemplate
from tests.support import load_event

ROUTES = StackTemplate.load().routes()
WEBHOOK_FUNCTION = ROUTES[0].function_id


class FakeFunction:
    """Records the events it gets and answers with `respond(event)`."""

    def __init__(self, respond: Callable[[dict[str, Any]], Any]) -> None:
        self.respond = respond
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.respond(event)


def accepted(event: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": 202, "headers": {"Content-Type": "application/json"}, "body": '{"accepted":1}'}


@pytest.fixture
def function() -> FakeFunction:
    return FakeFunction(accepted)


@pytest.fixture
def api(function: FakeFunction) -> Iterator[HttpApi]:
    with HttpApi(ROUTES, {WEBHOOK_FUNCTION: function}) as running:
        yield running


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    pool = urllib3.PoolManager(retries=False, timeout=5.0)
    yield pool
    pool.clear()


# A path on the {source} route: a name that has no route of its own (template.yaml gives each source one, for its
# throttle).
OTHER = "/zapier"


def test_the_template_route_is_a_webhook_post() -> None:
    assert Route("POST", "/webhooks/{source}", WEBHOOK_FUNCTION) in ROUTES


def test_a_json_post_becomes_the_http_api_event_api_gateway_sends(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    response = http.request(
        "POST",
        f"{api.url}/webhooks{OTHER}?token=t1&tag=a&tag=b",
        body=b'{"phone": "+15105550199"}',
        headers={"Content-Type": "application/json", "X-Bridge-Token": "secret", "Cookie": "a=1; b=2"},
    )

    assert response.status == 202
    (event,) = function.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/{source}"
    assert event["rawPath"] == f"/webhooks{OTHER}"
    assert event["rawQueryString"] == "token=t1&tag=a&tag=b"
    assert event["queryStringParameters"] == {"token": "t1", "tag": "a,b"}
    assert event["pathParameters"] == {"source": OTHER[1:]}
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["x-bridge-token"] == "secret"
    assert all(name == name.lower() for name in event["headers"])
    assert event["cookies"] == ["a=1", "b=2"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"phone": "+15105550199"}', False)
    context = event["requestContext"]
    assert context["http"]["method"] == "POST"
    assert context["http"]["path"] == f"/webhooks{OTHER}"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert context["stage"] == "$default"
    assert context["routeKey"] == "POST /webhooks/{source}"
    assert uuid.UUID(context["requestId"])
    assert response.headers["apigw-requestid"] == context["requestId"]
    assert isinstance(context["timeEpoch"], int)
    assert context["time"].endswith(" +0000")


def test_the_event_has_every_field_of_the_sample_events(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    sample = load_event("generic/single_contact")

    http.request("POST", f"{api.url}/webhooks{OTHER}", body=b"{}", headers={"Content-Type": "application/json"})

    (event,) = function.events
    assert set(sample) - {"queryStringParameters"} <= set(event)
    assert set(sample["requestContext"]) <= set(event["requestContext"])
    assert set(sample["requestContext"]["http"]) <= set(event["requestContext"]["http"])


def test_a_post_to_a_sources_own_route_has_that_route_and_no_path_parameters(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    http.request("POST", f"{api.url}/webhooks/generic", body=b"{}", headers={"Content-Type": "application/json"})

    (event,) = function.events
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "POST /webhooks/generic"
    assert "pathParameters" not in event
    assert event["rawPath"] == "/webhooks/generic"


def test_a_form_post_is_base64_encoded_like_api_gateway_does(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    body = b"phone=%28510%29+555-0142&first=Frank"

    http.request(
        "POST", f"{api.url}/webhooks/generic", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )

    (event,) = function.events
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


def test_the_function_response_is_returned_unchanged(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    function.respond = lambda event: {
        "statusCode": 207,
        "headers": {"Content-Type": "text/plain", "X-Custom": "yes"},
        "body": base64.b64encode(b"\x00binary").decode(),
        "isBase64Encoded": True,
    }

    response = http.request("POST", f"{api.url}/webhooks/shopify", body=b"{}")

    assert response.status == 207
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["X-Custom"] == "yes"
    assert response.data == b"\x00binary"


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/webhooks"), ("POST", "/webhooks/a/b"), ("GET", "/webhooks/generic"), ("POST", "/")]
)
def test_a_request_no_route_matches_is_api_gateways_404(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager, method: str, path: str
) -> None:
    response = http.request(method, api.url + path, body=b"{}")

    assert response.status == 404
    assert json.loads(response.data) == {"message": "Not Found"}
    assert function.events == []


@pytest.mark.parametrize(
    "respond",
    [
        lambda event: (_ for _ in ()).throw(RuntimeError("handler bug")),
        lambda event: {"statusCode": "not a status"},
        lambda event: {"statusCode": 200, "body": {"not": "a string"}},
    ],
    ids=["exception", "bad-status", "body-not-string"],
)
def test_a_failing_function_is_api_gateways_500(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager, respond: Callable[[dict[str, Any]], Any]
) -> None:
    function.respond = respond

    response = http.request("POST", f"{api.url}/webhooks/generic", body=b"{}")

    assert response.status == 500
    assert json.loads(response.data) == {"message": "Internal Server Error"}
    assert api.function_errors == 1


def test_a_response_without_status_code_is_sent_as_json_with_200(
    api: HttpApi, function: FakeFunction, http: urllib3.PoolManager
) -> None:
    function.respond = lambda event: {"ok": True}

    response = http.request("POST", f"{api.url}/webhooks/generic", body=b"{}")

    assert response.status == 200
    assert json.loads(response.data) == {"ok": True}


def test_stop_frees_the_port_and_ends_its_threads(function: FakeFunction, http: urllib3.PoolManager) -> None:
    api = HttpApi(ROUTES, {WEBHOOK_FUNCTION: function}).start()
    url = api.url
    http.request("POST", f"{url}/webhooks/generic", body=b"{}")  # leaves a keep-alive connection open

    api.stop()

    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.request("POST", f"{url}/webhooks/generic", body=b"{}", retries=False, timeout=1.0)
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("local-api-")]
