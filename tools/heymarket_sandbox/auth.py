"""Heymarket's two ways to authenticate (HEYMARKET_API.md, "Base and auth"): a JWT signed with the secret pair,
valid for 5 minutes after its iat, or the legacy team API key as a Bearer token or a Basic user name."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from http import HTTPStatus
from typing import Final

import jwt

from heymarket_sandbox.config import SandboxConfig
from heymarket_sandbox.protocol import ApiError

JWT_LIFETIME_SECONDS: Final = 300
JWT_CLOCK_SKEW_SECONDS: Final = 60


def authenticate(authorization: str | None, config: SandboxConfig) -> None:
    """Accept a Heymarket JWT or the legacy key (Bearer, or Basic with an empty password); else a 401 ApiError."""
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


def _unauthorized(message: str) -> ApiError:
    return ApiError(HTTPStatus.UNAUTHORIZED, "unauthorized", message)


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
