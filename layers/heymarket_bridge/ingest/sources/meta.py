"""Meta Lead Ads (Facebook and Instagram): a Page's `leadgen` webhook, whose notifications carry ids only; each lead is
fetched from the Graph API by the fetch function (heymarket_bridge.ingest.fetch), outside the webhook's answer path.

Verification handshake (https://developers.facebook.com/docs/graph-api/webhooks/getting-started): Meta sends a GET
with `hub.mode=subscribe`, `hub.verify_token` (the token typed in the App Dashboard: the bridge issues it, entry
`meta_verify_token`) and `hub.challenge`; the bridge answers the challenge as text/plain, 200, else 403.

Authenticity (same page): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`, keyed with the App Secret
(entry `meta`). No time is signed: a replay is a repeat, answered as the first (the delivery ledger, keyed by the
leadgen ids and the body).

Notification (https://developers.facebook.com/docs/graph-api/webhooks/getting-started/webhooks-for-leadgen):
`{"object": "page", "entry": [{"id", "time", "changes": [{"field": "leadgen", "value": {"leadgen_id", "page_id",
"form_id", "adgroup_id", "ad_id", "created_time"}}]}]}`; ids are numbers in Meta's reference and strings in its
sample app, both read. Several entries and changes may share a POST: one fetch notice per leadgen_id. Changes of other
fields are acknowledged and ignored.

The lead (https://developers.facebook.com/docs/marketing-api/guides/lead-ads/retrieving; fields per the Business SDK's
Lead object): `GET /{version}/{leadgen_id}?fields=created_time,field_data,form_id,ad_id,campaign_id,is_organic,
platform,custom_disclaimer_responses` with the Page access token (entry `meta_page_token`). `field_data` is
`[{"name": "phone_number"|"email"|"full_name"|"first_name"|"last_name"|<custom question key>, "values": [...]}]`.
Defaults: phone = phone_number (as typed: often national), then answers to questions asking for a phone, read in the
country a "country" field names; email = email; first/last = first_name/last_name, else full_name split.
Mapping references: a field_data name (exact, ignoring case), or a dotted path into the lead ("platform").
Consent: only a disclaimer checkbox the operator names, `custom_disclaimer_responses.<checkbox_key>`, mapped to
`is_opted_out` (SOURCE_MAPPINGS `{"meta": {"is_opted_out": "custom_disclaimer_responses.sms_optin"}}`): checked reads
as consent (is_opted_out false, a consent claim with the lead's time and id); unchecked or absent leaves it unset.
Event id: the leadgen_id; event time: the lead's `created_time` (else the notification's).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.mapping import Submission, dotted, split_name
from heymarket_bridge.domain.phone_owner import asks_for_phone, country_answers
from heymarket_bridge.ingest.bodies import json_of_type, parse_json
from heymarket_bridge.ingest.failures import BadRequest, Forbidden, Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.notices import FetchNotice, record_id
from heymarket_bridge.ingest.replies import Rejection
from heymarket_bridge.ingest.signatures import any_same, signatures
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
from heymarket_bridge.ingest.times import event_time

VERIFY_TOKEN_ENTRY = "meta_verify_token"
PAGE_TOKEN_ENTRY = "meta_page_token"
DISCLAIMER_PREFIX = "custom_disclaimer_responses."
# The lead fields the bridge asks Graph for (Meta's retrieving guide).
LEAD_FIELDS = "created_time,field_data,form_id,ad_id,campaign_id,is_organic,platform,custom_disclaimer_responses"
_NOTIFIED = ("page_id", "form_id", "ad_id", "adgroup_id", "created_time")
# hub.challenge is an integer in Meta's handshake; anything else is not echoed back.
_CHALLENGE = re.compile(r"[0-9A-Za-z_-]{1,128}")


class MetaSource(SourceDefaults):
    name = "meta"
    credentials = (
        CredentialEntry("meta", "vendor", "the App Secret (App Dashboard > App settings > Basic)"),
        CredentialEntry(VERIFY_TOKEN_ENTRY, "bridge", "the Verify Token typed in the App Dashboard's Webhooks product"),
        CredentialEntry(PAGE_TOKEN_ENTRY, "vendor", "a long-lived Page access token with leads_retrieval"),
    )
    token_in = ""
    fetched_from = "graph"

    def sign(self, request: SigningRequest) -> dict[str, str]:
        digest = hmac.new(request.secret.encode(), request.body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": f"sha256={digest}"}

    def handshake(self, request: WebhookRequest, context: ReadContext) -> str:
        token = context.credentials.entry(VERIFY_TOKEN_ENTRY)
        if token is None:
            raise Forbidden(f"no {VERIFY_TOKEN_ENTRY} entry in the webhook secrets: issue one, then verify again")
        if request.query.get("hub.mode") != "subscribe" or not any_same(
            [token], [request.query.get("hub.verify_token", "")]
        ):
            raise Forbidden("hub.mode is not subscribe or hub.verify_token is not the token the bridge issued")
        challenge = request.query.get("hub.challenge", "")
        if not _CHALLENGE.fullmatch(challenge):
            raise Forbidden("hub.challenge is missing or not the number Meta sends")
        return challenge

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        presented = signatures(request.headers.get("x-hub-signature-256"), "sha256=")
        if not presented:
            raise Unauthorized('missing or malformed X-Hub-Signature-256 header ("sha256=<hex>")')
        expected = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not any_same([expected], [p.lower() for p in presented]):
            raise Unauthorized("the X-Hub-Signature-256 does not match the body and the App Secret")

    def notices(self, request: WebhookRequest, context: ReadContext) -> list[FetchNotice]:
        received = context.now.isoformat(timespec="milliseconds")
        return [
            FetchNotice(self.name, lead_id, received, request.request_id, details)
            for lead_id, details in _leads(json_of_type(request))
        ]

    def notice_rejections(self, request: WebhookRequest) -> list[Rejection]:
        """The leadgen changes `notices` left out (a leadgen_id that is not digits), for the reply's `rejected`:
        one bad change never refuses the good leads next to it (Meta would retry the whole notification for 36 h)."""
        return _bad_changes(parse_json(request.body, request.charset))

    def notification_identity(self, request: WebhookRequest) -> DeliveryIdentity:
        try:
            ids = sorted(lead_id for lead_id, _ in _leads(parse_json(request.body, request.charset)))
        except BadRequest:
            ids = []
        return identity(",".join(ids)[:1000] or None, request.body)

    def read_fetched(self, record: Mapping[str, Any], notice: FetchNotice, context: ReadContext) -> Delivery:
        fields = _field_data(record)
        mapping = context.mapping
        evidence = country_answers(fields)
        choice = choose_phone(_phone_fields(fields), context, evidence)
        first, last = _values(fields, "first_name"), _values(fields, "last_name")
        if not first and not last:
            first, last = split_name(_values(fields, "full_name"))
        defaults = {**choice.defaults(), "first": first, "last": last, "email": _values(fields, "email")}
        contact = mapping.apply(defaults, lambda ref: _lookup(record, fields, ref), context.is_phone)
        submission: Submission = contact
        if contact.get("phone") is None:
            reason = phone_reason(
                [f.value for f in _phone_fields(fields)], "no phone_number field", "the phone", choice
            )
            submission = no_phone("the Meta lead", mapping, reason, contact)
        occurred = event_time(record.get("created_time")) or event_time(notice.details.get("created_time"))
        claim = _claim(mapping.fields.get("is_opted_out", ()), record, occurred, notice.record_id)
        digest_of = json.dumps(record, sort_keys=True, default=str).encode()
        return Delivery([submission], identity(notice.record_id, digest_of), (occurred,), (claim,), (notice.record_id,))


def _leads(payload: Any) -> list[tuple[str, dict[str, str]]]:
    """(leadgen_id, the notification's other ids) of each `leadgen` change with a leadgen_id of digits; BadRequest for
    a body of another shape, or one whose every leadgen change is bad (nothing to queue)."""
    leads, bad = _changes(payload)
    if bad and not leads:
        raise BadRequest("no leadgen change has a leadgen_id of digits")
    return leads


def _bad_changes(payload: Any) -> list[Rejection]:
    """The leadgen changes refused (no leadgen_id of digits), each by its index among the notification's leadgen
    changes (entries, then changes, in order): reported in the reply's `rejected` while the good leads are queued."""
    return _changes(payload)[1]


def _changes(payload: Any) -> tuple[list[tuple[str, dict[str, str]]], list[Rejection]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), list):
        raise BadRequest('the Meta notification has no "entry" list')
    leads: list[tuple[str, dict[str, str]]] = []
    bad: list[Rejection] = []
    for index, value in enumerate(_leadgen_values(payload["entry"])):
        lead_id = record_id(value.get("leadgen_id"))
        if lead_id is None:
            bad.append(Rejection(index, ["a leadgen change has no leadgen_id of digits: not fetched"]))
            continue
        details = {k: str(value[k]) for k in _NOTIFIED if isinstance(value.get(k), int | str)}
        if lead_id not in [known for known, _ in leads]:
            leads.append((lead_id, details))
    return leads, bad


def _leadgen_values(entries: list[Any]) -> list[dict[str, Any]]:
    """The `value` of each `leadgen` change, entries then changes in order (changes of other fields left out)."""
    return [
        change["value"]
        for entry in entries
        if isinstance(entry, dict) and isinstance(entry.get("changes"), list)
        for change in entry["changes"]
        if isinstance(change, dict) and change.get("field") == "leadgen" and isinstance(change.get("value"), dict)
    ]


def _field_data(record: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """field_data as (name, value): a one-value list is its value, several are kept as a list."""
    raw = record.get("field_data")
    pairs: list[tuple[str, Any]] = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            values = item.get("values")
            values = values if isinstance(values, list) else [values]
            pairs.append((item["name"], values[0] if len(values) == 1 else values))
    return pairs


def _values(fields: Sequence[tuple[str, Any]], name: str) -> Any:
    return next((value for key, value in fields if key.lower() == name), None)


def _phone_fields(fields: Sequence[tuple[str, Any]]) -> list[PhoneField]:
    """phone_number (Meta's standard field), then the custom questions asking for a phone, in the form's order."""
    asked = [PhoneField(key, value) for key, value in fields if key != "phone_number" and asks_for_phone(key)]
    return [PhoneField("phone_number", _values(fields, "phone_number")), *asked]


def _lookup(record: Mapping[str, Any], fields: Sequence[tuple[str, Any]], ref: str) -> Any:
    if ref.startswith(DISCLAIMER_PREFIX):
        # A consent checkbox the operator named: checked is consent (not opted out); anything else says nothing.
        return False if _checked(record, ref[len(DISCLAIMER_PREFIX) :]) else None
    wanted = ref.strip().lower()
    found = [value for key, value in fields if key.strip().lower() == wanted]
    return found[0] if found else dotted(record, ref)


def _checked(record: Mapping[str, Any], key: str) -> bool:
    responses = record.get("custom_disclaimer_responses")
    for response in responses if isinstance(responses, list) else []:
        if isinstance(response, dict) and response.get("checkbox_key") == key:
            return str(response.get("is_checked", "")).strip().lower() in ("1", "true")
    return False


def _claim(refs: Sequence[str], record: Mapping[str, Any], occurred: Any, lead_id: str) -> ConsentClaim | None:
    """The consent claim of a checked disclaimer the mapping names; None when none is named or checked."""
    for ref in refs:
        if ref.startswith(DISCLAIMER_PREFIX) and _checked(record, ref[len(DISCLAIMER_PREFIX) :]):
            at = occurred.isoformat(timespec="seconds") if occurred is not None else None
            return ConsentClaim(ref, "checked", at, lead_id)
    return None


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = MetaSource
