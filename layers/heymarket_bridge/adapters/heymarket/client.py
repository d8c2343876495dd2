"""One typed request to Heymarket, and the chunking every caller shares.

`HeymarketClient` is the only way the adapter talks to Heymarket: each request goes through `HeymarketHttp` (its
pacing, `RequestBudget`, timeouts and `Deadline`), and its answer is read with one of the readers of the documented
shapes (`answers.py`). What it adds:

- An answer of another shape (an HTML page from a proxy, an empty body, truncated JSON): a `TransientFailure` with
  `outcome_unknown` (it answered 2xx: the request was carried out, whatever it did), naming the answer.
- A 3xx, or a 404 from an endpoint that exists: the base URL is wrong, a `ConfigurationFailure`. A 404 is read as
  "no such contact/list" (`NotFound`) only for a `resource` path, and only once the base URL has been seen to work
  (an earlier answer of the documented shape, or `GET /v1/inboxes` answering). Source: shared/HEYMARKET_API.md.

The contact gateways (`contacts/`) and the tags and lists adapter (`segments.py`) share one client per execution
environment, so that what it learned of the base URL serves both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused, UnreadableAnswer
from heymarket_bridge.adapters.heymarket.http import Answer, HeymarketHttp, misconfigured
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.observability import logger

T = TypeVar("T")


class HeymarketClient:
    """Requests to Heymarket over one `HeymarketHttp`, each answer read with a reader of its documented shape."""

    def __init__(self, http: HeymarketHttp, *, max_batch: int) -> None:
        self.http = http
        self.max_batch = max_batch  # HeymarketMaxBatch: the most items one request carries
        self._reached = False  # an answer of the documented shape came back: the base URL is right

    @property
    def requests_sent(self) -> int:
        return self.http.requests_sent

    def retrying(self, attempt: Callable[[], T], deadline: Deadline) -> T:
        """`attempt()`, sent again on a transient failure as `HeymarketHttp.retrying` allows (deadline, budget)."""
        return self.http.retrying(attempt, deadline)

    def read(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> T:
        """One request, its answer read with `reader` (see `exchange`)."""
        return self.exchange(method, path, body, deadline, reader, resource=resource)[0]

    def exchange(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> tuple[T, str | None]:
        """One request: its answer read with `reader`, and its X-Request-Id. An unreadable answer is a
        TransientFailure; a refusal (4xx) raises `Refused`.

        A 404 is NotFound only for a `resource` path (one naming a contact or list), and only once the base URL has
        been seen to work; any other 404 means the base URL is wrong: a ConfigurationFailure.
        """
        try:
            answer = self.http.call(method, path, body, deadline)
        except NotFound as missing:
            if resource and self._base_url_works(deadline):
                raise
            raise misconfigured(
                f"{missing.reason}: HeymarketBaseUrl is wrong or the endpoint moved",
                "Heymarket answered 404 for an endpoint it documents: check HeymarketBaseUrl",
                request_id=missing.request_id,
                url=self.http.base_url + path.split("?", 1)[0],
            ) from missing
        return self._parse(answer, method, path, reader), answer.request_id

    def _parse(self, answer: Answer, method: str, path: str, reader: Callable[[Any], T]) -> T:
        try:
            value = reader(answer.data)
        except UnreadableAnswer as exc:
            logger.warning(
                "Heymarket's answer is not of the documented shape",
                extra={
                    "method": method,
                    "path": path.split("?", 1)[0],
                    "problem": str(exc),
                    "heymarket_request_id": answer.request_id,
                },
            )
            raise TransientFailure(
                f"Heymarket's answer to {method} {path.split('?', 1)[0]} is not of the documented shape: {exc}",
                request_id=answer.request_id,
                outcome_unknown=True,  # it answered 2xx: the request was carried out, whatever it did
            ) from exc
        self._reached = True
        return value

    def _base_url_works(self, deadline: Deadline) -> bool:
        """Whether the base URL reaches Heymarket: an earlier documented answer, or `GET /v1/inboxes` answering."""
        if not self._reached:
            try:
                self.read("GET", "/v1/inboxes", None, deadline, _any_json_array_or_object)
            except (NotFound, Refused, ConfigurationFailure):
                return False
        return self._reached


def refusal_failure(refused: Refused | NotFound, what: str) -> GatewayFailure:
    """What a refused write of a contact Heymarket holds means: a 404 says the endpoint is missing (the base URL or a
    moved endpoint, a configuration error), any other refusal is Heymarket's answer for the contact (permanent)."""
    if isinstance(refused, NotFound):
        return misconfigured(
            f"Heymarket answered 404 to {what} for a contact it holds: the endpoint moved or HeymarketBaseUrl is wrong",
            "Heymarket answered 404 for a contact it holds: check HeymarketBaseUrl",
            request_id=refused.request_id,
            endpoint=what,
        )
    return PermanentFailure(f"Heymarket refused {what}: {refused.reason}", request_id=refused.request_id)


def chunked(items: list[T], size: int) -> list[list[T]]:
    """`items` in consecutive lists of at most `size` (HeymarketMaxBatch), in order."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def fill_unset(results: list[Any], value: Any) -> None:
    """Every result still None becomes `value` (a failure that ends the rest of a call)."""
    for i, result in enumerate(results):
        if result is None:
            results[i] = value


def _any_json_array_or_object(data: Any) -> Any:
    if not isinstance(data, list | dict):
        raise UnreadableAnswer("the answer is not JSON of the documented kind")
    return data
