"""The Heymarket adapter's own failures, declared once: what an answer said before the adapter decides which of
the use case's failures (heymarket_bridge.domain.failures) it is."""

from __future__ import annotations


class Refused(Exception):
    """A 4xx answer other than 401, 403 and 404 (400 bad_data, 413, ...): the same request fails again."""

    def __init__(self, status: int, reason: str, request_id: str | None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.request_id = request_id


class NotFound(Exception):
    """A 404: the thing named in the path is not there, or (if every path is answered so) the base URL is wrong.

    `heymarket_error` says whether the body is an error object as Heymarket writes them (`{"error_code", ...}`), so
    that a proxy's 404 (an HTML page, an API gateway's `{"message": "Not Found"}`) is not read as Heymarket's answer.
    """

    def __init__(self, reason: str, request_id: str | None, *, heymarket_error: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id
        self.heymarket_error = heymarket_error


class UnreadableAnswer(ValueError):
    """A 2xx answer that is not of the documented shape; str() says what was wrong with it."""
