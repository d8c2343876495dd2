"""Plain JSON (or an HTML form post) with a shared token: Zapier, Make, in-house systems."""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from heymarket_bridge.webhook import BadRequest, UnsupportedMediaType, WebhookRequest

JSON_TYPES = ("application/json", "text/json", "text/plain", "")
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_DEPTH_HINT = 64


def presented_token(request: WebhookRequest) -> str | None:
    """The shared token, from `Authorization: Bearer`, `X-Bridge-Token`, or `?token=` for senders without headers."""
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.headers.get("x-bridge-token") or request.query.get("token") or None


def token_matches(request: WebhookRequest, secret: str) -> bool:
    token = presented_token(request)
    return token is not None and hmac.compare_digest(token.encode(), secret.encode())


class GenericSource:
    name = "generic"

    def authenticate(self, request: WebhookRequest, secret: str) -> bool:
        return token_matches(request, secret)

    def extract(self, request: WebhookRequest) -> list[Mapping[str, Any]]:
        content_type = request.content_type
        if content_type == FORM_TYPE:
            return [_form_contact(request.body)]
        if content_type not in JSON_TYPES and not content_type.endswith("+json"):
            raise UnsupportedMediaType(
                f"content type {content_type!r} is not supported: send application/json or {FORM_TYPE}"
            )
        payload = parse_json(request.body)
        if isinstance(payload, dict) and "contacts" in payload:
            payload = payload["contacts"]
            if not isinstance(payload, list):
                raise BadRequest('"contacts" must be a list of contact objects')
        elif isinstance(payload, dict):
            payload = [payload]
        elif not isinstance(payload, list):
            raise BadRequest('the body must be a contact object, a list of them, or {"contacts": [...]}')
        return payload


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


def _form_contact(body: bytes) -> dict[str, Any]:
    if not body.strip():
        raise BadRequest("the request body is empty")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=False, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise BadRequest("the request body is not UTF-8") from exc
    contact: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for key, value in pairs:
        if key.startswith("custom[") and key.endswith("]"):
            custom[key[7:-1]] = value
        elif key == "tags":
            contact.setdefault("tags", []).append(value)
        else:
            contact[key] = value
    if custom:
        contact["custom"] = custom
    return contact
