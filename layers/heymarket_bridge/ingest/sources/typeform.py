"""Typeform: the `form_response` webhook of one form.

Authenticity: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>`, keyed by the secret set on the
webhook (Typeform's "Secure your webhooks" guide).
Time: Typeform signs no header time, but the signed body carries `form_response.submitted_at`, and Typeform sends
the webhook "as soon as it's submitted", retrying a failed delivery for about 10.6 hours at most (every 2-3 minutes
for 10 hours after a 429/408/503/423, else after 5 min, 10 min, 20 min, 1 h, 2 h, 3 h and 4 h: Typeform's Webhooks
API guide, "Delivery retries"; it documents no manual redelivery). A signed response submitted more than MAX_AGE ago
(or more than MAX_AHEAD in the future), or without a submitted_at (or landed_at) time, is refused (401): a recorded
delivery replayed after its event_id left the delivery table (4 days) is not taken either.
Defaults: phone = the first phone_number answer that parses as a phone (by the answer's type first), else the first
text answer to a question about a phone (in several languages: "Celular", "Telefonnummer") that parses, a national
number read in the country a "Country" question's answer names (sources.common.country_answers); email = the
first email answer; first and last = text answers whose field ref or question title says first name / last name
(given name, surname), or else one "name" / "full name" answer split on its last space. An answer whose question
is about someone else (an emergency contact, a parent: heymarket_bridge.ingest.sources.common.about_someone_else) is
never
used for the respondent.
Mapping references (SOURCE_MAPPINGS): a field ref (or field id) names that question's answer (a choice gives its
label, several choices their labels joined by ", "); "hidden.<name>" names a hidden field and
"variables.<key>" a variable. Example:

    {"typeform": {"phone": "mobile", "name": "full_name", "email": "hidden.email",
                  "custom": {"101": "campus"}, "constants": {"tags": [7]}}}

Delivery identity: the event_id Typeform sends with every delivery (the same on its retries), with the body's
digest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from heymarket_bridge.domain.mapping import Submission, split_name
from heymarket_bridge.domain.phone_owner import about_someone_else, asks_for_phone, country_answers
from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.bodies import parse_json
from heymarket_bridge.ingest.failures import BadRequest
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import hmac_b64, require_body_hmac_b64
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    PhoneChoice,
    PhoneField,
    ReadContext,
    SigningRequest,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)
from heymarket_bridge.ingest.times import check_age, event_time, iso_time

TEXT_FIELD_TYPES = ("short_text", "long_text")
# Typeform's retries end about 10.6 hours after the submission; the rest is margin for a slow acceptance.
MAX_AGE = timedelta(hours=12)
MAX_AHEAD = timedelta(minutes=5)


@record
class TypeformAnswer:
    """One answer of a Typeform response with its field's ref, id, type and title, and the answer's type and value."""

    ref: str
    field_id: str
    field_type: str
    answer_type: str
    title: str
    value: Any

    @property
    def name(self) -> str:
        """The answer as a refusal names it, and as `about_someone_else` reads it: its question's title and ref."""
        return " / ".join(part for part in (self.title, self.ref) if part) or self.field_id

    def about_someone_else(self) -> bool:
        return about_someone_else(self.title, self.ref)

    def says(self, *words: str) -> bool:
        """True when the field's ref or title mentions one of `words` (compared as lower-case letters only)."""
        keys = (_letters(self.ref), _letters(self.title))
        return any(word in key for word in words for key in keys)


class TypeformSource(SourceDefaults):
    name = "typeform"
    credentials = (
        CredentialEntry(
            "typeform", "bridge", "the webhook secret typed into Typeform (Connect > Webhooks > Edit > Secret)"
        ),
    )
    token_in = ""
    body_times = ("landed_at", "submitted_at")

    def sign(self, request: SigningRequest) -> dict[str, str]:
        return {"Typeform-Signature": "sha256=" + hmac_b64(request.secret, request.body)}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        require_body_hmac_b64(
            request.headers.get("typeform-signature"),
            secret,
            request.body,
            prefix="sha256=",
            missing='missing Typeform-Signature header ("sha256=<signature>")',
            wrong="the Typeform-Signature does not match the body and the secret for source 'typeform'",
        )

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        payload = parse_json(request.body, request.charset)
        response = payload.get("form_response") if isinstance(payload, dict) else None
        if not isinstance(response, dict):
            raise BadRequest('the Typeform payload has no "form_response" object')
        if context.credentials.secret is not None:
            submitted = iso_time(response.get("submitted_at")) or iso_time(response.get("landed_at"))
            why = f"Typeform's retries ({int(MAX_AGE.total_seconds() // 3600)} hours)"
            check_age(submitted, context.now, "the signed form_response.submitted_at", MAX_AGE, why, MAX_AHEAD)
        raw_answers = response.get("answers", [])
        if not isinstance(raw_answers, list):
            raise BadRequest('"form_response.answers" must be a list')
        answers = _answers(response, raw_answers)
        mapping = context.mapping
        contact = mapping.apply(
            _defaults(answers, context, _hidden(response)),
            lambda ref: _lookup(response, answers, ref),
            context.is_phone,
        )
        submission: Submission = contact
        if contact.get("phone") is None:
            candidates = [a.value for a in answers if a.answer_type == "phone_number"]
            reason = phone_reason(
                candidates,
                "no phone_number answer",
                "the phone_number answer",
                _choice(answers, context, _hidden(response)),
            )
            submission = no_phone("the Typeform response", mapping, reason, contact)
        event_id = payload.get("event_id")
        delivery_identity = identity(event_id if isinstance(event_id, str) else None, request.body)
        own_id = event_id if isinstance(event_id, str) and event_id else None
        return Delivery([submission], delivery_identity, (event_time(response.get("submitted_at")),), (), (own_id,))


def _answers(response: Mapping[str, Any], raw_answers: list[Any]) -> list[TypeformAnswer]:
    definition = response.get("definition")
    titles: dict[str, str] = {}
    if isinstance(definition, dict) and isinstance(definition.get("fields"), list):
        titles = {
            str(f.get("id")): str(f.get("title") or "")
            for f in definition["fields"]
            if isinstance(f, dict) and f.get("id")
        }
    answers: list[TypeformAnswer] = []
    for raw in raw_answers:
        if not isinstance(raw, dict):
            raise BadRequest('every item of "form_response.answers" must be an object')
        raw_field = raw.get("field")
        field: Mapping[str, Any] = raw_field if isinstance(raw_field, dict) else {}
        field_id = str(field.get("id") or "")
        answers.append(
            TypeformAnswer(
                ref=str(field.get("ref") or ""),
                field_id=field_id,
                field_type=str(field.get("type") or ""),
                answer_type=str(raw.get("type") or ""),
                title=titles.get(field_id, ""),
                value=_answer_value(raw),
            )
        )
    return answers


def _answer_value(raw: Mapping[str, Any]) -> Any:
    kind = raw.get("type")
    if kind == "choice":
        choice = raw.get("choice")
        return (choice.get("label") or choice.get("other")) if isinstance(choice, dict) else None
    if kind == "choices":
        choices = raw.get("choices")
        if not isinstance(choices, dict):
            return None
        labels = [str(label) for label in choices.get("labels") or [] if label]
        if choices.get("other"):
            labels.append(str(choices["other"]))
        return ", ".join(labels) or None
    if kind == "payment" or not isinstance(kind, str):
        return None
    return raw.get(kind)


def _hidden(response: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The response's hidden fields as (name, value): a form embedded with `?country=MX` names the country so."""
    hidden = response.get("hidden")
    return [(f"hidden.{name}", value) for name, value in hidden.items()] if isinstance(hidden, dict) else []


def _choice(
    answers: list[TypeformAnswer], context: ReadContext, hidden: list[tuple[str, Any]] | None = None
) -> PhoneChoice:
    """phone_number answers (E.164, with their "+": they name their own country), then text answers about a phone,
    read in the country a "Country" answer (else a hidden field named so) names; an answer whose question is about
    someone else is never the respondent's."""
    by_type = [a for a in answers if a.answer_type == "phone_number"]
    by_title = [a for a in answers if a.answer_type == "text" and asks_for_phone(a.title, a.ref)]
    person = country_answers((a.name, a.value) for a in answers if a.answer_type in ("text", "choice"))
    person = person or country_answers(hidden or [])
    return choose_phone([PhoneField(a.name, a.value) for a in (*by_type, *by_title)], context, person)


def _defaults(
    answers: list[TypeformAnswer], context: ReadContext, hidden: list[tuple[str, Any]] | None = None
) -> dict[str, Any]:
    contact: dict[str, Any] = {
        **_choice(answers, context, hidden).defaults(),
        "email": _first(a for a in answers if a.answer_type == "email" and not a.about_someone_else()),
    }
    texts = [
        a
        for a in answers
        if (a.answer_type == "text" or a.field_type in TEXT_FIELD_TYPES) and not a.about_someone_else()
    ]
    contact["first"], contact["last"] = _name(texts)
    return contact


def _name(texts: list[TypeformAnswer]) -> tuple[Any, Any]:
    """The respondent's first and last name: from questions asking for each, else split from one asking for the
    full name."""
    first = _first(a for a in texts if a.says("firstname", "givenname", "forename"))
    last = _first(a for a in texts if a.says("lastname", "surname", "familyname"))
    if first is None and last is None:
        full = _first(a for a in texts if a.says("fullname") or _letters(a.ref) == "name" or _is_name_title(a.title))
        return split_name(full)
    return first, last


def _lookup(response: Mapping[str, Any], answers: list[TypeformAnswer], ref: str) -> Any:
    for prefix in ("hidden.", "variables."):
        if ref.startswith(prefix):
            return _container_value(response.get(prefix[:-1]), ref[len(prefix) :])
    return next((a.value for a in answers if ref in (a.ref, a.field_id)), None)


def _container_value(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    # Variables arrive as a list of {"key", "type", "<type>": value}.
    if isinstance(container, list):
        for item in container:
            if isinstance(item, dict) and item.get("key") == key:
                return item.get(str(item.get("type")))
    return None


def _first(answers: Any) -> Any:
    return next((a.value for a in answers if a.value not in (None, "")), None)


def _letters(text: str) -> str:
    # Cut first: a ref or title is a sender's text, and a megabyte of it must cost no more than its first part.
    return re.sub(r"[^a-z]", "", text[:_COMPARED_CHARACTERS].lower())


# How much of a field's ref or title is compared with the words that say what the field holds (Typeform's titles are
# questions: "What's your phone number, so we can text you?"); a key word further on is not looked for.
_COMPARED_CHARACTERS = 500


def _is_name_title(title: str) -> bool:
    return _letters(title) in ("name", "yourname", "whatsyourname", "whatisyourname")


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = TypeformSource
