"""One Heymarket API request at a time: paced, bounded by the deadline, answered or sorted into a failure.

Facts relied on (shared/HEYMARKET_API.md, "Limits and errors"): 500 requests a minute, beyond that 429 (back off
exponentially; no `Retry-After` is documented, so honour one if it comes and never rely on it); 400 `bad_data` is
not worth retrying; 401 means bad or missing credentials; 403 valid credentials without access; 500 retry later;
every answer carries `X-Request-Id`, logged with every error. A 3xx or a 404 from an endpoint that exists is not
an answer Heymarket documents: it means the base URL is wrong (or the endpoint moved), a configuration error.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import urllib3

from heymarket_bridge.adapters.heymarket.auth import Authenticator
from heymarket_bridge.adapters.heymarket.circuit import Circuit
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    SecretMisconfigured,
    SecretUnavailable,
    TransientFailure,
)
from heymarket_bridge.domain.records import record
from heymarket_bridge.observability import emit_metric, logger, redact
from heymarket_bridge.settings import ConfigError

T = TypeVar("T")

# Heymarket documents no answer size; this only keeps a runaway answer from exhausting the function's memory.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
_READ_CHUNK = 64 * 1024


@record
class Answer:
    """A 2xx answer whose body parsed as JSON (`data` is any JSON value, a bare string included)."""

    status: int
    data: Any
    request_id: str | None


class HeymarketHttp:
    """Sends requests to Heymarket's API within the request budget and the caller's deadline.

    `call` makes ONE request and returns its 2xx answer, or raises: `TransientFailure` (429, 5xx, a timeout, a reset,
    a body that is not JSON or did not arrive in time), `ConfigurationFailure` (credentials unusable or refused after
    re-reading the secret, 403, a 3xx), `NotFound` (404) or `Refused` (other 4xx). `retrying` repeats a unit of work
    on `TransientFailure` with exponential backoff (honouring `Retry-After`) until the deadline.
    With a `circuit` (adapters/heymarket/circuit.py), a run of calls Heymarket failed (5xx, 429, a timeout, a
    connection error) stops the requests: calls fail at once (`TransientFailure.circuit_open`) and are not retried.
    One instance per execution environment: its pool keeps connections warm, its circuit what it learned.
    """

    def __init__(
        self,
        base_url: str,
        auth: Authenticator,
        budget: RequestBudget,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 15.0,
        pool: urllib3.PoolManager | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        circuit: Circuit | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self._budget = budget
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._pool = pool or urllib3.PoolManager(num_pools=2, maxsize=4, retries=False)
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self.circuit = circuit
        self.requests_sent = 0

    # ------------------------------------------------------------------ retrying

    def retrying(self, unit: Callable[[], T], deadline: Deadline) -> T:
        """Run `unit`, again after a backoff each time it raises TransientFailure, while the deadline allows."""
        attempt = 0
        while True:
            try:
                return unit()
            except TransientFailure as failure:
                if failure.circuit_open or (self.circuit is not None and self.circuit.stopped(deadline.at)):
                    raise  # Heymarket is down: waiting out the backoff here would only spend the invocation
                attempt += 1
                delay = self._jitter() * min(self._backoff_cap_s, self._backoff_base_s * 2 ** (attempt - 1))
                if failure.retry_after_s is not None:
                    delay = max(delay, failure.retry_after_s)
                if deadline.remaining() <= delay:
                    raise
                self._sleep(delay)

    # ------------------------------------------------------------------ one request

    def call(self, method: str, path: str, body: Any, deadline: Deadline) -> Answer:
        """One request; on a 401 the secret is re-read and the request made once more."""
        if self.circuit is not None and not self.circuit.allows(deadline.at):
            raise TransientFailure(
                f"Heymarket not called ({method} {path.split('?', 1)[0]}): the last calls failed in a row "
                f"({self.circuit.last_failure}); next try in {self.circuit.reopens_in():.0f} s",
                circuit_open=True,
            )
        try:
            raw = self._send(method, path, body, deadline)
        except TransientFailure as failure:
            if failure.unavailable and self.circuit is not None:
                self.circuit.failed(failure.reason, deadline.at)
            raise
        if self.circuit is not None:
            self._tell_circuit(raw, deadline)
        return self._answer(method, path, body, deadline, raw)

    def _tell_circuit(self, raw: _Raw, deadline: Deadline) -> None:
        assert self.circuit is not None
        if raw.status == 429 or raw.status >= 500:
            self.circuit.failed(f"Heymarket answered {raw.status}", deadline.at)
        else:
            self.circuit.answered()

    def _answer(self, method: str, path: str, body: Any, deadline: Deadline, raw: _Raw) -> Answer:
        if raw.status == 401:
            logger.warning(
                "Heymarket answered 401; re-reading the secret", extra={"heymarket_request_id": raw.request_id}
            )
            self._load_credentials(refresh=True)
            raw = self._send(method, path, body, deadline)
        return self._classify(method, path, raw)

    def _classify(self, method: str, path: str, raw: _Raw) -> Answer:
        status, data, request_id, location = raw.status, raw.data, raw.request_id, raw.location
        url = self.base_url + path.split("?", 1)[0]
        if 200 <= status < 300:
            if isinstance(data, _Unreadable):
                raise TransientFailure(
                    f"Heymarket's answer to {method} {path.split('?', 1)[0]} ({status}) is not JSON: {data.describe()}",
                    request_id=request_id,
                    outcome_unknown=True,  # a 2xx: the request was carried out, whatever it did
                )
            return Answer(status, data, request_id)
        text = _error_text(data)
        if status in (401, 403):
            emit_metric("HeymarketAuthFailures")
            emit_metric("HeymarketConfigurationErrors")
            hint = "after re-reading the secret" if status == 401 else "(the credentials lack access)"
            raise ConfigurationFailure(
                f"Heymarket refused the credentials {hint}: {status} {text}", request_id=request_id
            )
        if 300 <= status < 400:
            raise misconfigured(
                f"Heymarket answered {status} (a redirect to {location or 'nowhere'}) for {method} {url}: "
                "HeymarketBaseUrl is wrong or the endpoint moved",
                "Heymarket answered a redirect: check HeymarketBaseUrl",
                request_id=request_id,
                url=url,
                status=status,
                location=location,
            )
        if status == 404:
            raise NotFound(
                f"Heymarket answered 404 for {method} {url}: {text}", request_id, heymarket_error=_is_error_object(data)
            )
        if status == 429:
            raise TransientFailure(
                f"Heymarket answered 429: {text}",
                request_id=request_id,
                throttled=True,
                retry_after_s=raw.retry_after_s,
                unavailable=True,
            )
        if 400 <= status < 500:
            raise Refused(status, f"Heymarket answered {status}: {text}", request_id)
        raise TransientFailure(
            f"Heymarket answered {status}: {text}", request_id=request_id, outcome_unknown=True, unavailable=True
        )

    def _send(self, method: str, path: str, body: Any, deadline: Deadline) -> _Raw:
        authorization = self._load_credentials(refresh=False)
        if deadline.passed():
            raise TransientFailure("the invocation ran out of time before the request could be made")
        if not self._budget.acquire(deadline.at):
            # The stack's share of HeymarketRateLimitPerMinute is used up until after the deadline: the account's
            # rate limit, like a 429, is not the contact's fault.
            raise TransientFailure(
                "the request budget (HeymarketRateLimitPerMinute) left no room before the deadline", throttled=True
            )
        headers = {"Authorization": authorization, "Accept": "application/json", "User-Agent": "heymarket-bridge"}
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        self.requests_sent += 1
        started = time.perf_counter()
        left = max(0.05, deadline.remaining())
        try:
            raw = _before(
                deadline,
                lambda: self._pool.request(
                    method,
                    self.base_url + path,
                    body=payload,
                    headers=headers,
                    timeout=urllib3.Timeout(
                        connect=min(self._connect_timeout_s, left), read=min(self._read_timeout_s, left)
                    ),
                    retries=False,
                    redirect=False,
                    preload_content=False,
                ),
            )
        except _Late as late:
            self._record(None, time.perf_counter() - started)
            raise TransientFailure(
                f"Heymarket's answer to {method} {path} had not begun (status line and headers) by the deadline",
                outcome_unknown=True,
                unavailable=True,
            ) from late
        except urllib3.exceptions.HTTPError as exc:
            self._record(None, time.perf_counter() - started)
            sent = not isinstance(exc, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError included
            raise TransientFailure(
                f"Heymarket unreachable for {method} {path}: {type(exc).__name__}",
                outcome_unknown=sent,
                unavailable=True,
            ) from exc
        try:
            content = self._read_within(raw, deadline, method, path)
        except BaseException:
            raw.close()  # an answer not read to its end: its connection cannot carry another request
            raise
        finally:
            raw.release_conn()
        self._record(raw.status, time.perf_counter() - started)
        request_id = raw.headers.get("X-Request-Id")
        data = _parse(content, raw.headers.get("Content-Type", ""))
        if raw.status >= 300:
            logger.warning(
                "Heymarket request failed",
                extra={
                    "method": method,
                    "path": path.split("?", 1)[0],
                    "status": raw.status,
                    "heymarket_request_id": request_id,
                    "error": redact(_error_text(data)),
                },
            )
        return _Raw(
            raw.status, data, request_id, raw.headers.get("Location"), _retry_after(raw.headers.get("Retry-After"))
        )

    def _read_within(self, raw: Any, deadline: Deadline, method: str, path: str) -> bytes:
        """The whole body, or TransientFailure if it has not all arrived by the deadline.

        A read timeout applies to each read, not to the whole answer: an answer that trickles in would otherwise
        run far past the invocation's deadline. Each read may wait only for what is left of the deadline.
        """
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline.remaining()
            if left <= 0:
                raise TransientFailure(
                    f"Heymarket's answer to {method} {path} was still arriving at the deadline",
                    outcome_unknown=True,
                    unavailable=True,
                )
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                sock.settimeout(min(self._read_timeout_s, left))
            try:
                chunk = raw.read1(_READ_CHUNK)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise TransientFailure(
                    f"Heymarket's answer to {method} {path} could not be read: {type(exc).__name__}",
                    outcome_unknown=True,
                    unavailable=True,
                ) from exc
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_ANSWER_BYTES:
                raise TransientFailure(
                    f"Heymarket's answer to {method} {path} is larger than {MAX_ANSWER_BYTES} bytes",
                    outcome_unknown=True,
                )
            chunks.append(chunk)

    def _load_credentials(self, *, refresh: bool) -> str:
        try:
            if refresh:
                self._auth.refresh()
            return self._auth.header()
        except (ConfigError, SecretMisconfigured) as exc:
            emit_metric("HeymarketConfigurationErrors")
            logger.error("Cannot authenticate to Heymarket", extra={"error": str(exc)})
            raise ConfigurationFailure(f"Heymarket credentials are not usable: {exc}") from exc
        except SecretUnavailable as exc:
            raise TransientFailure(f"the Heymarket secret could not be read: {exc}") from exc

    @staticmethod
    def _record(status: int | None, elapsed_s: float) -> None:
        # Each request at DEBUG only: the sync's "Batch synced" line counts them (heymarket_requests), Lambda's
        # Duration bounds their time, and a line or a metric series per request would cost more than it tells.
        status_class = "error" if status is None else f"{status // 100}xx"
        logger.debug("Heymarket request", extra={"status_class": status_class, "latency_ms": round(elapsed_s * 1000)})
        if status == 429:
            emit_metric("HeymarketThrottles")


class _Late(Exception):
    """The call had not returned by the deadline."""


def misconfigured(reason: str, log_message: str, *, request_id: str | None, **log_fields: Any) -> ConfigurationFailure:
    """The ConfigurationFailure of an answer that says the bridge is set up wrong (a redirect, a 404 that is not
    Heymarket's answer for a resource), counted (`HeymarketConfigurationErrors`, which the configuration alarm
    watches) and logged at ERROR with `log_message` and `log_fields`."""
    emit_metric("HeymarketConfigurationErrors")
    logger.error(log_message, extra={**log_fields, "heymarket_request_id": request_id})
    return ConfigurationFailure(reason, request_id=request_id)


def _before(deadline: Deadline, call: Callable[[], T]) -> T:
    """`call()`'s result, or _Late if it has not returned by the deadline.

    A socket timeout bounds each read, not a status line and headers that trickle in a byte at a time: the request
    runs in a thread of its own, abandoned (its connection with it) if it outlives the deadline.
    """
    outcome: list[T] = []
    failure: list[BaseException] = []
    lock = threading.Lock()
    abandoned = False

    def run() -> None:
        try:
            result = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            failure.append(exc)
            return
        with lock:
            if not abandoned:
                outcome.append(result)
                return
        close = getattr(result, "close", None)  # an answer nobody waits for: its connection is closed, not leaked
        if callable(close):
            close()

    worker = threading.Thread(target=run, name="heymarket-request", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline.remaining()))
    with lock:
        if not outcome and not failure:
            abandoned = True
    if abandoned:
        raise _Late
    if failure:
        raise failure[0]
    return outcome[0]


@record
class _Raw:
    """One HTTP answer as read: its status, JSON body (or _Unreadable), request id, Location and Retry-After (s)."""

    status: int
    data: Any  # JSON value, or _Unreadable
    request_id: str | None
    location: str | None
    retry_after_s: float | None


class _Unreadable:
    """A body that is not JSON: kept only to say what it was."""

    def __init__(self, content: bytes, content_type: str) -> None:
        self.content = content
        self.content_type = content_type

    def describe(self) -> str:
        if not self.content.strip():
            return "the body is empty"
        kind = self.content_type.split(";", 1)[0].strip() or "no content type"
        return f"{len(self.content)} bytes of {kind} ({redact(self.content[:80].decode('utf-8', 'replace'), 80)!r})"


def _parse(content: bytes, content_type: str) -> Any:
    try:
        return json.loads(content) if content.strip() else _Unreadable(content, content_type)
    except (ValueError, RecursionError):
        return _Unreadable(content, content_type)


def _error_text(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("message", "error", "error_code"):
            if data.get(key):
                return str(data[key])[:500]
    if isinstance(data, _Unreadable):
        return data.describe()
    if isinstance(data, str):
        return data[:500]
    return json.dumps(data)[:500] if data is not None else "no body"


def _is_error_object(data: Any) -> bool:
    """An error body in the shape Heymarket's API surfaces use, `{"error_code": "...", "message": "..."}` (the public
    API does not document its error bodies: shared/HEYMARKET_API.md, "Limits and errors"), with a text error_code."""
    return isinstance(data, dict) and isinstance(data.get("error_code"), str) and bool(data["error_code"].strip())


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(60.0, max(0.0, float(value)))
    except ValueError:
        return None
