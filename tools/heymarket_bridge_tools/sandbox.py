"""In-memory Heymarket API sandbox for the tests, `make demo` and the benchmarks.

Heymarket has no public sandbox, so this server plays its part on 127.0.0.1: the v2 bulk contact
endpoints, the legacy v1 batch endpoint, JWT and legacy-key auth, the 500-a-minute rate limit, and
injectable faults (latency, 500s, 429 bursts, per-contact failures, connection resets). Where Heymarket's
behaviour is not documented (see HEYMARKET_API.md) the sandbox picks one answer and makes it a setting or says
so here:

- an update changes only the top-level fields it sends (`custom` and `tags` are replaced whole);
- a create whose phone already exists fails or updates, per `SandboxConfig.duplicate_create`;
- DELETE /v2/contacts answers `{"deleted": [...], "not_found": [...]}`;
- POST /v1/contact-fields answers `[{"id": 101, "title": "Campus"}, ...]` (`SandboxConfig.custom_fields`), and
  v2 writes drop custom values keyed by anything but digits (a field title), without an error, as Heymarket
  is reported to do;
- errors are `{"error_code": ..., "message": ...}` and no `Retry-After` header is ever sent.

Run it alone with `python -m heymarket_bridge_tools.sandbox --port 8099`; it prints
`READY {"url": ...}` once it accepts connections. Endpoints under `/_sandbox/` need no auth and are
not counted in the stats: GET contacts, GET stats, POST reset, GET/POST faults (every SandboxConfig setting,
custom_fields included).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import dataclasses
import hmac
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qs, urlsplit

import jwt

from heymarket_bridge_tools.serving import Serving, TrackedServer, UnreadableBody, read_body

JsonObject = dict[str, Any]

JWT_LIFETIME_SECONDS: Final = 300
JWT_CLOCK_SKEW_SECONDS: Final = 60
RATE_WINDOW_SECONDS: Final = 60.0
MAX_TAGS: Final = 5
# Heymarket documents no body limit; this one only protects the sandbox from runaway clients.
MAX_BODY_BYTES: Final = 64 * 1024 * 1024
DUPLICATE_CREATE_MODES: Final = ("fail", "update")

_PHONE_PATTERN: Final = re.compile(r"[1-9]\d{7,14}")
_STRING_FIELDS: Final = ("first", "last", "display_name", "email", "avatar")
_INTEGER_MINIMUMS: Final = {
    "rate_limit_per_minute": 1,
    "max_bulk_contacts": 1,
    "latency_ms": 0,
    "throttle_burst": 0,
}
_FRACTION_FIELDS: Final = ("fail_rate", "contact_error_rate", "reset_rate")
_SERVE_POLL_SECONDS: Final = 0.02


@dataclass(frozen=True)
class SandboxConfig:
    """Credentials, limits and injected faults of one sandbox; validated on creation."""

    secret_id: str = "sandbox-secret-id"
    secret_key: str = "sandbox-secret-key"
    api_key: str | None = "sandbox-api-key"
    rate_limit_per_minute: int = 500
    max_bulk_contacts: int = 1000
    duplicate_create: str = "fail"
    fail_rate: float = 0.0
    latency_ms: int = 0
    contact_error_rate: float = 0.0
    throttle_burst: int = 0
    # Fraction of API requests whose connection is reset instead of answered, AFTER the request took effect
    # (a write is stored, its answer lost): the case where a client cannot know whether its request worked.
    reset_rate: float = 0.0
    seed: int | None = None
    # The team's custom fields as (id, title) pairs, listed by POST /v1/contact-fields.
    custom_fields: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        for name in ("secret_id", "secret_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key):
            raise ValueError("api_key must be a non-empty string or None")
        for name, minimum in _INTEGER_MINIMUMS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}")
        for name in _FRACTION_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1")
            # JSON and argparse hand over ints for 0 and 1; keep the declared type.
            object.__setattr__(self, name, float(value))
        if self.duplicate_create not in DUPLICATE_CREATE_MODES:
            raise ValueError(f"duplicate_create must be one of {', '.join(DUPLICATE_CREATE_MODES)}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError("seed must be an integer or None")
        # JSON (the faults endpoint) hands over lists of [id, title] lists; keep the declared type.
        object.__setattr__(self, "custom_fields", _custom_fields(self.custom_fields))


def _custom_fields(value: object) -> tuple[tuple[int, str], ...]:
    error = "custom_fields must be a list of [id, title] pairs with positive integer ids and non-empty titles"
    if not isinstance(value, list | tuple):
        raise ValueError(error)
    pairs: list[tuple[int, str]] = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(error)
        field_id, title = pair
        if isinstance(field_id, bool) or not isinstance(field_id, int) or field_id <= 0:
            raise ValueError(error)
        if not isinstance(title, str) or not title.strip():
            raise ValueError(error)
        pairs.append((field_id, title))
    return tuple(pairs)


_CONFIG_FIELDS: Final = frozenset(field.name for field in dataclasses.fields(SandboxConfig))
DEFAULT_CONFIG: Final = SandboxConfig()


class _ApiError(Exception):
    """An HTTP error answer, raised from anywhere inside an API request."""

    def __init__(self, status: HTTPStatus, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


class _ContactRejected(Exception):
    """One contact of a write cannot be stored; str() is the error Heymarket-style answers carry."""


class _Reply(NamedTuple):
    status: int
    payload: object
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _ApiRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: str | None
    body: bytes
    path_param: str | None = None

    def json(self) -> Any:
        """The body parsed as JSON, or a 400 bad_data answer."""
        if not self.body.strip():
            raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", "request body must be JSON")
        try:
            return json.loads(self.body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", f"malformed JSON: {error}") from error


_Endpoint = Callable[[_ApiRequest, SandboxConfig], _Reply]


def _error_payload(error_code: str, message: str) -> JsonObject:
    return {"error_code": error_code, "message": message}


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _default_display_name(first: str | None, last: str | None) -> str | None:
    return " ".join(part for part in (first, last) if part) or None


def _copy_contact(contact: JsonObject) -> JsonObject:
    # custom holds only scalars and tags only flat dicts, so this copy is as good as a deep one.
    return {**contact, "custom": dict(contact["custom"]), "tags": [dict(tag) for tag in contact["tags"]]}


def _phone_of(sent: JsonObject, channels: list[JsonObject]) -> object:
    if "phone" in sent:
        return sent["phone"]
    for channel in channels:
        if channel.get("channel_type") == "phone" and "channel_id" in channel:
            return channel["channel_id"]
    return None


def _parse_contact_write(sent: object, *, drop_titled_custom: bool = False) -> tuple[str | None, JsonObject]:
    """Validate one contact as sent; return its phone (if any) and the stored fields it sets.

    `drop_titled_custom`: leave out custom values keyed by a field title instead of its id, silently.
    """
    if not isinstance(sent, dict):
        raise _ContactRejected("contact must be an object")
    fields: JsonObject = {}
    for name in _STRING_FIELDS:
        if name in sent:
            if not isinstance(sent[name], str):
                raise _ContactRejected(f"invalid {name}")
            fields[name] = sent[name]
    if "custom" in sent:
        custom = sent["custom"]
        if not isinstance(custom, dict) or not all(
            isinstance(value, str | int | float | bool) for value in custom.values()
        ):
            raise _ContactRejected("invalid custom")
        fields["custom"] = {key: value for key, value in custom.items() if not drop_titled_custom or str(key).isdigit()}
    if "tags" in sent:
        tags = sent["tags"]
        if not isinstance(tags, list):
            raise _ContactRejected("invalid tags")
        if len(tags) > MAX_TAGS:
            raise _ContactRejected("too many tags")
        if not all(
            isinstance(tag, dict) and isinstance(tag.get("tag_id"), int) and not isinstance(tag["tag_id"], bool)
            for tag in tags
        ):
            raise _ContactRejected("invalid tags")
        fields["tags"] = [{"tag_id": tag["tag_id"]} for tag in tags]
    if "is_opted_out" in sent:
        if not isinstance(sent["is_opted_out"], bool):
            raise _ContactRejected("invalid is_opted_out")
        fields["is_opted_out"] = sent["is_opted_out"]
    if "assignee_id" in sent:
        assignee_id = sent["assignee_id"]
        if isinstance(assignee_id, bool) or not isinstance(assignee_id, int):
            raise _ContactRejected("invalid assignee_id")
        fields["assignee_id"] = None if assignee_id == -1 else assignee_id
    channels = sent.get("contact_channels", [])
    if not isinstance(channels, list) or not all(isinstance(channel, dict) for channel in channels):
        raise _ContactRejected("invalid contact_channels")
    if "email" not in fields:
        for channel in channels:
            if channel.get("channel_type") == "email" and isinstance(channel.get("channel_id"), str):
                fields["email"] = channel["channel_id"]
                break
    phone = _phone_of(sent, channels)
    if phone is not None and (not isinstance(phone, str) or not _PHONE_PATTERN.fullmatch(phone)):
        raise _ContactRejected("invalid phone")
    return phone, fields


class _ContactBook:
    """Contacts by id with a phone index; the caller holds the sandbox lock around every call."""

    def __init__(self) -> None:
        self._by_id: dict[str, JsonObject] = {}
        self._id_by_phone: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def clear(self) -> None:
        self._by_id.clear()
        self._id_by_phone.clear()

    def snapshot(self) -> list[JsonObject]:
        return [_copy_contact(contact) for contact in self._by_id.values()]

    def get(self, contact_id: str) -> JsonObject | None:
        contact = self._by_id.get(contact_id)
        return None if contact is None else _copy_contact(contact)

    def write_v2(self, sent: object, *, duplicate_create: str, update_by_id: bool) -> JsonObject:
        """Create or update one v2 contact; return a copy of what is stored."""
        phone, fields = _parse_contact_write(sent, drop_titled_custom=True)
        contact_id = sent.get("contact_id") if update_by_id and isinstance(sent, dict) else None
        if contact_id is not None:
            contact = self._by_id.get(contact_id) if isinstance(contact_id, str) else None
            if contact is None:
                raise _ContactRejected("contact not found")
            return self._update(contact, phone, fields)
        if phone is None:
            raise _ContactRejected("missing phone")
        existing_id = self._id_by_phone.get(phone)
        if existing_id is None:
            return self._create(phone, fields)
        if duplicate_create == "fail":
            raise _ContactRejected("contact already exists")
        return self._update(self._by_id[existing_id], phone, fields)

    def write_v1(self, sent: object, *, overwrite: bool) -> JsonObject | None:
        """Create one v1 batch contact, or overwrite/skip (None) an existing phone."""
        phone, fields = _parse_contact_write(sent)
        if phone is None:
            raise _ContactRejected("missing phone")
        existing_id = self._id_by_phone.get(phone)
        if existing_id is None:
            return self._create(phone, fields)
        if not overwrite:
            return None
        return self._update(self._by_id[existing_id], phone, fields)

    def delete(self, contact_ids: list[str]) -> tuple[list[str], list[str]]:
        deleted: list[str] = []
        not_found: list[str] = []
        for contact_id in contact_ids:
            contact = self._by_id.pop(contact_id, None)
            if contact is None:
                not_found.append(contact_id)
                continue
            self._id_by_phone.pop(contact["phone"], None)
            deleted.append(contact_id)
        return deleted, not_found

    def search(self, phones: list[str], emails: list[str], contact_ids: list[str]) -> list[JsonObject]:
        matched: dict[str, JsonObject] = {}
        for contact_id in [*(self._id_by_phone.get(phone) for phone in phones), *contact_ids]:
            if contact_id is not None and contact_id in self._by_id:
                matched.setdefault(contact_id, self._by_id[contact_id])
        if emails:
            # No email index: email is not unique, and one pass per request keeps this O(stored).
            wanted = {email.lower() for email in emails}
            for contact in self._by_id.values():
                if isinstance(contact["email"], str) and contact["email"].lower() in wanted:
                    matched.setdefault(contact["id"], contact)
        return [_copy_contact(contact) for contact in matched.values()]

    def _create(self, phone: str, fields: JsonObject) -> JsonObject:
        now = _utc_now()
        first, last = fields.get("first"), fields.get("last")
        contact: JsonObject = {
            "id": str(uuid.uuid4()),
            "phone": phone,
            "first": first,
            "last": last,
            "display_name": fields.get("display_name", _default_display_name(first, last)),
            "email": fields.get("email"),
            "custom": fields.get("custom", {}),
            "tags": fields.get("tags", []),
            "is_opted_out": fields.get("is_opted_out", False),
            "assignee_id": fields.get("assignee_id"),
            "avatar": fields.get("avatar"),
            "created": now,
            "updated": now,
        }
        self._by_id[contact["id"]] = contact
        self._id_by_phone[phone] = contact["id"]
        return _copy_contact(contact)

    def _update(self, contact: JsonObject, phone: str | None, fields: JsonObject) -> JsonObject:
        if phone is not None and phone != contact["phone"]:
            if phone in self._id_by_phone:
                raise _ContactRejected("phone belongs to another contact")
            del self._id_by_phone[contact["phone"]]
            self._id_by_phone[phone] = contact["id"]
            contact["phone"] = phone
        display_name_is_derived = contact["display_name"] == _default_display_name(contact["first"], contact["last"])
        contact.update(fields)
        if "display_name" not in fields and display_name_is_derived:
            contact["display_name"] = _default_display_name(contact["first"], contact["last"])
        contact["updated"] = _utc_now()
        return _copy_contact(contact)


def _unauthorized(message: str) -> _ApiError:
    return _ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", message)


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _verify_jwt(token: str, config: SandboxConfig) -> None:
    """Check a Heymarket JWT: HS256, typ JWT, iss = secret id, iat within the last 5 minutes."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise _unauthorized("malformed JWT") from error
    if header.get("typ") != "JWT":
        raise _unauthorized('JWT header typ must be "JWT"')
    if header.get("alg") != "HS256":
        raise _unauthorized("JWT must be signed with HS256")
    try:
        claims = jwt.decode(
            token,
            key=f"{config.secret_id}||{config.secret_key}",
            algorithms=["HS256"],
            issuer=config.secret_id,
            options={"require": ["iss", "iat"], "verify_iat": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError as error:
        unverified = jwt.decode(token, options={"verify_signature": False})
        if unverified.get("iss") != config.secret_id:
            raise _unauthorized("JWT issuer is unknown (iss is not a current secret id)") from error
        raise _unauthorized("JWT has a bad signature") from error
    except jwt.InvalidIssuerError as error:
        raise _unauthorized("JWT issuer is unknown (iss is not a current secret id)") from error
    except jwt.MissingRequiredClaimError as error:
        raise _unauthorized(f"JWT is missing the {error.claim} claim") from error
    except jwt.PyJWTError as error:
        raise _unauthorized(f"JWT is invalid: {error}") from error
    issued_at = claims["iat"]
    if isinstance(issued_at, bool) or not isinstance(issued_at, int | float):
        raise _unauthorized("JWT iat must be a number of seconds")
    age = time.time() - issued_at
    if age > JWT_LIFETIME_SECONDS:
        raise _unauthorized(f"JWT expired: iat is more than {JWT_LIFETIME_SECONDS} s old")
    if age < -JWT_CLOCK_SKEW_SECONDS:
        raise _unauthorized("JWT iat is in the future")


def _verify_basic(credentials: str, config: SandboxConfig) -> None:
    try:
        decoded = base64.b64decode(credentials, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as error:
        raise _unauthorized("malformed Basic credentials") from error
    user, colon, password = decoded.partition(":")
    if not colon:
        raise _unauthorized("malformed Basic credentials")
    if config.api_key is None:
        raise _unauthorized("legacy API keys are disabled")
    if not (_same_secret(user, config.api_key) and password == ""):
        raise _unauthorized("invalid API key")


def _authenticate(authorization: str | None, config: SandboxConfig) -> None:
    """Accept a Heymarket JWT or the legacy key (Bearer, or Basic with an empty password)."""
    scheme, _, credentials = (authorization or "").strip().partition(" ")
    credentials = credentials.strip()
    if not scheme or not credentials:
        raise _unauthorized("missing credentials: send Authorization: Bearer <JWT or API key>")
    if scheme.lower() == "basic":
        _verify_basic(credentials, config)
        return
    if scheme.lower() != "bearer":
        raise _unauthorized(f"unsupported Authorization scheme {scheme!r}")
    if config.api_key is not None and _same_secret(credentials, config.api_key):
        return
    if credentials.count(".") == 2:
        _verify_jwt(credentials, config)
        return
    raise _unauthorized("invalid API key")


def _query_flag(query: dict[str, list[str]], name: str) -> bool:
    values = query.get(name, ["false"])
    value = values[-1].lower()
    if value not in ("true", "false", "1", "0"):
        raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", f"{name} must be true or false")
    return value in ("true", "1")


def _channel_filters(body: object) -> list[JsonObject]:
    """The contact_channels filters of a delete or search body, or a 400 bad_data answer."""
    filters = body.get("contact_channels") if isinstance(body, dict) else None
    if not isinstance(filters, list) or not filters:
        raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", "contact_channels must be a non-empty array")
    for channel_filter in filters:
        if not isinstance(channel_filter, dict):
            raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", "contact_channels items must be objects")
        channel_ids = channel_filter.get("channel_ids")
        if not isinstance(channel_ids, list) or not all(isinstance(item, str) for item in channel_ids):
            raise _ApiError(
                HTTPStatus.BAD_REQUEST, "bad_data", "contact_channels[].channel_ids must be an array of strings"
            )
    return filters


class HeymarketSandbox:
    """A Heymarket API double on a local port, with contacts in memory and injectable faults."""

    def __init__(self, config: SandboxConfig = DEFAULT_CONFIG, host: str = "127.0.0.1", port: int = 0) -> None:
        self._config = config
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._book = _ContactBook()
        self._rng = random.Random(config.seed)
        self._throttle_remaining = config.throttle_burst
        self._admitted_at: deque[float] = deque()
        self._requests = 0
        self._by_endpoint: dict[str, int] = {}
        self._by_status: dict[str, int] = {}
        self._contacts_written = 0
        self._connections_reset = 0
        self.requests_log: list[tuple[str, str, int]] = []
        self._serving: Serving | None = None
        self._routes: dict[str, dict[str, _Endpoint]] = {
            "/v2/contacts": {"POST": self._post_contacts, "DELETE": self._delete_contacts},
            "/v2/contact": {"POST": self._post_contact},
            "/v2/contact/{id}": {"GET": self._get_contact},
            "/v2/contacts/search": {"POST": self._search_contacts},
            "/v1/batch/contacts": {"POST": self._post_batch_contacts},
            "/v1/inboxes": {"GET": self._get_inboxes},
            "/v1/contact-fields": {"POST": self._post_contact_fields},
        }

    # Lifecycle -----------------------------------------------------------------------------------

    def start(self) -> HeymarketSandbox:
        """Bind and serve in a background daemon thread (again on the same port after stop())."""
        if self._serving is not None:
            return self
        server = _SandboxServer((self._host, self._port), self)
        self._port = server.server_address[1]
        self._serving = Serving(server, f"heymarket-sandbox-{self._port}", _SERVE_POLL_SECONDS)
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and free the port; safe to call twice."""
        serving, self._serving = self._serving, None
        if serving is not None:
            serving.stop()

    def __enter__(self) -> HeymarketSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL of the running sandbox, e.g. http://127.0.0.1:54321."""
        if self._port == 0:
            raise RuntimeError("the sandbox has no port yet: call start() first")
        return f"http://{self._host}:{self._port}"

    # Inspection and control ------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def contacts(self) -> list[JsonObject]:
        """Snapshot of the stored contacts, oldest first."""
        with self._lock:
            return self._book.snapshot()

    def stats(self) -> JsonObject:
        """Counters of API requests (not /_sandbox/ ones) and of contacts written."""
        with self._lock:
            return {
                "requests": self._requests,
                "by_endpoint": dict(self._by_endpoint),
                "by_status": dict(self._by_status),
                "contacts_written": self._contacts_written,
                "contacts_stored": len(self._book),
                "connections_reset": self._connections_reset,
            }

    def reset(self) -> None:
        """Forget contacts, counters, the request log and the rate-limit window; faults stay."""
        with self._lock:
            self._book.clear()
            self._requests = 0
            self._by_endpoint.clear()
            self._by_status.clear()
            self._contacts_written = 0
            self._connections_reset = 0
            self._admitted_at.clear()
            self.requests_log.clear()

    def configure(self, **changes: Any) -> None:
        """Change settings at runtime; names are SandboxConfig's. Raises ValueError on bad input."""
        unknown = set(changes) - _CONFIG_FIELDS
        if unknown:
            raise ValueError(f"unknown sandbox setting(s): {', '.join(sorted(unknown))}")
        with self._lock:
            self._config = dataclasses.replace(self._config, **changes)
            if "throttle_burst" in changes:
                self._throttle_remaining = self._config.throttle_burst
            if "seed" in changes:
                self._rng.seed(self._config.seed)

    def rotate_credentials(self, secret_id: str, secret_key: str) -> None:
        """Replace the JWT secret pair; tokens signed with the old pair fail from now on."""
        self.configure(secret_id=secret_id, secret_key=secret_key)

    # Request handling (called from the HTTP handler threads) --------------------------------------

    def _resolve(self, method: str, path: str) -> tuple[str, _Endpoint | None, str | None, list[str]]:
        """Endpoint name for the stats, its handler (None if unknown), path parameter, allowed methods."""
        template, path_param = path, None
        prefix = "/v2/contact/"
        if path.startswith(prefix) and len(path) > len(prefix) and "/" not in path[len(prefix) :]:
            template, path_param = "/v2/contact/{id}", path[len(prefix) :]
        methods = self._routes.get(template)
        if methods is None:
            return f"{method} <unknown>", None, None, []
        return f"{method} {template}", methods.get(method), path_param, sorted(methods)

    def _handle_api(self, method: str, target: str, authorization: str | None, body: bytes) -> tuple[str, _Reply]:
        """Answer one API request; returns the request path (without query) and the reply."""
        split = urlsplit(target)
        endpoint_name, endpoint, path_param, allowed = self._resolve(method, split.path)
        with self._lock:
            self._requests += 1
            self._by_endpoint[endpoint_name] = self._by_endpoint.get(endpoint_name, 0) + 1
            config = self._config
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        try:
            _authenticate(authorization, config)
            self._admit(config)
            if endpoint is None and not allowed:
                raise _ApiError(HTTPStatus.NOT_FOUND, "not_found", f"no endpoint {split.path}")
            if endpoint is None:
                return split.path, _Reply(
                    HTTPStatus.METHOD_NOT_ALLOWED,
                    _error_payload("method_not_allowed", f"{method} is not allowed on {split.path}"),
                    (("Allow", ", ".join(allowed)),),
                )
            request = _ApiRequest(method, split.path, parse_qs(split.query), authorization, body, path_param)
            return split.path, endpoint(request, config)
        except _ApiError as error:
            return split.path, _Reply(error.status, _error_payload(error.error_code, error.message))

    def _admit(self, config: SandboxConfig) -> None:
        """Apply the rate limit, then the injected 429 burst, then the injected 500s."""
        with self._lock:
            now = time.monotonic()
            window = self._admitted_at
            while window and window[0] <= now - RATE_WINDOW_SECONDS:
                window.popleft()
            if len(window) >= config.rate_limit_per_minute:
                raise _ApiError(
                    HTTPStatus.TOO_MANY_REQUESTS,
                    "rate_limited",
                    f"more than {config.rate_limit_per_minute} requests in 60 seconds",
                )
            window.append(now)
            if self._throttle_remaining > 0:
                self._throttle_remaining -= 1
                raise _ApiError(HTTPStatus.TOO_MANY_REQUESTS, "rate_limited", "throttled (injected burst)")
            if config.fail_rate > 0 and self._rng.random() < config.fail_rate:
                raise _ApiError(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "injected server error")

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            key = str(status)
            self._by_status[key] = self._by_status.get(key, 0) + 1
            self.requests_log.append((method, path, status))

    def _inject_reset(self) -> bool:
        """Whether to drop this API request's connection instead of answering (SandboxConfig.reset_rate)."""
        with self._lock:
            if self._config.reset_rate > 0 and self._rng.random() < self._config.reset_rate:
                self._connections_reset += 1
                return True
            return False

    def _inject_contact_error(self, config: SandboxConfig) -> None:
        if config.contact_error_rate > 0 and self._rng.random() < config.contact_error_rate:
            raise _ContactRejected("injected contact error")

    def _bulk_items(self, items: object, config: SandboxConfig, what: str) -> list[Any]:
        if not isinstance(items, list):
            raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", f"{what} must be an array of contacts")
        if len(items) > config.max_bulk_contacts:
            raise _ApiError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "too_large",
                f"{len(items)} contacts sent, at most {config.max_bulk_contacts} per request",
            )
        return items

    def _post_contacts(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        body = request.json()
        items = self._bulk_items(body.get("contacts") if isinstance(body, dict) else None, config, "contacts")
        written: list[JsonObject] = []
        failed: list[JsonObject] = []
        with self._lock:
            for sent in items:
                try:
                    self._inject_contact_error(config)
                    stored = self._book.write_v2(sent, duplicate_create=config.duplicate_create, update_by_id=True)
                except _ContactRejected as rejected:
                    failed.append({"contact": sent, "error": str(rejected)})
                else:
                    written.append(stored)
            self._contacts_written += len(written)
        return _Reply(HTTPStatus.OK, {"contacts": written, "failed_contacts": failed})

    def _post_contact(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        sent = request.json()
        if not isinstance(sent, dict):
            raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", "the body must be a contact object")
        with self._lock:
            try:
                stored = self._book.write_v2(sent, duplicate_create=config.duplicate_create, update_by_id=False)
            except _ContactRejected as rejected:
                raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", str(rejected)) from rejected
            self._contacts_written += 1
        return _Reply(HTTPStatus.OK, stored)

    def _delete_contacts(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        contact_ids: list[str] = []
        for channel_filter in _channel_filters(request.json()):
            if channel_filter.get("channel_type") != "id":
                raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", 'only channel_type "id" can be deleted')
            contact_ids.extend(channel_filter["channel_ids"])
        with self._lock:
            deleted, not_found = self._book.delete(contact_ids)
        return _Reply(HTTPStatus.OK, {"deleted": deleted, "not_found": not_found})

    def _search_contacts(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        phones: list[str] = []
        emails: list[str] = []
        contact_ids: list[str] = []
        for channel_filter in _channel_filters(request.json()):
            channel_type = channel_filter.get("channel_type")
            for channel_id in channel_filter["channel_ids"]:
                kind = channel_type or ("email" if "@" in channel_id else "phone")
                if kind == "phone":
                    phones.append(channel_id)
                elif kind == "email":
                    emails.append(channel_id)
                elif kind == "id":
                    contact_ids.append(channel_id)
                else:
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", f"unsupported channel_type {kind!r}")
        with self._lock:
            found = self._book.search(phones, emails, contact_ids)
        return _Reply(HTTPStatus.OK, {"contacts": found})

    def _get_contact(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        with self._lock:
            contact = self._book.get(request.path_param or "")
        if contact is None:
            raise _ApiError(HTTPStatus.NOT_FOUND, "not_found", "contact not found")
        return _Reply(HTTPStatus.OK, contact)

    def _post_batch_contacts(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        overwrite = _query_flag(request.query, "overwrite")
        items = self._bulk_items(request.json(), config, "the body")
        failed: list[Any] = []
        with self._lock:
            for sent in items:
                try:
                    self._inject_contact_error(config)
                    stored = self._book.write_v1(sent, overwrite=overwrite)
                except _ContactRejected:
                    failed.append(sent)
                else:
                    self._contacts_written += stored is not None
        return _Reply(HTTPStatus.OK, failed or "ok")

    def _get_inboxes(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        return _Reply(HTTPStatus.OK, [{"id": 1, "name": "Sandbox inbox"}])

    def _post_contact_fields(self, request: _ApiRequest, config: SandboxConfig) -> _Reply:
        return _Reply(HTTPStatus.OK, [{"id": field_id, "title": title} for field_id, title in config.custom_fields])

    def _handle_control(self, method: str, target: str, body: bytes) -> _Reply:
        """Answer a /_sandbox/ request: no auth, no counting, no faults."""
        path = urlsplit(target).path
        routes: dict[str, tuple[str, ...]] = {
            "/_sandbox/contacts": ("GET",),
            "/_sandbox/stats": ("GET",),
            "/_sandbox/reset": ("POST",),
            "/_sandbox/faults": ("GET", "POST"),
        }
        allowed = routes.get(path)
        if allowed is None:
            return _Reply(HTTPStatus.NOT_FOUND, _error_payload("not_found", f"no endpoint {path}"))
        if method not in allowed:
            return _Reply(
                HTTPStatus.METHOD_NOT_ALLOWED,
                _error_payload("method_not_allowed", f"{method} is not allowed on {path}"),
                (("Allow", ", ".join(allowed)),),
            )
        if path == "/_sandbox/contacts":
            return _Reply(HTTPStatus.OK, self.contacts())
        if path == "/_sandbox/stats":
            return _Reply(HTTPStatus.OK, self.stats())
        if path == "/_sandbox/reset":
            self.reset()
            return _Reply(HTTPStatus.OK, {"reset": True})
        if method == "POST":
            request = _ApiRequest(method, path, {}, None, body)
            try:
                changes = request.json()
                if not isinstance(changes, dict):
                    raise _ApiError(HTTPStatus.BAD_REQUEST, "bad_data", "send a JSON object of settings")
                self.configure(**changes)
            except ValueError as error:
                return _Reply(HTTPStatus.BAD_REQUEST, _error_payload("bad_data", str(error)))
            except _ApiError as error:
                return _Reply(error.status, _error_payload(error.error_code, error.message))
        return _Reply(HTTPStatus.OK, dataclasses.asdict(self.config))


class _SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HeymarketSandbox/1.0"
    # Headers and body go out in two writes; without TCP_NODELAY keep-alive clients stall ~40 ms each.
    disable_nagle_algorithm = True
    server: _SandboxServer

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the sandbox runs inside test and benchmark output."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Answer protocol-level errors (bad request line, oversized headers) in JSON too."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        self._send_reply(_Reply(code, _error_payload("http_error", message or phrase)), close=True)

    def _dispatch(self) -> None:
        sandbox = self.server.sandbox
        try:
            body = read_body(self, MAX_BODY_BYTES)
        except UnreadableBody as error:  # answered, then the connection is closed
            status, code = (
                (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too_large")
                if error.too_large
                else (HTTPStatus.BAD_REQUEST, "bad_data")
            )
            self._send_reply(_Reply(status, _error_payload(code, str(error))), close=True)
            return
        is_control = urlsplit(self.path).path.startswith("/_sandbox/")
        try:
            if is_control:
                reply = sandbox._handle_control(self.command, self.path, body)
            else:
                path, reply = sandbox._handle_api(self.command, self.path, self.headers.get("Authorization"), body)
        except Exception:  # noqa: BLE001 - a sandbox bug must still answer in JSON, not drop the connection
            path = urlsplit(self.path).path
            reply = _Reply(
                HTTPStatus.INTERNAL_SERVER_ERROR, _error_payload("internal_error", "unexpected sandbox error")
            )
        if not is_control and sandbox._inject_reset():
            self._reset_connection()
            return
        if not is_control:
            # Recorded before the answer is written, so a client that has its answer sees it counted.
            sandbox._record(self.command, path, reply.status)
        self._send_reply(reply)

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP reset and no answer (linger 0 makes close() send RST, not FIN)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _send_reply(self, reply: _Reply, *, close: bool = False) -> None:
        data = json.dumps(reply.payload, separators=(",", ":")).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        for name, value in reply.headers:
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


class _SandboxServer(TrackedServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: HeymarketSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _SandboxRequestHandler)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the sandbox's command-line options (defaults are SandboxConfig's)."""
    defaults = DEFAULT_CONFIG
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    parser.add_argument("--secret-id", default=defaults.secret_id, help="JWT secret id (the iss claim)")
    parser.add_argument("--secret-key", default=defaults.secret_key, help="JWT secret key")
    parser.add_argument("--api-key", default=defaults.api_key, help="legacy API key; an empty string disables it")
    parser.add_argument("--rate-limit", type=int, default=defaults.rate_limit_per_minute, help="API requests per 60 s")
    parser.add_argument("--max-bulk", type=int, default=defaults.max_bulk_contacts, help="contacts per bulk request")
    parser.add_argument(
        "--duplicate-create",
        choices=DUPLICATE_CREATE_MODES,
        default=defaults.duplicate_create,
        help="what a create of an existing phone does",
    )
    parser.add_argument("--fail-rate", type=float, default=defaults.fail_rate, help="fraction answered 500")
    parser.add_argument("--latency-ms", type=int, default=defaults.latency_ms, help="delay per API request")
    parser.add_argument(
        "--contact-error-rate",
        type=float,
        default=defaults.contact_error_rate,
        help="fraction of contacts in bulk writes that fail",
    )
    parser.add_argument(
        "--throttle-burst", type=int, default=defaults.throttle_burst, help="answer the next N requests 429"
    )
    parser.add_argument(
        "--reset-rate", type=float, default=defaults.reset_rate, help="fraction of requests answered by a reset"
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="seed of the random faults")
    parser.add_argument(
        "--custom-field",
        action="append",
        default=[],
        metavar="ID=TITLE",
        help="a custom field listed by POST /v1/contact-fields (repeat the option for more)",
    )


def config_from_args(ns: argparse.Namespace) -> SandboxConfig:
    """Build a SandboxConfig from options added by add_arguments(); raises ValueError on bad values."""
    return SandboxConfig(
        secret_id=ns.secret_id,
        secret_key=ns.secret_key,
        api_key=ns.api_key or None,
        rate_limit_per_minute=ns.rate_limit,
        max_bulk_contacts=ns.max_bulk,
        duplicate_create=ns.duplicate_create,
        fail_rate=ns.fail_rate,
        latency_ms=ns.latency_ms,
        contact_error_rate=ns.contact_error_rate,
        throttle_burst=ns.throttle_burst,
        reset_rate=ns.reset_rate,
        seed=ns.seed,
        custom_fields=tuple(_custom_field_option(option) for option in getattr(ns, "custom_field", None) or []),
    )


def _custom_field_option(option: str) -> tuple[int, str]:
    field_id, separator, title = option.partition("=")
    if not separator or not field_id.strip().isdigit():
        raise ValueError(f"--custom-field must be ID=TITLE, got {option!r}")
    return int(field_id), title


def main(argv: list[str] | None = None) -> int:
    """Serve in the foreground until SIGINT or SIGTERM; print READY {"url": ...} once listening."""
    parser = argparse.ArgumentParser(prog="heymarket-sandbox", description="Local Heymarket API sandbox.")
    add_arguments(parser)
    ns = parser.parse_args(argv)
    try:
        config = config_from_args(ns)
    except ValueError as error:
        parser.error(str(error))
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    previous_handlers = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = HeymarketSandbox(config, host=ns.host, port=ns.port)
    try:
        try:
            sandbox.start()
        except OSError as error:
            print(f"heymarket-sandbox: cannot listen on {ns.host}:{ns.port}: {error}", file=sys.stderr)
            return 1
        print("READY " + json.dumps({"url": sandbox.url}), flush=True)
        while not stop_requested.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for sig, handler in previous_handlers.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
