"""Signatures senders put on their webhooks: HMAC-SHA256, compared in constant time, several per header."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from heymarket_bridge.ingest.failures import Unauthorized
from heymarket_bridge.ingest.times import unix_time, within

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


def signature_parts(header: str) -> tuple[list[str], list[str]]:
    """(every 't' value, every 'v1' value) of a timestamped signature header, `t=<unix seconds>,v1=<hex>[,v1=...]`:
    Stripe's Stripe-Signature (docs.stripe.com/webhooks#verify-manually), Calendly's Calendly-Webhook-Signature, the
    bridge's own X-Bridge-Signature (the Google Forms script). Other schemes in the header (Stripe's v0) are ignored."""
    timestamps: list[str] = []
    found: list[str] = []
    for part in header.split(",")[: 4 * MAX_SIGNATURES]:
        key, _, value = part.strip().partition("=")
        if key.strip() == "t" and value.strip() not in timestamps:
            timestamps.append(value.strip())
        elif key.strip() == "v1" and value.strip():
            found.append(value.strip().lower())
    return timestamps, found[:MAX_SIGNATURES]


def check_timestamped(header_name: str, header: str, secret: str, body: bytes, now: datetime, tolerance_s: int) -> None:
    """Check a `t=<unix seconds>,v1=<hex>` signature header (`signature_parts`): one t, within `tolerance_s` of
    `now`, and a v1 equal to the hex HMAC-SHA256 of `<t>.<raw body>` keyed by `secret` (every v1 is compared in
    constant time). Raises Unauthorized naming `header_name` and what is wrong: missing, malformed, stale, not
    matching."""
    timestamps, presented = signature_parts(header)
    if not presented or len(timestamps) != 1:
        raise Unauthorized(f'missing or malformed {header_name} header ("t=<time>,v1=<signature>")')
    sent_at = unix_time(timestamps[0], 12)
    if sent_at is None:
        raise Unauthorized(f"the {header_name} t= is not a time in seconds")
    if not within(now, sent_at, tolerance_s):
        raise Unauthorized(
            f"the {header_name} t= is more than {tolerance_s // 60} minutes away from now: a replay, or a clock that "
            "is wrong"
        )
    expected = hmac_sha256(secret, timestamps[0].encode() + b"." + body).hex()
    if not any_same([expected], presented):
        raise Unauthorized(f"the {header_name} does not match the body and the signing secret")


def timestamped_signature(secret: str, body: bytes, now: datetime) -> str:
    """The `t=<unix seconds>,v1=<hex>` header value that `check_timestamped` accepts, for the tools that play the
    sender."""
    timestamp = str(int(now.timestamp()))
    return f"t={timestamp},v1={hmac_sha256(secret, timestamp.encode() + b'.' + body).hex()}"


def require_body_hmac_b64(
    header: str | None, secret: str, body: bytes, *, prefix: str = "", missing: str, wrong: str
) -> None:
    """Check a header carrying base64 HMAC-SHA256 signatures of the raw body (Typeform, Shopify, Acuity): raises
    Unauthorized(`missing`) when it carries none, Unauthorized(`wrong`) when none matches the body and `secret`."""
    presented = signatures(header, prefix)
    if not presented:
        raise Unauthorized(missing)
    if not any_same([hmac_b64(secret, body)], presented):
        raise Unauthorized(wrong)
