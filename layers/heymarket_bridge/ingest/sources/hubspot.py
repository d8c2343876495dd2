"""HubSpot: a workflow's "Send a webhook" action posting the enrolled contact.

Authenticity, from HubSpot's "Validating requests from HubSpot" (developers.hubspot.com, webhooks/validating-requests):
requests carry the current signature and, "for backwards compatibility", the older ones, all keyed by the app's
client secret (a workflow action with "Include request signature in header" is signed with the secret of the app
whose id it names); the page says workflow webhook actions use v2 for `X-HubSpot-Signature`. Each documented
version is accepted, the newest present first, because HubSpot never retries a 4xx:

- v3: `X-HubSpot-Signature-v3` = base64 HMAC-SHA256 of method + URI + raw body + `X-HubSpot-Request-Timestamp`
  (milliseconds), refused when the timestamp is more than 5 minutes away ("Reject the request if the timestamp is
  older than 5 minutes"). The URI is HubSpot's: some percent-escapes decoded (the guide's table).
- v2 (`X-HubSpot-Signature-Version: v2`): hex SHA-256 of client secret + method + URI + raw body.
- v1 (`X-HubSpot-Signature-Version: v1`, HubSpot's CRM subscriptions): hex SHA-256 of client secret + raw body.

Replay protection differs by version. v3 signs a time: a recorded request is refused 5 minutes later. v1 and v2
sign none, so a recorded v1/v2 request, or a v3 one with its v3 headers stripped, can be replayed at any time: the
delivery rules in heymarket_bridge.ingest.service answer an exact repeat within 15 minutes as a duplicate, no later.
With
HubSpotRequireSignatureV3 (`context.hubspot_require_v3`) a request without X-HubSpot-Signature-v3 is refused, which
closes that hole; it is off by default because HubSpot documents v3 for its apps' requests ("Introducing version 3
of webhook signatures", developer changelog) but says no more of a workflow action's, and never retries a 4xx: a
genuine delivery refused is lost. The version that authenticated each request is logged ("HubSpot signature
checked", signature_version) so that an operator can see v3 arrive before requiring it. HubSpot retries a workflow
webhook for up to 3 days (knowledge base, "Use webhooks with HubSpot workflows"), and its default body carries no
time of the delivery, so no body time can stand in for v3's. The URI is https://<domain><path>?<query> as
HubSpot called it: behind a custom domain with an API mapping path, API Gateway's path lacks the mapping, so the
deployment's PublicBaseUrl (the URL up to and including the mapping) replaces https://<domain>.
Payload: the contact object ({"vid"/"objectId", "properties": {"phone": {"value": ...}} or {"phone": ...}}), a list
of them, or a customised body of contact properties at the top level.
Defaults: phone = mobilephone, else phone (the first that parses as a phone); first = firstname; last = lastname;
email = email. The phone's country (heymarket_bridge.domain.phone.read_phone): HubSpot's calculated international form
of that property (`hs_calculated_mobile_number`, `hs_calculated_phone_number`, and their `_country_code`), else the
contact's `hs_country_region_code` and `country`.
Mapping references (SOURCE_MAPPINGS): a contact property's internal name, else a dotted path into the object.

    {"hubspot": {"phone": ["hs_whatsapp_phone_number", "mobilephone"], "custom": {"101": "lifecyclestage"}}}

Delivery identity: none. A workflow webhook carries no delivery id, and the object id with a modification time
does not tell two workflows' bodies apart; a repeat is only a repeat of the latest contact seen for the phone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import Lookup, Submission, Unmappable, dotted, is_blank
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import parse_json
from heymarket_bridge.ingest.failures import BadRequest, Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import any_same, hmac_b64, signatures
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
    too_many,
)
from heymarket_bridge.ingest.times import event_time, unix_time, within
from heymarket_bridge.observability import logger

TOLERANCE_S = 300
# The contact's country properties, read as the country of a phone written without its country code.
PERSON_COUNTRY = ("hs_country_region_code", "country")
CALCULATED = ("hs_calculated_mobile_number", "hs_calculated_phone_number")
# HubSpot decodes these escapes in the URI it signs (its request-validation guide lists them).
DECODED_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
# Keys of HubSpot's contact object that are not contact properties: a body of only these is not a contact.
ENVELOPE_KEYS = frozenset(
    {
        *("vid", "canonical-vid", "merged-vids", "portal-id", "portalId", "is-contact", "objectId", "id"),
        *("profile-token", "profile-url", "identity-profiles", "form-submissions", "list-memberships"),
        *("merge-audits", "associated-company", "addedAt", "properties"),
    }
)


def request_uri(request: WebhookRequest, public_base_url: str = "") -> str:
    """The request's URI as HubSpot called it (before HubSpot decodes any escape)."""
    base = public_base_url.rstrip("/") or f"https://{request.domain or request.headers.get('host', '')}"
    return f"{base}{request.path}" + (f"?{request.raw_query}" if request.raw_query else "")


def decode_escapes(uri: str) -> str:
    for escape, char in DECODED_ESCAPES.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    return uri


class HubSpotSource(SourceDefaults):
    name = "hubspot"
    credentials = (
        CredentialEntry("hubspot", "vendor", "the app's client secret (HubSpot: your app > Auth > Client secret)"),
    )
    token_in = ""
    signature_versions = ("v3", "v2", "v1")

    def sign(self, request: SigningRequest) -> dict[str, str]:
        """v3 (the default), or the older v2 (what a workflow's webhook action sends) or v1, over `request.url`."""
        secret, method, body = request.secret, request.method.upper(), request.body
        if request.version == "v1":
            return {"X-HubSpot-Signature": _sha256_hex(secret, body), "X-HubSpot-Signature-Version": "v1"}
        if request.version == "v2":
            digest = _sha256_hex(secret + method + request.url, body)
            return {"X-HubSpot-Signature": digest, "X-HubSpot-Signature-Version": "v2"}
        if request.version not in ("v3", ""):
            raise ValueError(f"unknown HubSpot signature version {request.version!r}; known: v3, v2, v1")
        timestamp = str(int(request.now.timestamp() * 1000))
        message = method.encode() + decode_escapes(request.url).encode() + body + timestamp.encode()
        return {"X-HubSpot-Signature-v3": hmac_b64(secret, message), "X-HubSpot-Request-Timestamp": timestamp}

    def signed_versions(self, headers: Mapping[str, str]) -> tuple[str, ...]:
        older = headers.get("x-hubspot-signature-version", "").lower()  # v1 and v2 share X-HubSpot-Signature
        has_v3 = "x-hubspot-signature-v3" in headers
        return tuple(v for v in self.signature_versions if (v == "v3" and has_v3) or (v != "v3" and v == older))

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        uri = request_uri(request, context.public_base_url)
        uris = list(dict.fromkeys((decode_escapes(uri), uri)))
        if request.headers.get("x-hubspot-signature-v3"):
            self._check_v3(request, secret, uris, context)
            _checked("v3")
            return
        if context.hubspot_require_v3:
            raise Unauthorized(
                "missing X-HubSpot-Signature-v3 header: this stack requires HubSpot's v3 signature (its time is what "
                "stops a replay); HubSpotRequireSignatureV3 is true"
            )
        presented = [s.lower() for s in signatures(request.headers.get("x-hubspot-signature"))]
        if not presented:
            raise Unauthorized("missing X-HubSpot-Signature-v3 (or X-HubSpot-Signature) header")
        version = request.headers.get("x-hubspot-signature-version", "").strip().lower()
        expected: list[str] = []
        if version in ("v2", ""):
            expected += [_sha256_hex(secret + request.method + u, request.body) for u in uris]
        if version in ("v1", ""):
            expected.append(_sha256_hex(secret, request.body))
        if version not in ("v1", "v2", ""):
            raise Unauthorized(f"X-HubSpot-Signature-Version {shown(version, 20)} is not v1, v2 or v3")
        if not any_same(expected, presented):
            raise Unauthorized("the X-HubSpot-Signature does not match the request and the app's client secret")
        _checked(version or "v1/v2")

    def _check_v3(self, request: WebhookRequest, secret: str, uris: list[str], context: ReadContext) -> None:
        raw_timestamp = request.headers.get("x-hubspot-request-timestamp", "")
        timestamp_ms = unix_time(raw_timestamp, 16)
        if timestamp_ms is None:
            raise Unauthorized("X-HubSpot-Request-Timestamp is missing or not a time in milliseconds")
        if not within(context.now, timestamp_ms / 1000, TOLERANCE_S):
            raise Unauthorized(f"X-HubSpot-Request-Timestamp is more than {TOLERANCE_S // 60} minutes away from now")
        stamp = raw_timestamp.strip().encode()
        expected = [hmac_b64(secret, request.method.encode() + u.encode() + request.body + stamp) for u in uris]
        if not any_same(expected, signatures(request.headers.get("x-hubspot-signature-v3"))):
            raise Unauthorized("the X-HubSpot-Signature-v3 does not match the request and the app's client secret")

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        payload = parse_json(request.body, request.charset)
        objects = payload if isinstance(payload, list) else [payload]
        too_many(len(objects), context)
        submissions: list[Submission] = []
        occurred: list[datetime | None] = []
        for index, obj in enumerate(objects):
            if isinstance(obj, dict) and "subscriptionType" in obj:
                occurred.append(None)
                submissions.append(_subscription_event(obj, index if isinstance(payload, list) else None))
                continue
            properties = _properties(obj, index if isinstance(payload, list) else None)
            occurred.append(event_time(properties.get("lastmodifieddate")))
            phones = _phone_fields(properties)
            choice = choose_phone(phones, context, _person_evidence(properties))

            contact = context.mapping.apply(
                {
                    **choice.defaults(),
                    "first": properties.get("firstname"),
                    "last": properties.get("lastname"),
                    "email": properties.get("email"),
                },
                _reader(obj, properties),
                context.is_phone,
                _evidence_of(phones),
            )
            if contact.get("phone") is None:
                candidates = (properties.get("mobilephone"), properties.get("phone"))
                reason = phone_reason(candidates, 'no "mobilephone" or "phone" property', "the phone property", choice)
                submissions.append(no_phone("the HubSpot contact", context.mapping, reason, contact))
            else:
                submissions.append(contact)
        return Delivery(submissions, identity(None, request.body), tuple(occurred))


def _evidence_of(phones: list[PhoneField]) -> Callable[[str], Sequence[CountryEvidence]]:
    """For a mapping's phone reference: a mapped "mobilephone" or "phone" keeps HubSpot's calculated form of that
    property as its evidence (any other property has none)."""
    about = {f.name: f.evidence for f in phones}
    return lambda ref: about.get(ref.rpartition(".")[2], ())


def _phone_fields(properties: Mapping[str, Any]) -> list[PhoneField]:
    """mobilephone, then phone, each with HubSpot's calculated international form of it (`hs_calculated_mobile_number`,
    `hs_calculated_phone_number`, computed by HubSpot from the number and the contact's country) and that form's
    `_country_code` property when sent."""
    fields: list[PhoneField] = []
    for name, calculated in (("mobilephone", "hs_calculated_mobile_number"), ("phone", "hs_calculated_phone_number")):
        evidence = tuple(
            CountryEvidence(ref, _plus(properties[ref]) if ref == calculated else properties[ref], of_number=True)
            for ref in (calculated, f"{calculated}_country_code")
            if not is_blank(properties.get(ref))
        )
        fields.append(PhoneField(name, properties.get(name), evidence, same_record=True))
    # HubSpot documents one country code, hs_calculated_phone_number_country_code, computed for `phone` from the
    # contact's country: for mobilephone it is the contact's country (the person's evidence, not the number's).
    country = properties.get("hs_calculated_phone_number_country_code")
    if not is_blank(country) and is_blank(properties.get("hs_calculated_mobile_number")):
        mobile = fields[0]
        about_person = CountryEvidence("hs_calculated_phone_number_country_code", country)
        fields[0] = PhoneField(mobile.name, mobile.value, (*mobile.evidence, about_person), same_record=True)
    return fields


def _plus(calculated: Any) -> Any:
    """A calculated number in international form: HubSpot writes it in E.164, with its "+" (digits alone are taken
    to be that form without the "+")."""
    text = str(calculated).strip() if isinstance(calculated, str | int) and not isinstance(calculated, bool) else ""
    return f"+{text}" if text.isdigit() and 8 <= len(text) <= 15 else calculated


def _person_evidence(properties: Mapping[str, Any]) -> tuple[CountryEvidence, ...]:
    """The contact's country, strongest first: its country properties (`hs_country_region_code`, an ISO code HubSpot
    sets, and `country`, text); else the country of either calculated number (HubSpot computes them from the number
    and the contact's country, so a +52 `hs_calculated_phone_number` says the contact is in Mexico whichever
    property a national number is in); else `ip_country_code` / `ip_country` (where HubSpot saw the contact's browser:
    weaker, read only when nothing else names a country)."""
    tiers = (
        tuple((name, properties.get(name)) for name in PERSON_COUNTRY),
        tuple((name, _plus(properties.get(name))) for name in CALCULATED),
        (("ip_country_code", properties.get("ip_country_code")), ("ip_country", properties.get("ip_country"))),
    )
    for tier in tiers:
        found = tuple(CountryEvidence(name, value) for name, value in tier if not is_blank(value))
        if found:
            return found
    return ()


def _checked(version: str) -> None:
    # At INFO only for the versions without a signed time (v1, v2), which an operator must see before setting
    # HubSpotRequireSignatureV3; v3, the normal case, at DEBUG (a line per webhook is billed per byte).
    log = logger.debug if version == "v3" else logger.info
    log(
        "HubSpot signature checked",
        extra={"signature_version": version, "signed_time": version == "v3"},
    )


def _sha256_hex(prefix: str, body: bytes) -> str:
    return hashlib.sha256(prefix.encode("utf-8") + body).hexdigest()


def _reader(obj: Any, properties: Mapping[str, Any]) -> Lookup:
    """A property by its internal name, else a dotted path into the object."""
    return lambda ref: properties[ref] if ref in properties else dotted(obj, ref)


def _subscription_event(event: Mapping[str, Any], index: int | None) -> Unmappable:
    """The refusal of a HubSpot app's webhook subscription event ({"subscriptionType": "contact.propertyChange",
    "objectId", "propertyName", "propertyValue", ...}, developers.hubspot.com "Webhooks API"): it carries one changed
    property of a contact known only by its id, not the contact (no name, no country for a national number), so it
    is never read as one."""
    where = "the HubSpot payload" if index is None else f"item {index} of the HubSpot payload"
    kind = shown(str(event.get("subscriptionType")), 60)
    about = f" {shown(str(event.get('propertyName')), 60)}" if isinstance(event.get("propertyName"), str) else ""
    contact_id = event.get("objectId")
    of = f" of the contact {shown(str(contact_id), 30)}" if isinstance(contact_id, int | str) else ""
    return Unmappable(
        (
            f"{where} is an app subscription event ({kind}): it carries the changed property{about}{of}, not the "
            "contact; send contacts to the bridge from a workflow's \"Send a webhook\" action (the contact's "
            "properties), see the README's HubSpot row",
        ),
    )


def _properties(obj: Any, index: int | None) -> dict[str, Any]:
    where = "the HubSpot payload" if index is None else f"item {index} of the HubSpot payload"
    if not isinstance(obj, dict):
        raise BadRequest(f"{where} is not a contact object")
    properties = obj.get("properties")
    if isinstance(properties, dict):
        return _values(properties)
    if any(name not in ENVELOPE_KEYS for name in obj):
        return _values(obj)  # a customised body: the properties at the top level
    raise BadRequest(f'{where} has no "properties" object (and no contact property such as "phone" or "email")')


def _values(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Property name -> value, from either {"name": {"value": v, "versions": [...]}} or {"name": v}."""
    return {str(name): (value.get("value") if isinstance(value, dict) else value) for name, value in properties.items()}


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = HubSpotSource
