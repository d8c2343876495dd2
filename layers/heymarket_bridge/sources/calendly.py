"""Calendly: a webhook subscription's invitee.created (and invitee.canceled) events.

Authenticity: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`, keyed by
the subscription's signing key, refused when t is more than 3 minutes away.
Defaults: phone = text_reminder_number (the number the invitee gave for SMS reminders), else the answer to the
first question that asks for a phone, mobile or cell number; email = email; first/last = first_name/last_name,
else `name` split on its last space.
Other events (routing forms, no-shows) carry no invitee: each is rejected with the reason, not refused.
Mapping references (SOURCE_MAPPINGS): a question's text (exact, ignoring case) names its answer; anything else is
a dotted path into the invitee payload ("tracking.utm_source", "scheduled_event.name").

    {"calendly": {"phone": "Best number to text you?", "custom": {"101": "scheduled_event.name"}}}

Delivery id: the event name with the invitee's URI.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from heymarket_bridge.mapping import SourceMapping, Submission, Unmappable, dotted, split_name
from heymarket_bridge.sources.common import SourceDefaults, body_sha256, no_phone, parse_json, same, try_json, within
from heymarket_bridge.webhook import BadRequest, WebhookRequest

TOLERANCE_S = 180
INVITEE_EVENTS = ("invitee.created", "invitee.canceled")
PHONE_QUESTION = re.compile(r"phone|mobile|cell|sms|whats\s?app", re.IGNORECASE)


def signature_parts(header: str) -> tuple[str, list[str]]:
    """('t' value, every 'v1' value) of a Calendly-Webhook-Signature header."""
    timestamp, signatures = "", []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamp = value.strip()
        elif key == "v1":
            signatures.append(value.strip())
    return timestamp, signatures


class CalendlySource(SourceDefaults):
    name = "calendly"

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        timestamp, signatures = signature_parts(request.headers.get("calendly-webhook-signature", ""))
        if not timestamp.isdigit() or not signatures or not within(now, int(timestamp), TOLERANCE_S):
            return False
        expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
        # Evaluate every candidate, so that the time taken does not tell which one matched.
        matches = [same(expected, signature) for signature in signatures]
        return any(matches)

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        payload = parse_json(request.body)
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise BadRequest('the Calendly payload has no "event" name')
        invitee = payload.get("payload")
        if not isinstance(invitee, dict):
            raise BadRequest('the Calendly payload has no "payload" object')
        event = payload["event"]
        if event not in INVITEE_EVENTS:
            return [Unmappable((f'Calendly event "{event[:60]}" carries no invitee; subscribe to invitee.created',))]
        contact = mapping.apply(_defaults(invitee), lambda ref: _lookup(invitee, ref))
        if contact.get("phone") is None:
            return [no_phone("the Calendly invitee", mapping, "no text_reminder_number and no phone question")]
        return [contact]

    def delivery_id(self, request: WebhookRequest) -> str:
        payload = try_json(request.body)
        if isinstance(payload, dict) and isinstance(payload.get("payload"), dict) and payload["payload"].get("uri"):
            return f"{payload.get('event')}:{payload['payload']['uri']}"
        return body_sha256(request.body)


def _answers(invitee: Mapping[str, Any]) -> list[tuple[str, Any]]:
    raw = invitee.get("questions_and_answers")
    if not isinstance(raw, list):
        return []
    items = [qa for qa in raw if isinstance(qa, dict)]
    items.sort(key=_position)
    return [(str(qa.get("question") or ""), qa.get("answer")) for qa in items]


def _position(question: Mapping[str, Any]) -> int:
    position = question.get("position")
    return position if isinstance(position, int) else 0


def _defaults(invitee: Mapping[str, Any]) -> dict[str, Any]:
    phone = invitee.get("text_reminder_number") or next(
        (answer for question, answer in _answers(invitee) if PHONE_QUESTION.search(question) and answer), None
    )
    first, last = invitee.get("first_name"), invitee.get("last_name")
    if not first and not last:
        first, last = split_name(invitee.get("name"))
    return {"phone": phone, "first": first, "last": last, "email": invitee.get("email")}


def _lookup(invitee: Mapping[str, Any], ref: str) -> Any:
    wanted = ref.strip().lower()
    for question, answer in _answers(invitee):
        if question.strip().lower() == wanted:
            return answer
    return dotted(invitee, ref)
