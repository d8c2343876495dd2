"""The Heymarket HTTP client: JWT or legacy key auth, pooled connections, errors sorted by what to do next."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jwt
import urllib3
from aws_lambda_powertools.metrics import MetricUnit

from heymarket_bridge.custom_fields import CustomField, parse_contact_fields
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.settings import ConfigError

JWT_REUSE_S = 240  # tokens live 300 s after `iat`; re-sign well before that
_REDACT = re.compile(r"\+?\d[\d\s().-]{6,}\d|[^\s@\"']+@[^\s@\"']+")


def redact(text: str, limit: int = 300) -> str:
    """Strip phone numbers and emails from text that goes to the logs (Heymarket errors may echo them)."""
    return _REDACT.sub("<redacted>", text)[:limit]


@dataclass(frozen=True)
class Credentials:
    """Either a JWT secret pair (recommended) or a legacy team API key."""

    secret_id: str | None = None
    secret_key: str | None = None
    api_key: str | None = None

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> Credentials:
        secret_id, secret_key, api_key = (secret.get(k) for k in ("secret_id", "secret_key", "api_key"))
        if isinstance(secret_id, str) and isinstance(secret_key, str) and secret_id and secret_key:
            if "REPLACE_ME" in (secret_id, secret_key):
                raise ConfigError("the Heymarket secret still holds the REPLACE_ME placeholders")
            return cls(secret_id=secret_id, secret_key=secret_key)
        if isinstance(api_key, str) and api_key:
            return cls(api_key=api_key)
        raise ConfigError('the Heymarket secret must hold {"secret_id", "secret_key"} or {"api_key"}')


def sign_jwt(secret_id: str, secret_key: str, issued_at: int) -> str:
    """A Heymarket API JWT exactly as documented: HS256, iss = secret id, key = 'ID||KEY'."""
    return jwt.encode(
        {"iss": secret_id, "iat": issued_at},
        f"{secret_id}||{secret_key}",
        algorithm="HS256",
        headers={"typ": "JWT"},
    )


class Authenticator:
    """Builds the Authorization header, re-signing the JWT every few minutes and re-reading the secret on demand."""

    def __init__(self, load_credentials: Callable[[bool], Credentials], clock: Callable[[], float] = time.time) -> None:
        self._load = load_credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._token: str | None = None
        self._issued_at = 0

    def header(self) -> str:
        with self._lock:
            credentials = self._credentials
            if credentials is None:
                credentials = self._credentials = self._load(False)
            if credentials.api_key:
                return f"Bearer {credentials.api_key}"
            now = int(self._clock())
            if self._token is None or now - self._issued_at >= JWT_REUSE_S:
                self._token = sign_jwt(credentials.secret_id or "", credentials.secret_key or "", now)
                self._issued_at = now
            return f"Bearer {self._token}"

    def refresh(self) -> None:
        """Forget the token and re-read the secret (credentials may have been rotated)."""
        with self._lock:
            self._credentials = self._load(True)
            self._token = None


class HeymarketError(Exception):
    """A request that did not succeed. `retryable` says whether the same request may succeed later."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.request_id = request_id
        self.retry_after_s = retry_after_s


class TransientError(HeymarketError):
    """429, 5xx, a timeout or a connection error: retry with backoff."""

    retryable = True


class Throttled(TransientError):
    """429: over Heymarket's request rate."""


class AuthFailed(TransientError):
    """401/403 after a fresh secret read: retried later, since an operator can fix the credentials."""


class RequestRejected(HeymarketError):
    """400 and other 4xx answers: the same request will fail again; split it to find the culprit."""


@dataclass(frozen=True)
class FailedContact:
    contact: Mapping[str, Any]
    error: str


@dataclass(frozen=True)
class BulkResult:
    contacts: Sequence[Mapping[str, Any]] = field(default_factory=list)
    failed: Sequence[FailedContact] = field(default_factory=list)
    request_id: str | None = None


@dataclass(frozen=True)
class DeleteResult:
    """Ids Heymarket deleted, and those it reported not found (already gone: also a success)."""

    deleted: Sequence[str] = field(default_factory=list)
    not_found: Sequence[str] = field(default_factory=list)
    request_id: str | None = None


@dataclass(frozen=True)
class Response:
    status: int
    data: Any
    request_id: str | None


class HeymarketClient:
    """Calls Heymarket's API. One instance per cold start: the pool keeps connections warm."""

    def __init__(
        self,
        base_url: str,
        auth: Authenticator,
        *,
        connect_timeout_s: float = 3.05,
        read_timeout_s: float = 15.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._auth = auth
        self._connect_timeout_s = connect_timeout_s
        self._read_timeout_s = read_timeout_s
        self._pool = pool or urllib3.PoolManager(num_pools=2, maxsize=4, retries=False)

    def bulk_upsert(self, contacts: Sequence[Mapping[str, Any]], *, timeout_s: float | None = None) -> BulkResult:
        """POST /v2/contacts: creates contacts without contact_id, updates those with one."""
        response = self.request("POST", "/v2/contacts", {"contacts": list(contacts)}, timeout_s=timeout_s)
        data = response.data if isinstance(response.data, dict) else {}
        failed = [
            FailedContact(contact=item.get("contact") or {}, error=str(item.get("error") or "rejected by Heymarket"))
            for item in data.get("failed_contacts") or []
            if isinstance(item, dict)
        ]
        return BulkResult(contacts=data.get("contacts") or [], failed=failed, request_id=response.request_id)

    def find_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, str]:
        """POST /v2/contacts/search: the contact id of each phone Heymarket already has (E.164 digits)."""
        return {phone: ids[0] for phone, ids in self.ids_by_phone(phones, timeout_s=timeout_s).items()}

    def ids_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, list[str]]:
        """POST /v2/contacts/search: every contact id Heymarket holds for each phone (phones it lacks are absent)."""
        body = {"contact_channels": [{"channel_type": "phone", "channel_ids": list(phones)}]}
        response = self.request("POST", "/v2/contacts/search", body, timeout_s=timeout_s)
        data = response.data if isinstance(response.data, dict) else {}
        wanted = set(phones)
        found: dict[str, list[str]] = {}
        for contact in data.get("contacts") or []:
            if not isinstance(contact, dict):
                continue
            phone = "".join(ch for ch in str(contact.get("phone") or "") if ch.isdigit())
            contact_id = contact.get("contact_id") or contact.get("id")
            if phone in wanted and contact_id is not None and str(contact_id) not in found.get(phone, []):
                found.setdefault(phone, []).append(str(contact_id))
        return found

    def bulk_delete(self, contact_ids: Sequence[str], *, timeout_s: float | None = None) -> DeleteResult:
        """DELETE /v2/contacts by id. Permanent.

        Heymarket does not document the answer: `{"deleted": [...], "not_found": [...]}` is read when it comes
        (the project's sandbox answers so); any other 2xx means every id was deleted.
        """
        body = {"contact_channels": [{"channel_type": "id", "channel_ids": list(contact_ids)}]}
        response = self.request("DELETE", "/v2/contacts", body, timeout_s=timeout_s)
        data = response.data
        if isinstance(data, dict) and isinstance(data.get("deleted"), list) and isinstance(data.get("not_found"), list):
            return DeleteResult(
                deleted=[str(i) for i in data["deleted"]],
                not_found=[str(i) for i in data["not_found"]],
                request_id=response.request_id,
            )
        return DeleteResult(deleted=list(contact_ids), request_id=response.request_id)

    def batch_create_v1(
        self, contacts: Sequence[Mapping[str, Any]], *, overwrite: bool, timeout_s: float | None = None
    ) -> BulkResult:
        """POST /v1/batch/contacts?overwrite=...: the legacy bulk create, matching existing contacts by phone.

        Heymarket answers the string "ok", or an array of the contacts that failed (with no reason).
        """
        path = f"/v1/batch/contacts?overwrite={'true' if overwrite else 'false'}"
        response = self.request("POST", path, list(contacts), timeout_s=timeout_s)
        data = response.data
        if data == "ok":
            return BulkResult(contacts=list(contacts), request_id=response.request_id)
        if not isinstance(data, list):
            # Neither answer Heymarket documents: confirm nobody rather than guess.
            unexpected = FailedContact({}, f"unexpected answer from the v1 batch endpoint: {_error_text(data)[:200]}")
            return BulkResult(failed=[unexpected], request_id=response.request_id)
        failed = [
            FailedContact(
                contact=item if isinstance(item, dict) else {},
                error="Heymarket's v1 batch endpoint did not store the contact (it gives no reason)",
            )
            for item in data
        ]
        failed_phones = {_digits(f.contact.get("phone")) for f in failed}
        if "" in failed_phones:
            # A failure that names no phone: confirm nobody, so nothing unconfirmed counts as delivered.
            return BulkResult(contacts=[], failed=failed, request_id=response.request_id)
        stored = [c for c in contacts if _digits(c.get("phone")) not in failed_phones]
        return BulkResult(contacts=stored, failed=failed, request_id=response.request_id)

    def list_custom_fields(self, *, timeout_s: float | None = None) -> list[CustomField]:
        """POST /v1/contact-fields: the team's custom fields (id and title)."""
        return parse_contact_fields(self.request("POST", "/v1/contact-fields", {}, timeout_s=timeout_s).data)

    def list_inboxes(self) -> Any:
        """GET /v1/inboxes: the documented way to check that the credentials work."""
        return self.request("GET", "/v1/inboxes").data

    def request(self, method: str, path: str, body: Any = None, *, timeout_s: float | None = None) -> Response:
        """One API call; on a 401 the secret is re-read and the call made once more."""
        response = self._send(method, path, body, timeout_s)
        if response.status == 401:
            logger.warning(
                "Heymarket answered 401; re-reading the secret",
                extra={"heymarket_request_id": response.request_id},
            )
            self._auth.refresh()
            response = self._send(method, path, body, timeout_s)
        if 200 <= response.status < 300:
            return response
        if response.status in (401, 403):
            # Still refused after re-reading the secret: the credentials themselves are wrong or revoked.
            emit_metric("HeymarketAuthFailures")
        raise self._error(response)

    def _send(self, method: str, path: str, body: Any, timeout_s: float | None) -> Response:
        read_timeout = self._read_timeout_s if timeout_s is None else max(0.1, min(timeout_s, self._read_timeout_s))
        headers = {
            "Authorization": self._auth.header(),
            "Accept": "application/json",
            "User-Agent": "heymarket-bridge",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            raw = self._pool.request(
                method,
                self._base_url + path,
                body=payload,
                headers=headers,
                timeout=urllib3.Timeout(connect=self._connect_timeout_s, read=read_timeout),
                retries=False,
                redirect=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            self._record(path, None, time.perf_counter() - started)
            raise TransientError(f"Heymarket unreachable: {type(exc).__name__}") from exc
        self._record(path, raw.status, time.perf_counter() - started)
        try:
            data = json.loads(raw.data) if raw.data else None
        except ValueError:
            data = raw.data.decode("utf-8", "replace")
        request_id = raw.headers.get("X-Request-Id")
        response = Response(status=raw.status, data=data, request_id=request_id)
        if raw.status >= 400:
            logger.warning(
                "Heymarket request failed",
                extra={
                    "method": method,
                    "path": path,
                    "status": raw.status,
                    "heymarket_request_id": request_id,
                    "error": redact(_error_text(data)),
                },
            )
        if raw.status == 429 or raw.status >= 500:
            retry_after = _retry_after(raw.headers.get("Retry-After"))
            cls = Throttled if raw.status == 429 else TransientError
            raise cls(
                f"Heymarket answered {raw.status}: {_error_text(data)}",
                status=raw.status,
                request_id=request_id,
                retry_after_s=retry_after,
            )
        return response

    @staticmethod
    def _error(response: Response) -> HeymarketError:
        text = f"Heymarket answered {response.status}: {_error_text(response.data)}"
        if response.status in (401, 403):
            return AuthFailed(text, status=response.status, request_id=response.request_id)
        return RequestRejected(text, status=response.status, request_id=response.request_id)

    @staticmethod
    def _record(path: str, status: int | None, elapsed_s: float) -> None:
        status_class = "error" if status is None else f"{status // 100}xx"
        emit_metric("HeymarketRequests", StatusClass=status_class)
        emit_metric("HeymarketLatency", elapsed_s * 1000, MetricUnit.Milliseconds)
        if status == 429:
            emit_metric("HeymarketThrottles")


def _digits(value: Any) -> str:
    return "".join(ch for ch in str(value or "") if ch.isdigit())


def _error_text(data: Any) -> str:
    if isinstance(data, dict):
        for key in ("message", "error", "error_code"):
            if data.get(key):
                return str(data[key])[:500]
    if isinstance(data, str):
        return data[:500]
    return json.dumps(data)[:500] if data is not None else "no body"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
