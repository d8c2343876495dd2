"""Google Forms: the responses the bridge's Apps Script posts (tools/google_forms/Code.gs, docs/sources/
google_forms.md), one per submission, from an installable "On form submit" trigger.

Google Forms sends no webhook (developers.google.com/apps-script/guides/triggers/installable: the trigger's handler
gets the FormResponse, developers.google.com/apps-script/guides/triggers/events), so the bridge ships the script and
chooses its body and its signature.
Authenticity: `X-Bridge-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed by the
`google_forms` entry of the webhook-secrets secret (a key the setup commands issue, pasted into the script's
properties), refused when t is more than 5 minutes away from now (a recorded post replayed later is not taken). The
script signs each attempt afresh as it retries.
Body (the script's, version 1): {"version": 1, "form_id", "form_title", "response_id" (FormResponse.getId(): the
delivery's identity and the event id recorded), "submitted_at" (getTimestamp(), ISO 8601 UTC: the event time),
"respondent_email" (getRespondentEmail(), "" when the form does not collect it), "answers": [{"title", "type"
(Item.getType(): "TEXT", "MULTIPLE_CHOICE", ...), "answer" (text, a list of texts for checkboxes, a list of lists
for grids)}]}.
Defaults: the questions are read by their titles (heymarket_bridge.ingest.labels): phone = the answer to
the first question asking for a phone ("Mobile number", "Teléfono"), never one about someone else's; its country
the answer to a "Country" question; email = respondent_email, else an email question's answer; first/last from
name questions.
SMS consent is never read from a question (a checkbox can be worded any way): a mapping may name `is_opted_out`.
Mapping references (SOURCE_MAPPINGS): a question's title (exact, case and spaces aside).

    {"google_forms": {"phone": "Best number to text you", "custom": {"101": "Which campus?"}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heymarket_bridge.domain.mapping import Submission
from heymarket_bridge.ingest.bodies import json_of_type
from heymarket_bridge.ingest.failures import BadRequest
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.labels import (
    LabelledAnswer,
    answer_of,
    labelled_contact,
    person_country,
    phone_candidates,
)
from heymarket_bridge.ingest.signatures import check_timestamped, timestamped_signature
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
from heymarket_bridge.ingest.times import event_time

TOLERANCE_S = 300
SIGNATURE_HEADER = "X-Bridge-Signature"
# More questions than a form holds is no form response (Google Forms' own limit is in the hundreds).
MAX_ANSWERS = 500
MAX_TITLE = 1000


class GoogleFormsSource(SourceDefaults):
    name = "google_forms"
    credentials = (
        CredentialEntry(
            "google_forms",
            "bridge",
            "the signing key pasted into the Apps Script's properties (Project Settings > Script properties: "
            "BRIDGE_KEY)",
        ),
    )
    token_in = ""

    def sign(self, request: SigningRequest) -> dict[str, str]:
        return {SIGNATURE_HEADER: timestamped_signature(request.secret, request.body, request.now)}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        header = request.headers.get(SIGNATURE_HEADER.lower(), "")
        check_timestamped(SIGNATURE_HEADER, header, secret, request.body, context.now, TOLERANCE_S)

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        response = json_of_type(request)
        if not isinstance(response, dict) or not isinstance(response.get("answers"), list):
            raise BadRequest('the Google Forms response has no "answers" list (post it with the bridge\'s script)')
        answers = _answers(response["answers"])
        email = response.get("respondent_email")
        defaults, choice = _defaults(answers, context)
        if isinstance(email, str) and email.strip():
            defaults["email"] = email
        contact = context.mapping.apply(defaults, lambda ref: answer_of(answers, ref), context.is_phone)
        submission: Submission = contact
        if contact.get("phone") is None:
            candidates = [a.value for a in phone_candidates(answers)]
            none_given = "no question asks for a phone (map the phone question's title in SourceMappings)"
            reason = phone_reason(candidates, none_given, "the phone answer", choice)
            submission = no_phone("the Google Forms response", context.mapping, reason, contact)
        response_id = response.get("response_id")
        own_id = response_id if isinstance(response_id, str) and response_id else None
        moment = event_time(response.get("submitted_at"))
        return Delivery([submission], identity(own_id, request.body), (moment,), (), (own_id,))


def _answers(raw: list[Any]) -> list[LabelledAnswer]:
    """The answers, keyed and labelled by their question's title; 400 past MAX_ANSWERS, or for one that is not an
    object with a text title."""
    if len(raw) > MAX_ANSWERS:
        raise BadRequest(f"the Google Forms response has {len(raw)} answers; at most {MAX_ANSWERS} are read")
    answers: list[LabelledAnswer] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("title"), str):
            raise BadRequest(f'answer {index} of the Google Forms response is not an object with a text "title"')
        title = item["title"][:MAX_TITLE]
        kind = item.get("type")
        answers.append(LabelledAnswer(title, title, _value(item.get("answer")), str(kind).lower() if kind else ""))
    return answers


def _value(answer: Any) -> Any:
    """An answer as the mapping and the contact read it: text as it is, a checkbox's list joined by ", " (a one-item
    list is its item), a grid's rows joined by "; "; anything else (a number, an object) as it is."""
    if isinstance(answer, list):
        parts = [_value(part) if isinstance(part, list) else part for part in answer]
        if len(parts) == 1:
            return parts[0]
        separator = "; " if any(isinstance(part, list) for part in answer) else ", "
        return separator.join(str(part) for part in parts if isinstance(part, str | int | float))
    return answer if not isinstance(answer, Mapping) else None


def _defaults(answers: list[LabelledAnswer], context: ReadContext) -> tuple[dict[str, Any], PhoneChoice]:
    """The contact the labels give, and the phone chosen among the answers asking for one."""
    fields = [PhoneField(a.name, a.value) for a in phone_candidates(answers)]
    choice = choose_phone(fields, context, person_country(answers))
    return {**choice.defaults(), **labelled_contact(answers)}, choice


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = GoogleFormsSource
