"""What the sources share: HMAC checks on the raw body, JSON decoding that names what is wrong, reply defaults."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from heymarket_bridge.mapping import SourceMapping, Unmappable
from heymarket_bridge.webhook import BadRequest, Reply, WebhookRequest


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, message)).decode("ascii")


def same(expected: str, presented: str | None) -> bool:
    """Constant-time equality of a computed signature and the one the sender presented."""
    return presented is not None and hmac.compare_digest(expected.encode("utf-8"), presented.strip().encode("utf-8"))


def within(now: datetime, sent_at_s: float, tolerance_s: float) -> bool:
    """True when a signed timestamp is no further than the tolerance from now, either way (replays and bad clocks)."""
    return abs(now.timestamp() - sent_at_s) <= tolerance_s


def body_sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, turning every way it can be broken into a 400 that says what is wrong."""
    if not body.strip():
        raise BadRequest("the request body is empty")
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadRequest("the request body is not UTF-8") from exc
    except RecursionError as exc:
        raise BadRequest("the request body is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"the request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def try_json(body: bytes) -> Any:
    """The JSON body, or None when it is not JSON (for delivery ids, which never fail)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError):
        return None


def no_phone(where: str, mapping: SourceMapping, default: str) -> Unmappable:
    """The rejection of a submission without a phone: names the mapped references, or what the default looks for."""
    if "phone" in mapping.fields:
        refs = ", ".join(f'"{ref}"' for ref in mapping.fields["phone"])
        return Unmappable((f"{where} has no value for the mapped phone reference {refs}",))
    return Unmappable((f"{where} has no phone number: {default}",))


class SourceDefaults:
    """Protocol defaults: the JSON reply as ingest shapes it, and a delivery id from the body's hash."""

    # A form or CRM resends a delivery that gets a 4xx, and some switch off a webhook that keeps failing:
    # a delivery whose every contact is rejected is still acknowledged (202, with the reasons) for them.
    refuses_when_nothing_valid = False

    def delivery_id(self, request: WebhookRequest) -> str:
        return body_sha256(request.body)

    def delivery_retention_s(self, request: WebhookRequest) -> int | None:
        return None

    def reply(self, request: WebhookRequest, reply: Reply) -> Reply:
        return reply
