"""What every part of the sandbox shares: a request, an answer, an error answer, and the clock of the account."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any, Final, NamedTuple

JsonObject = dict[str, Any]

# The account every stored object belongs to (values as in Heymarket's reference examples).
TEAM_ID: Final = 7
CREATOR_ID: Final = 3


class ApiError(Exception):
    """An HTTP error answer `{"error_code", "message"}`, raised from anywhere inside an API request."""

    def __init__(
        self, status: HTTPStatus, error_code: str, message: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.headers = headers

    def reply(self) -> Reply:
        return Reply(self.status, error_payload(self.error_code, self.message), self.headers)


def bad_data(message: str) -> ApiError:
    """A 400 bad_data answer; `message` starts with the field at fault (Heymarket: "the body names the field")."""
    return ApiError(HTTPStatus.BAD_REQUEST, "bad_data", message)


def not_found(message: str) -> ApiError:
    return ApiError(HTTPStatus.NOT_FOUND, "not_found", message)


def error_payload(error_code: str, message: str) -> JsonObject:
    return {"error_code": error_code, "message": message}


class Reply(NamedTuple):
    """An answer before encoding: status, JSON payload, extra headers."""

    status: int
    payload: object
    headers: tuple[tuple[str, str], ...] = ()


def ok(payload: object) -> Reply:
    return Reply(HTTPStatus.OK, payload)


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    path_param: str | None = None

    def json(self) -> Any:
        """The body parsed as JSON, or a 400 bad_data answer."""
        if not self.body.strip():
            raise bad_data("body: must be JSON")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise bad_data(f"body: malformed JSON ({error})") from error

    def json_object(self) -> JsonObject:
        body = self.json()
        if not isinstance(body, dict):
            raise bad_data("body: must be a JSON object")
        return body

    def flag(self, name: str) -> bool:
        """A true/false query parameter (false when absent), or a 400 bad_data answer."""
        value = self.query.get(name, ["false"])[-1].lower()
        if value not in ("true", "false", "1", "0"):
            raise bad_data(f"{name}: must be true or false")
        return value in ("true", "1")


class Clock:
    """RFC 3339 UTC timestamps to the millisecond, strictly increasing across the account, so that paging by
    `updated` (POST /v1/tags) never meets two objects written at the same instant."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> str:
        with self._lock:
            wall = datetime.now(UTC)
            current = wall.replace(microsecond=wall.microsecond // 1000 * 1000)
            if current <= self._last:
                current = self._last + timedelta(milliseconds=1)
            self._last = current
        return format_time(current)


def format_time(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: object, name: str) -> datetime:
    """An RFC 3339 timestamp, or a 400 bad_data answer naming `name`."""
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    raise bad_data(f"{name}: must be an RFC 3339 timestamp")
