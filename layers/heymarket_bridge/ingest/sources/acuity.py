"""Acuity Scheduling: appointment webhooks, whose notifications carry ids only; each appointment is fetched from
Acuity's API by the fetch function (heymarket_bridge.ingest.fetch), outside the webhook's answer path.

Notification (https://developers.acuityscheduling.com/docs/webhooks): a form-encoded POST of `action` (scheduled,
rescheduled, canceled, changed, order.completed), `id` (the appointment's), `calendarID`, `appointmentTypeID`.
Authenticity (same page): `X-Acuity-Signature` = base64 HMAC-SHA256 of the raw body, keyed with the API key (entry
`acuity`; the main admin's key for static webhooks, the creating user's for dynamic ones). No time is signed: a replay
is a repeat, answered as the first. `order.completed` names no appointment: acknowledged and ignored.

The appointment (https://developers.acuityscheduling.com/reference): `GET /api/v1/appointments/{id}`, HTTP Basic with
the numeric User ID (entry `acuity_user_id`) and the API key. It carries `firstName`, `lastName`, `phone` (as typed),
`email`, `datetime`, `datetimeCreated`, `canceled`, and the intake forms `forms: [{"id", "name", "values": [{"fieldID",
"name", "value"}]}]`, which hold health information: they are never logged, and only the answers a mapping names are
read. Defaults: phone = phone, read in the country an intake answer to a "Country" question names; first/last, email.
Mapping references: `forms.<fieldID>` or an intake field's name (exact, ignoring case), else a dotted path.
Consent: only an intake field the operator names, `intake_consent.<fieldID or name>`, mapped to `is_opted_out`
(`{"acuity": {"is_opted_out": "intake_consent.12345"}}`): a checked box or a "yes" reads as consent (is_opted_out
false, with a consent claim); anything else leaves it unset.

Repeats: Acuity sends `changed` next to `scheduled`, `rescheduled` and `canceled` for one change (vendor page). Both are
fetched, and the fetched appointment's state (its id, canceled, datetime, the person's fields and the mapped answers)
names the delivery: the second is a repeat of the first and is buffered once.
Event time: the appointment carries no time of its last change (`datetimeCreated` is the booking, `datetime` the
appointment itself), so none is given: the contact is ordered by when the notification arrived.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.mapping import Submission, dotted
from heymarket_bridge.domain.phone_owner import country_answers
from heymarket_bridge.ingest.bodies import form_of_type
from heymarket_bridge.ingest.failures import BadRequest
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.notices import FetchNotice, record_id
from heymarket_bridge.ingest.signatures import hmac_b64, require_body_hmac_b64
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    DeliveryIdentity,
    PhoneField,
    ReadContext,
    SigningRequest,
    SourceDefaults,
    choose_phone,
    identity,
    no_phone,
    phone_reason,
)

USER_ID_ENTRY = "acuity_user_id"
CONSENT_PREFIX = "intake_consent."
APPOINTMENT_ACTIONS = ("scheduled", "rescheduled", "canceled", "changed")
_CONSENTING = ("yes", "true", "1", "checked", "on")
# The appointment's fields that make its state (with the mapped answers): a second notification of one change
# finds them equal.
_STATE = ("id", "canceled", "datetime", "firstName", "lastName", "phone", "email")


class AcuitySource(SourceDefaults):
    name = "acuity"
    credentials = (
        CredentialEntry("acuity", "vendor", "the API key (Integrations > API > View credentials)"),
        CredentialEntry(
            USER_ID_ENTRY,
            "vendor",
            "the numeric User ID shown beside the API key",
            form=r"[0-9]{1,20}",
            form_text="the numeric User ID (digits only)",
        ),
    )
    token_in = ""
    fetched_from = "acuity"

    def sign(self, request: SigningRequest) -> dict[str, str]:
        return {"X-Acuity-Signature": hmac_b64(request.secret, request.body)}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        require_body_hmac_b64(
            request.headers.get("x-acuity-signature"),
            secret,
            request.body,
            missing="missing X-Acuity-Signature header",
            wrong="the X-Acuity-Signature does not match the body and the API key",
        )

    def notices(self, request: WebhookRequest, context: ReadContext) -> list[FetchNotice]:
        fields = _notification(request)
        if fields.get("action") not in APPOINTMENT_ACTIONS:
            return []  # order.completed (or an action added later) names no appointment: acknowledged, ignored
        appointment = record_id(fields.get("id"))
        if appointment is None:
            raise BadRequest("the Acuity notification has no appointment id of digits")
        details: dict[str, str] = {k: fields[k] for k in ("action", "calendarID", "appointmentTypeID") if k in fields}
        received = context.now.isoformat(timespec="milliseconds")
        return [FetchNotice(self.name, appointment, received, request.request_id, details)]

    def notification_identity(self, request: WebhookRequest) -> DeliveryIdentity:
        try:
            fields = _notification(request)
        except BadRequest:
            fields = {}
        named = f"{fields.get('action', '')}:{fields.get('id', '')}" if fields.get("id") else None
        return identity(named, request.body)

    def read_fetched(self, record: Mapping[str, Any], notice: FetchNotice, context: ReadContext) -> Delivery:
        answers = _answers(record)
        mapping = context.mapping
        choice = choose_phone([PhoneField("phone", record.get("phone"))], context, country_answers(answers))
        defaults = {
            **choice.defaults(),
            "first": record.get("firstName"),
            "last": record.get("lastName"),
            "email": record.get("email"),
        }
        contact = mapping.apply(defaults, lambda ref: _lookup(record, ref), context.is_phone)
        submission: Submission = contact
        if contact.get("phone") is None:
            reason = phone_reason([record.get("phone")], "the appointment has no phone", "the phone", choice)
            submission = no_phone("the Acuity appointment", mapping, reason, contact)
        refs = mapping.fields.get("is_opted_out", ())
        event_id = f"{notice.record_id}:{notice.details.get('action', '')}"
        claim = _claim(refs, record, notice.received_at, event_id)
        # The state, not the notification, names the delivery: `changed` and `scheduled` of one change are one.
        state = {key: record.get(key) for key in _STATE} | {"answers": [_lookup(record, ref) for ref in _refs(mapping)]}
        digest_of = json.dumps(state, sort_keys=True, default=str).encode()
        return Delivery([submission], identity(f"appointment:{notice.record_id}", digest_of), (), (claim,), (event_id,))


def _notification(request: WebhookRequest) -> dict[str, str]:
    return dict(form_of_type(request, max_fields=20))


def _answers(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(field name, value) of every intake form answer, in the forms' order (never logged: health information)."""
    forms = record.get("forms")
    answers: list[tuple[str, Any]] = []
    for form in forms if isinstance(forms, list) else []:
        values = form.get("values") if isinstance(form, dict) else None
        for value in values if isinstance(values, list) else []:
            if isinstance(value, dict):
                answers.append((str(value.get("name") or ""), value.get("value")))
    return answers


def _answer(record: Mapping[str, Any], wanted: str) -> Any:
    """The intake answer whose fieldID is `wanted`, else whose name is (ignoring case); None when there is none."""
    forms = record.get("forms")
    for form in forms if isinstance(forms, list) else []:
        values = form.get("values") if isinstance(form, dict) else None
        for value in values if isinstance(values, list) else []:
            if isinstance(value, dict) and str(value.get("fieldID")) == wanted:
                return value.get("value")
    named = [value for name, value in _answers(record) if name.strip().lower() == wanted.strip().lower()]
    return named[0] if named else None


def _lookup(record: Mapping[str, Any], ref: str) -> Any:
    if ref.startswith(CONSENT_PREFIX):
        return False if _consents(_answer(record, ref[len(CONSENT_PREFIX) :])) else None
    if ref.startswith("forms."):
        return _answer(record, ref[len("forms.") :])
    found = _answer(record, ref)
    return found if found is not None else dotted(record, ref)


def _consents(value: Any) -> bool:
    return isinstance(value, str | bool | int) and str(value).strip().lower() in _CONSENTING


def _refs(mapping: Any) -> list[str]:
    return sorted(ref for refs in mapping.fields.values() for ref in refs)


def _claim(refs: Sequence[str], record: Mapping[str, Any], at: str, event_id: str) -> ConsentClaim | None:
    for ref in refs:
        if ref.startswith(CONSENT_PREFIX) and _consents(_answer(record, ref[len(CONSENT_PREFIX) :])):
            return ConsentClaim(ref, "yes", at or None, event_id)
    return None


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = AcuitySource
