"""Heymarket credentials and the Authorization header: a short-lived JWT, or the legacy team API key.

Source: Heymarket's API reference, "Authorizations" (shared/seeds/heymarket-v2-bulk-create-contacts.txt): HS256,
header {"alg": "HS256", "typ": "JWT"}, claims {"iss": SECRET_ID, "iat": unix seconds}, key "SECRET_ID||SECRET_KEY";
a token is valid for 5 minutes after `iat`.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from heymarket_bridge.domain.records import record
from heymarket_bridge.settings import ConfigError

try:
    from jwt.warnings import InsecureKeyLengthWarning as _ShortKeyWarning
except ImportError:  # PyJWT releases before the warning existed have nothing to silence
    _ShortKeyWarning = UserWarning  # type: ignore[misc,assignment]

JWT_REUSE_S = 240  # tokens live 300 s after `iat`; re-sign well before that


@record
class Credentials:
    """Either a JWT secret pair (recommended) or a legacy team API key."""

    secret_id: str | None = None
    secret_key: str | None = None
    api_key: str | None = None

    @classmethod
    def from_secret(cls, secret: Mapping[str, Any]) -> Credentials:
        """Read `{"secret_id", "secret_key"}` or `{"api_key"}`; raises ConfigError naming what is wrong."""
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
    with warnings.catch_warnings():
        # PyJWT warns when an HMAC key is shorter than 32 bytes (RFC 7518 3.2). Heymarket chooses the key's
        # form ("ID||KEY") and issues the ID and key; the bridge must sign with exactly that, however long.
        warnings.simplefilter("ignore", _ShortKeyWarning)
        return jwt.encode(
            {"iss": secret_id, "iat": issued_at},
            f"{secret_id}||{secret_key}",
            algorithm="HS256",
            headers={"typ": "JWT"},
        )


class Authenticator:
    """Builds the Authorization header, re-signing the JWT every few minutes and re-reading the secret on demand.

    `load_credentials(refresh)` reads the secret (bypassing any cache when `refresh`); it raises ConfigError for a
    secret that is not usable, and whatever the secret store raises when it cannot be reached.
    """

    def __init__(self, load_credentials: Callable[[bool], Credentials], clock: Callable[[], float] = time.time) -> None:
        self._load = load_credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._credentials: Credentials | None = None
        self._token: str | None = None
        self._issued_at = 0
        # The last read failed (placeholders, a missing secret): read past any cache next time, since the operator
        # may have fixed it meanwhile.
        self._reread = False

    def header(self) -> str:
        with self._lock:
            credentials = self._credentials
            if credentials is None:
                loaded = False
                try:
                    credentials = self._credentials = self._load(self._reread)
                    loaded = True
                finally:
                    self._reread = not loaded
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
            self._credentials = None
            self._token = None
            self._credentials = self._load(True)
