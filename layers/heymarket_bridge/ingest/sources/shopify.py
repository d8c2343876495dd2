"""Shopify: the customers/create and customers/update webhooks (JSON).

Authenticity: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the raw body, keyed by the app's client secret
(or, for webhooks made in the store admin, the key shown under Settings > Notifications > Webhooks).
Time: Shopify retries a failed delivery 8 times over 4 hours "with the original payload from the time they were
triggered", and tells receivers to use `X-Shopify-Triggered-At`, "or a timestamp from the payload", to know a stale
one (Shopify developer changelog, "Updates to webhook retry mechanism", 2024-09-10). The HMAC covers the body only,
so the header can be left out or forged: the window is enforced on the signed body's own time, the customer's
`updated_at` (else `created_at`, the latest that is a time), which a create or an update sets as it triggers the
webhook. A signed customer more than MAX_AGE old (or more than MAX_AHEAD in the future), or without either time, is
refused (401): a recorded delivery replayed later is not taken. `X-Shopify-Triggered-At`, when sent, must be in the
window too. An opt-out is never refused as a replay (replaying one cannot opt anyone in; a refusal makes Shopify
retry for 4 hours, then drop it): a customer out of the window that says unsubscribed gives its opt-out only.
A source allowed without a secret (AllowUnauthenticatedSources) has no signed time to check.
Defaults: phone = the customer's phone, else the default address's phone (read in the address's country), the
first that parses as a phone, a phone written without its country code read in the country of the customer's
default (else billing, else shipping) address (heymarket_bridge.domain.phone.read_phone); first/last =
first_name/last_name, else the default address's; email = email; is_opted_out from sms_marketing_consent.state
(case aside: the GraphQL Admin API spells it "UNSUBSCRIBED"): "subscribed" -> false, "unsubscribed" -> true,
anything else (never asked, pending, redacted) leaves Heymarket's value alone.
customers_marketing_consent/update (Shopify's SMS consent event, API 2021-10; since 2025-01 the customer webhooks no
longer carry sms_marketing_consent): {"id", "phone", "sms_marketing_consent": {"state", "opt_in_level",
"consent_updated_at", "consent_collected_from"}}; the same states set is_opted_out (case aside), and
`consent_updated_at` (Shopify: "if no date is provided, ... when the consent information was sent": null reads as
`X-Shopify-Triggered-At`) is the event time and the consent time of the record. The window is enforced on
`X-Shopify-Triggered-At` where sent (a consent time may be backdated), else on `consent_updated_at`, and never on
an unsubscribe. A state that says nothing of
opting out is rejected with the reason: the event carries nothing else to write. Email consent
(`email_marketing_consent`) is never read as SMS consent; an email consent topic
(customers/email_marketing_consent_update) is acknowledged (202) and ignored, not a refusal letter. A consent event
without the customer's "id" is read all the same (the phone is what is written); one without its
`sms_marketing_consent` object is rejected with the reason (202).
Other topics are rejected with the reason, not refused: Shopify retries refused deliveries and removes a
subscription that keeps failing.
Mapping references (SOURCE_MAPPINGS): dotted paths into the customer ("default_address.company", "note").

    {"shopify": {"custom": {"101": "default_address.city"}, "constants": {"tags": [9]}}}

Delivery identity: `X-Shopify-Event-Id` ("the same value across more than one webhook indicates a duplicate",
Shopify's "Ignore duplicate webhooks"), else `X-Shopify-Webhook-Id`, with the topic and the body's digest (the
headers are not signed, so the body decides).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import Submission, Unmappable, dotted, is_blank
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.bodies import parse_json
from heymarket_bridge.ingest.failures import BadRequest, Unauthorized
from heymarket_bridge.ingest.http import WebhookRequest
from heymarket_bridge.ingest.signatures import hmac_b64, require_body_hmac_b64
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    DeliveryIdentity,
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

CUSTOMER_TOPICS = ("customers/create", "customers/update")
CONSENT_TOPIC = "customers_marketing_consent/update"
SMS_CONSENT_FIELD = "sms_marketing_consent.state"
# customers/email_marketing_consent_update (REST), customers_email_marketing_consent/update (GraphQL's spelling).
EMAIL_CONSENT_TOPIC_PART = "email_marketing_consent"
SMS_CONSENT_OPTED_OUT = {"subscribed": False, "unsubscribed": True}
# Shopify's retries span 4 hours; the rest is margin for a delivery that is slow to be accepted.
MAX_AGE = timedelta(hours=6)
MAX_AHEAD = timedelta(minutes=5)
RETRY_SPAN = f"Shopify's retries ({int(MAX_AGE.total_seconds() // 3600)} hours)"


class ShopifySource(SourceDefaults):
    name = "shopify"
    credentials = (
        CredentialEntry(
            "shopify",
            "vendor",
            "the webhook signing secret (Settings > Notifications > Webhooks), or the app's client secret",
        ),
    )
    token_in = ""
    body_times = ("created_at", "updated_at")
    sample_event = "customers_create"

    def sign(self, request: SigningRequest) -> dict[str, str]:
        """The body's HMAC, and the delivery's X-Shopify-Triggered-At (UTC, milliseconds)."""
        triggered_at = request.now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return {"X-Shopify-Hmac-Sha256": hmac_b64(request.secret, request.body), "X-Shopify-Triggered-At": triggered_at}

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        secret = context.credentials.secret
        if secret is None:
            return
        require_body_hmac_b64(
            request.headers.get("x-shopify-hmac-sha256"),
            secret,
            request.body,
            missing="missing X-Shopify-Hmac-Sha256 header",
            wrong="the X-Shopify-Hmac-Sha256 does not match the body and the secret for source 'shopify'",
        )
        # The replay window is checked as the body is read: an opt-out is never refused as a replay.

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        topic = request.headers.get("x-shopify-topic", "").strip().lower()
        event_id = request.headers.get("x-shopify-event-id") or request.headers.get("x-shopify-webhook-id")
        delivery_identity = identity(f"{topic}:{event_id}" if event_id else None, request.body)
        if topic == CONSENT_TOPIC:
            return _consent_update(request, context, delivery_identity)
        if EMAIL_CONSENT_TOPIC_PART in topic:
            # Email consent is not SMS consent: acknowledged (202) and ignored, neither read nor a refusal letter.
            return Delivery([], delivery_identity)
        if topic and topic not in CUSTOMER_TOPICS:
            topic_shown = shown(topic, 60, quote='"')
            reason = f"Shopify topic {topic_shown} is not customers/create, customers/update or {CONSENT_TOPIC}"
            return Delivery([Unmappable((reason,))], delivery_identity)
        customer = parse_json(request.body, request.charset)
        if not isinstance(customer, dict) or customer.get("id") in (None, ""):
            raise BadRequest('the Shopify payload is not a customer: it has no "id"')
        stale = None
        if context.credentials.secret is not None:
            what = "the signed customer's updated_at (or created_at)"
            stale = _replayed(request, context, (customer_time(customer), what))
        submission = _customer_submission(customer, context, stale)
        claim = None if context.mapping.overrides("is_opted_out") else _sms_consent(customer)
        moment = event_time(customer.get("updated_at"))
        return Delivery([submission], delivery_identity, (moment,), (claim,), (_event_id(request),))


def _customer_submission(customer: Mapping[str, Any], context: ReadContext, stale: Unauthorized | None) -> Submission:
    """The customer's contact, or why it has no phone. `stale`: the refusal of a customer written too long ago for
    its signature, raised unless the contact is an opt-out (then only the opt-out is kept)."""
    defaults, choice = _defaults(customer, context)
    contact = context.mapping.apply(defaults, lambda ref: dotted(customer, ref), context.is_phone)
    if stale is not None:
        if contact.get("is_opted_out") is not True or contact.get("phone") is None:
            raise stale
        # An opt-out is never refused as a replay (replaying one cannot opt anyone in; refused, Shopify retries
        # for 4 hours, then drops it): only the opt-out is taken, not the rest of a customer that may be stale.
        kept = {"phone", *choice.defaults()}  # the phone (as mapped) and what it was read with
        contact = {**{k: v for k, v in contact.items() if k in kept}, "is_opted_out": True}
    if contact.get("phone") is not None:
        return contact
    address = customer.get("default_address")
    candidates = (customer.get("phone"), address.get("phone") if isinstance(address, dict) else None)
    reason = phone_reason(candidates, "no phone and no phone on the default address", "the phone", choice)
    return no_phone("the Shopify customer", context.mapping, reason, contact)


def _sms_consent(customer: Mapping[str, Any]) -> ConsentClaim | None:
    """The customer's SMS consent as Shopify states it (`sms_marketing_consent.state`), dated by its
    `consent_updated_at` (Shopify's Customer resource); None without a state. Email consent is never read as SMS."""
    consent = customer.get("sms_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    if not isinstance(state, str) or not state.strip():
        return None
    assert isinstance(consent, dict)
    moment = event_time(consent.get("consent_updated_at"))
    at = moment.isoformat(timespec="milliseconds") if moment is not None else None
    return ConsentClaim("sms_marketing_consent.state", state, at)


def customer_time(customer: Mapping[str, Any]) -> datetime | None:
    """When the customer was last written (the latest of `updated_at` and `created_at` that is a time), or None."""
    times = [
        moment for moment in (iso_time(customer.get("updated_at")), iso_time(customer.get("created_at"))) if moment
    ]
    return max(times, default=None)


def _defaults(customer: Mapping[str, Any], context: ReadContext) -> tuple[dict[str, Any], PhoneChoice]:
    default_address = _default_address(customer)
    address: Mapping[str, Any] = default_address if isinstance(default_address, dict) else {}
    others = address if not _is_customers(address, customer) else {}
    address = {} if others else address
    consent = customer.get("sms_marketing_consent")
    state = consent.get("state") if isinstance(consent, dict) else None
    person = _address_country(customer)
    fields = [PhoneField("phone", customer.get("phone"))]
    if not is_blank(address.get("phone")):
        # An address's phone is written for that address: its country is about this number.
        own = (CountryEvidence("default_address.country_code", address.get("country_code"), of_number=True),)
        has_country = not is_blank(address.get("country_code"))
        fields.append(PhoneField("default_address.phone", address["phone"], own if has_country else ()))
    if not is_blank(others.get("phone")):
        # Named so that `choose_phone` never takes it and its refusal says why.
        fields.append(PhoneField("default_address.phone (an address in another person's name)", others["phone"]))
    choice = choose_phone(fields, context, person)
    return {
        **choice.defaults(),
        "first": customer.get("first_name") or address.get("first_name"),
        "last": customer.get("last_name") or address.get("last_name"),
        "email": customer.get("email"),
        "is_opted_out": SMS_CONSENT_OPTED_OUT.get(state.strip().lower()) if isinstance(state, str) else None,
    }, choice


def _address_country(customer: Mapping[str, Any]) -> tuple[CountryEvidence, ...]:
    """The customer's country: the default address's `country_code` (`default_address`, else the `addresses` item
    marked `default`), else a billing or shipping address's (an order's customer), the first given; else the
    country of each other `addresses` item in the customer's own name (several countries named there disagree, and a
    national number is then refused rather than read in `DefaultCountry`). An address in another person's name (a
    gift recipient's) says nothing about the customer."""
    candidates = (
        ("default_address", _default_address(customer)),
        ("billing_address", customer.get("billing_address")),
        ("shipping_address", customer.get("shipping_address")),
    )
    for name, address in candidates:
        if isinstance(address, dict) and not is_blank(address.get("country_code")) and _is_customers(address, customer):
            return (CountryEvidence(f"{name}.country_code", address["country_code"]),)
    addresses = customer.get("addresses")
    found: dict[str, CountryEvidence] = {}
    for index, address in enumerate(addresses if isinstance(addresses, list) else []):
        if isinstance(address, dict) and not is_blank(address.get("country_code")) and _is_customers(address, customer):
            code = str(address["country_code"]).strip().upper()
            found.setdefault(code, CountryEvidence(f"addresses.{index}.country_code", address["country_code"]))
    return tuple(found.values())


def _default_address(customer: Mapping[str, Any]) -> Any:
    """`default_address`, else the item of `addresses` marked `"default": true` (a customer object as the Admin API
    returns it, or a trimmed webhook body, may give only the list)."""
    address = customer.get("default_address")
    if isinstance(address, dict):
        return address
    addresses = customer.get("addresses")
    if isinstance(addresses, list):
        return next((a for a in addresses if isinstance(a, dict) and a.get("default") is True), None)
    return None


def _is_customers(address: Mapping[str, Any], customer: Mapping[str, Any]) -> bool:
    """False when the address is in another person's name: a first or last name given on both that differs (case
    and accents aside). Its phone and country are then that person's (a gift recipient's), never the customer's."""
    for part in ("first_name", "last_name"):
        mine, theirs = _folded(customer.get(part)), _folded(address.get(part))
        if mine and theirs and mine != theirs:
            return False
    return True


def _folded(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    return " ".join("".join(ch for ch in decomposed if not unicodedata.combining(ch)).split())


def _consent_update(request: WebhookRequest, context: ReadContext, delivery_identity: DeliveryIdentity) -> Delivery:
    """A customers_marketing_consent/update event: the customer's phone and SMS consent, dated by
    `consent_updated_at`. Raises BadRequest for a payload that is not one, Unauthorized for a signed one out of the
    window."""
    payload = parse_json(request.body, request.charset)
    if not isinstance(payload, dict):
        raise BadRequest("the Shopify consent event is not a JSON object")
    # The customer's "id" is not needed to write the phone's consent: an event without it is read all the same.
    consent = payload.get("sms_marketing_consent")
    if not isinstance(consent, dict):
        # A 202 with the reason, as for any vendor delivery with nothing usable (a 4xx makes Shopify retry).
        reason = 'the Shopify consent event has no "sms_marketing_consent" object: it has nothing to write'
        return Delivery([Unmappable((reason,))], delivery_identity)
    stamp = consent.get("consent_updated_at")
    state = consent.get("state")
    opted_out = SMS_CONSENT_OPTED_OUT.get(state.strip().lower()) if isinstance(state, str) else None
    if context.credentials.secret is not None and opted_out is not True:
        # The window is enforced on the send time (X-Shopify-Triggered-At) where Shopify sends one: a consent time
        # may be backdated (collected offline, set through the Admin API) and is then no sign of a replay. An
        # opt-out is never refused as a replay: replaying one cannot opt anyone in.
        error = _replayed(request, context, (iso_time(stamp), "the signed consent_updated_at"), send_time_only=True)
        if error is not None:
            raise error
    choice = choose_phone([PhoneField("phone", payload.get("phone"))], context)
    defaults = {**choice.defaults(), "is_opted_out": opted_out}
    contact = context.mapping.apply(defaults, lambda ref: dotted(payload, ref), context.is_phone)
    # Shopify: "if no date is provided, [consent_updated_at is] when the consent information was sent".
    moment = event_time(stamp) if stamp is not None else iso_time(request.headers.get("x-shopify-triggered-at"))
    submission: Submission = contact
    if contact.get("is_opted_out") is None:
        quoted = shown(state, 40, quote='"')
        said = f"the SMS consent state {quoted}" if state is not None else "no SMS consent state"
        submission = Unmappable((f"{said} says nothing of opting out: the event has nothing to write",))
    elif contact.get("phone") is None:
        reason = phone_reason((payload.get("phone"),), "no phone", "the phone", choice)
        submission = no_phone("the Shopify customer", context.mapping, reason, contact)
    claim = None
    if opted_out is not None and not context.mapping.overrides("is_opted_out"):
        at = moment.isoformat(timespec="milliseconds") if moment is not None else None
        claim = ConsentClaim(SMS_CONSENT_FIELD, str(state), at)
    return Delivery([submission], delivery_identity, (moment,), (claim,), (_event_id(request),))


def _event_id(request: WebhookRequest) -> str | None:
    """Shopify's own id of the event (`X-Shopify-Event-Id`, the same across its retries), else of the webhook."""
    return request.headers.get("x-shopify-event-id") or request.headers.get("x-shopify-webhook-id") or None


def _replayed(
    request: WebhookRequest,
    context: ReadContext,
    body_time: tuple[datetime | None, str],
    *,
    send_time_only: bool = False,
) -> Unauthorized | None:
    """The refusal (401) of a delivery out of the replay window, None for one in it: its send time
    (`X-Shopify-Triggered-At`, when sent, Shopify's own advice for telling a stale delivery) and the signed body's
    time (`body_time`: the time and what to call it), the latter only without a send time if `send_time_only`."""
    triggered = request.headers.get("x-shopify-triggered-at")
    checks: list[tuple[datetime | None, str]] = []
    if triggered is not None:
        checks.append((iso_time(triggered), "X-Shopify-Triggered-At"))
    if triggered is None or not send_time_only:
        checks.append(body_time)
    try:
        for moment, what in checks:
            check_age(moment, context.now, what, MAX_AGE, RETRY_SPAN, MAX_AHEAD)
    except Unauthorized as exc:
        return exc
    return None


# The source this module adds (heymarket_bridge.ingest.sources.base finds it here).
SOURCE_CLASS = ShopifySource
