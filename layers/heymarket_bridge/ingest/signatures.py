"""Signatures senders put on their webhooks: HMAC-SHA256, compared in constant time, several per header."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable

# Signatures taken from one header (a sender rotating keys sends two; API Gateway joins repeated headers).
MAX_SIGNATURES = 8


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, message)).decode("ascii")


def same(expected: str, presented: str | None) -> bool:
    """Constant-time equality of a computed signature and the one the sender presented."""
    return presented is not None and hmac.compare_digest(expected.encode("utf-8"), presented.strip().encode("utf-8"))


def any_same(expected: Iterable[str], presented: Iterable[str]) -> bool:
    """Whether any presented signature equals any expected one; every pair is compared, so the time taken does not
    tell which one matched."""
    matches = [same(e, p) for e in expected for p in list(presented)[:MAX_SIGNATURES]]
    return any(matches)


def signatures(header: str | None, prefix: str = "") -> list[str]:
    """The signatures in a header: one, or several joined by commas (a key rotation, or the header sent twice)."""
    found: list[str] = []
    for part in (header or "").split(","):
        value = part.strip()
        if prefix:
            if value[: len(prefix)].lower() != prefix.lower():
                continue
            value = value[len(prefix) :].strip()
        if value:
            found.append(value)
    return found[:MAX_SIGNATURES]
