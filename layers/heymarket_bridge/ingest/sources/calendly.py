"""Calendly: a webhook subscription's invitee.created (and invitee.canceled) events.

Authenticity, from Calendly's "Webhook signatures" guide: `Calendly-Webhook-Signature: t=<unix seconds>,v1=<hex
HMAC-SHA256 of "<t>.<raw body>">`, keyed by the subscription's signing key; refused when t is more than 3 minutes
away (the guide's tolerance). Several v1 values are each tried (a key being rotated).
Defaults: phone = the first that parses as a phone of text_reminder_number (the number the invitee gave for SMS
reminders) and the answers to questions that ask for a phone, mobile, cell, SMS or WhatsApp number (in several
languages: sources.common.asks_for_phone), in the questions' order, read in the country a "Country" question's
answer names (sources.common.country_answers): an answer "Yes" to "May we send you SMS reminders?" is never taken
for the number, nor the answer to a question about someone else's phone (an emergency contact:
sources.common.about_someone_else);
email = email; first/last = first_name/last_name, else `name` split on its last space.
Other events (routing forms, no-shows) carry no invitee: each is rejected with the reason, not refused.
Mapping references (SOURCE_MAPPINGS): a question's text (exact, ignoring case) names its answer; anything else is
a dotted path into the invitee payload ("tracking.utm_source", "scheduled_event.name").

    {"calendly": {"phone": "Best number to text you?", "custom": {"101": "scheduled_event.name"}}}

Delivery identity: the event name with the invitee's URI (an invitee is created, and canceled, once), with the
body's digest.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from heymarket_bridge.domain.mapping import Submission, Unmappable, dotted, split_name
from heymarket_bridge.domain.phone_owner import asks_for_phone, country_answers
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import parse_json
from heymarket_bridge.ingest.failures import BadRequest, Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import any_same, signature_parts
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneField,
    ReadContext,
    SigningRequest,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.times import event_time, unix_time, within

TOLERANCE_S = 180
INVITEE_EVENTS = ("invitee.created", "invitee.canceled")


class CalendlySource(SourceDefaults):
    name = "calendly"
    credentials = (
        CredentialEntry(
            "calendly", "vendor", "the signing key of the webhook subscription (Calendly API: webhook_subscriptions)"
        ),
    )
    token_in = ""

    def sign(self, request: SigningRequest) -> dict[str, str]:
        timestamp = str(int(request.now.timestamp()))
        digest = hmac.new(request.secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
        return {"Calendly-Webhook-Signature": f"t={timestamp},v1={digest}"}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        timestamps, signatures = signature_parts(request.headers.get("calendly-webhook-signature", ""))
        if not signatures or len(timestamps) != 1:
            raise Unauthorized('missing or malformed Calendly-Webhook-Signature header ("t=<time>,v1=<signature>")')
        sent_at = unix_time(timestamps[0], 12)
        if sent_at is None:
            raise Unauthorized("the Calendly-Webhook-Signature t= is not a time in seconds")
        if not within(context.now, sent_at, TOLERANCE_S):
            raise Unauthorized(f"the Calendly-Webhook-Signature is more than {TOLERANCE_S // 60} minutes old")
        message = timestamps[0].encode() + b"." + request.body
        expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        if not any_same([expected], signatures):
            raise Unauthorized("the Calendly-Webhook-Signature does not match the body and the signing key")

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        payload = parse_json(request.body, request.charset)
        if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
            raise BadRequest('the Calendly payload has no "event" name')
        invitee = payload.get("payload")
        if not isinstance(invitee, dict):
            raise BadRequest('the Calendly payload has no "payload" object')
        event = payload["event"]
        uri = invitee.get("uri")
        delivery_identity = identity(f"{event}:{uri}" if isinstance(uri, str) and uri else None, request.body)
        if event not in INVITEE_EVENTS:
            named = shown(event, 60, quote='"')
            reason = f"Calendly event {named} carries no invitee; subscribe to invitee.created"
            return Delivery([Unmappable((reason,))], delivery_identity)
        mapping = context.mapping
        contact = mapping.apply(_defaults(invitee, context), lambda ref: _lookup(invitee, ref), context.is_phone)
        submission: Submission = contact
        if contact.get("phone") is None:
            candidates = _phone_candidates(invitee)
            reason = phone_reason(
                candidates,
                "no text_reminder_number and no phone question",
                "the text_reminder_number or phone answer",
                choose_phone(_phone_fields(invitee), context, country_answers(_answers(invitee))),
            )
            submission = no_phone("the Calendly invitee", mapping, reason, contact)
        own_id = uri if isinstance(uri, str) and uri else None
        return Delivery([submission], delivery_identity, (event_time(payload.get("created_at")),), (), (own_id,))


def _answers(invitee: Mapping[str, Any]) -> list[tuple[str, Any]]:
    raw = invitee.get("questions_and_answers")
    if not isinstance(raw, list):
        return []
    items = [qa for qa in raw if isinstance(qa, dict)]
    items.sort(key=_position)
    return [(str(qa.get("question") or ""), qa.get("answer")) for qa in items]


def _phone_candidates(invitee: Mapping[str, Any]) -> list[Any]:
    """text_reminder_number, then the answers to questions about a phone, in the questions' order."""
    return [field.value for field in _phone_fields(invitee)]


def _phone_fields(invitee: Mapping[str, Any]) -> list[PhoneField]:
    """text_reminder_number (Calendly writes it in international form), then the answers to questions about a phone,
    named by their question (one about someone else, an emergency contact, is never taken: `choose_phone`)."""
    answers = [PhoneField(question, answer) for question, answer in _answers(invitee) if asks_for_phone(question)]
    return [PhoneField("text_reminder_number", invitee.get("text_reminder_number")), *answers]


def _position(question: Mapping[str, Any]) -> int:
    position = question.get("position")
    return position if isinstance(position, int) else 0


def _defaults(invitee: Mapping[str, Any], context: ReadContext) -> dict[str, Any]:
    first, last = invitee.get("first_name"), invitee.get("last_name")
    if not first and not last:
        first, last = split_name(invitee.get("name"))
    choice = choose_phone(_phone_fields(invitee), context, country_answers(_answers(invitee)))
    return {**choice.defaults(), "first": first, "last": last, "email": invitee.get("email")}


def _lookup(invitee: Mapping[str, Any], ref: str) -> Any:
    wanted = ref.strip().lower()
    for question, answer in _answers(invitee):
        if question.strip().lower() == wanted:
            return answer
    return dotted(invitee, ref)


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = CalendlySource
