"""What the sources share: what they are given and produce, HMAC checks, times, and body decoding that names what
is wrong.

Every decoder here is bounded: a hostile body gets a 4xx that says what is wrong, never an exception that would
become a 500 (numbers of thousands of digits, nesting deeper than the parser follows, declared charsets that do
not exist or are not character sets, byte-order marks, more form fields than any sender posts, times past the
calendar's end).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from datetime import datetime
from typing import Any

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.failures import PhoneCountryConflict
from heymarket_bridge.domain.fields import single
from heymarket_bridge.domain.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.domain.phone import phone_parses, read_phone
from heymarket_bridge.domain.phone_owner import about_someone_else, clearly_own
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.failures import MethodNotAllowed, PayloadTooLarge
from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest, render_json

# The key under which a refusal letter keeps the respondent's phone field that did not read, as received.
PHONE_AS_RECEIVED = "phone_as_received"


@record
class SourceCredentials:
    """The webhook-secrets secret as a source sees it: its own entry, and the others it may need (Salesforce)."""

    secret: str | None  # None: the source has no entry and is allowed without one (AllowUnauthenticatedSources)
    entries: Mapping[str, Any] = field(default_factory=dict)

    def entry(self, name: str) -> str | None:
        value = self.entries.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None


@record
class CredentialEntry:
    """One entry of the webhook-secrets secret a source needs, for the setup commands and the docs.

    `key`: the entry's key in the secret (the source's name for its main secret; e.g. `salesforce_org_id`).
    `issued_by`: "bridge" when the bridge chooses the value (a random token the setup commands generate and the
    operator pastes into the sender), "vendor" when the sender issues it (a signing secret the operator copies from
    the vendor's screen into the bridge). `what`: one line naming the value as the vendor's screens name it.
    `form`: a regular expression the whole value matches when the source can check it (Salesforce's org id), with
    `form_text` saying it in words; "" for none (any single word: no spaces, no control characters).
    """

    key: str
    issued_by: str  # "bridge" or "vendor"
    what: str
    form: str = ""
    form_text: str = ""

    def refusal(self, value: str) -> str | None:
        """Why `value` (stripped) cannot be this entry's, or None: a space or a control character inside (a value
        copied with something else), a bridge token that is not URL-safe (it may ride in a URL), or `form` unmet."""
        if any(ch.isspace() or not ch.isprintable() for ch in value):
            return "it holds a space or a control character: copy the value alone"
        if self.issued_by == "bridge" and not BRIDGE_TOKEN.fullmatch(value):
            return "a bridge token is 16 or more URL-safe characters (letters, digits, - and _)"
        if self.form and not re.fullmatch(self.form, value, re.ASCII):
            return f"expected {self.form_text or self.form}"
        return None


# What `secrets.token_urlsafe` gives (the setup commands' tokens): safe in a URL's query, a header, a form.
BRIDGE_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}", re.ASCII)


@record
class ReadContext:
    """What a source needs besides the request: the time, its credentials, its mapping, the deployment's limits."""

    now: datetime
    credentials: SourceCredentials
    mapping: SourceMapping = field(default_factory=SourceMapping)
    default_country: str = "US"
    max_contacts: int = 500  # MaxContactsPerRequest, or the source's sender_batch_size when that is larger
    public_base_url: str = ""  # the URL senders call, for schemes that sign it ("" : as API Gateway saw it)
    hubspot_require_v3: bool = False  # HubSpotRequireSignatureV3: refuse HubSpot requests signed only with v1/v2

    def is_phone(self, value: Any, evidence: Sequence[CountryEvidence] = ()) -> bool:
        """Whether `value` reads as a phone number with this country evidence
        (heymarket_bridge.domain.phone.read_phone)."""
        return phone_parses(value, self.default_country, evidence)


@record
class SigningRequest:
    """A request to authenticate as its sender does, for the tools and tests that play the sender (the bridge itself
    never signs): its raw body, the secret the bridge holds for the source, the moment (timezone-aware), the method,
    the URL as the sender called it (for a scheme that signs it), and which of the sender's `signature_versions`
    ("": the first)."""

    body: bytes
    secret: str
    now: datetime
    method: str = "POST"
    url: str = ""
    version: str = ""


@record
class PhoneField:
    """A field that may hold the respondent's phone, as a source found it: its name (as a refusal names it), its
    value, and what the payload says about the country of that number (heymarket_bridge.domain.country)."""

    name: str
    value: Any
    evidence: tuple[CountryEvidence, ...] = ()
    # True for a field the source documents as the same record's own number (HubSpot's mobilephone and phone,
    # Salesforce's MobilePhone and Phone): when the first does not read, the next such field of that record is read.
    # A form's question never is: who it is about is whatever its author wrote.
    same_record: bool = False


@record
class PhoneChoice:
    """The phone a source's defaults take, with its evidence as the submission carries it, or why there is none."""

    value: Any = None
    evidence: tuple[CountryEvidence, ...] = ()  # the chosen field's, then the person's; the person's alone if none
    reason: str | None = None  # set when `value` is None and the fields found say why (someone else's, unreadable)
    # The respondent's field that did not read as a phone, as received (for the refusal letter: see `no_phone`).
    received: Any = None

    def defaults(self) -> dict[str, Any]:
        """The submission's "phone" and "country_evidence" (JSON-ready: a dead letter keeps the submission)."""
        out: dict[str, Any] = {"phone": self.value}
        if self.value is None and self.received is not None:
            out[PHONE_AS_RECEIVED] = self.received
        if self.evidence:
            out["country_evidence"] = [item.to_dict() for item in self.evidence]
        return out


def choose_phone(
    fields: Sequence[PhoneField], context: ReadContext, person: Sequence[CountryEvidence] = ()
) -> PhoneChoice:
    """The respondent's phone among the fields that may hold it, given in the source's documented order (for a form:
    the questions' order), with its evidence and the evidence about the `person` (an address's country).

    The rule is structural: the respondent's phone is ONE field, the first answered field in that order, or, when a
    field's name says plainly that it is the respondent's own (`clearly_own`: "Phone", "Your phone", "Mobile
    number", "q4_phone"), the first such answered field. When that field does not read as a phone, `reason` names it
    and the other candidate fields: a later phone field is never taken in its place (it may be anyone's: a form's
    question about an emergency contact can be worded in any language). A field whose name says it is about someone
    else (`about_someone_else`: an emergency contact, a parent) is never the respondent's, even when it comes first;
    when only such fields are given, `reason` names them."""
    given = [f for f in fields if not _blank(f.value)]
    theirs = [f for f in given if not about_someone_else(f.name)]
    if theirs:
        return _respondents(theirs, given, context, tuple(person))
    if given:
        named = ", ".join(shown(f.name, 60) for f in given)
        return PhoneChoice(
            reason=(
                f"no field is clearly the respondent's phone: {named} "
                f"{'is' if len(given) == 1 else 'are'} about someone else (never used as the respondent's); map "
                "the respondent's phone field in SourceMappings"
            ),
            evidence=tuple(person),
        )
    return PhoneChoice(evidence=tuple(person))


def _respondents(
    theirs: Sequence[PhoneField],
    given: Sequence[PhoneField],
    context: ReadContext,
    person: tuple[CountryEvidence, ...],
) -> PhoneChoice:
    """`choose_phone` among the answered fields not about someone else (`theirs`; `given`: every answered field)."""
    own = [f for f in theirs if clearly_own(f.name)]
    chosen = (own or theirs)[0]
    evidence = (*chosen.evidence, *person)
    if context.is_phone(chosen.value, evidence):
        return PhoneChoice(chosen.value, evidence)
    if chosen.same_record:
        for field_ in theirs[theirs.index(chosen) + 1 :]:
            if field_.same_record and context.is_phone(field_.value, (*field_.evidence, *person)):
                return PhoneChoice(field_.value, (*field_.evidence, *person))
    reason = f"the field {shown(chosen.name, 60)} {_why_not_a_phone(chosen.value, context.default_country, evidence)}"
    rest = [f for f in given if f is not chosen]
    if rest and not chosen.same_record:
        named = ", ".join(shown(f.name, 60) for f in rest)
        reason += (
            f"; it is the respondent's phone, and the other phone fields ({named}) are never used in its place "
            "(they may be someone else's)"
        )
    return PhoneChoice(reason=reason, evidence=person, received=chosen.value)


def _why_not_a_phone(value: Any, default_country: str, evidence: Sequence[CountryEvidence]) -> str:
    """Why `value` is not the respondent's phone, as a refusal says it (with read_phone's reason)."""
    try:
        read_phone(value, default_country, evidence)
        return "does not parse as a phone number"
    except ValueError as exc:
        problem = "cannot be used" if isinstance(exc, PhoneCountryConflict) else "does not parse as a phone number"
        return f"{problem}: {exc}"


def _blank(value: Any) -> bool:
    value = single(value)
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return value is None


@record
class DeliveryIdentity:
    """What tells a sender's retry of a delivery from a new delivery.

    `sender_id` is only ever what the sender guarantees names one delivery (a webhook or event id, a notification
    id, an Idempotency-Key); "" when it sends none. `body_digest` is the SHA-256 of the raw body: a repeat must
    also repeat the body, unless the sender's id promises the body (`id_covers_body`, the Idempotency-Key), when
    another body under the same id is a conflict.
    """

    sender_id: str
    body_digest: str
    id_covers_body: bool = False


@record
class Delivery:
    """A request read once by its source: the submissions it carries and what identifies it.

    `occurred_at`, for a source whose payload says when the change happened (empty, or one per submission, None where
    a submission does not say): the contact state orders operations on a contact by it
    (heymarket_bridge.sync.state.rules).
    `consent`, for a source whose own field gives SMS consent (empty, or one per submission, None where it does not):
    that field and value as sent, and its time; other submissions' `is_opted_out` is claimed as the mapping names it.
    `event_ids`, for a source that names its events (empty, or one per submission, None where it does not): the
    source's own id of the event, as sent, recorded with a consent change
    (heymarket_bridge.domain.consent.ConsentClaim).
    """

    submissions: list[Submission]
    identity: DeliveryIdentity
    occurred_at: tuple[datetime | None, ...] = ()
    consent: tuple[ConsentClaim | None, ...] = ()
    event_ids: tuple[str | None, ...] = ()


def identity(sender_id: str | None, body: bytes, *, id_covers_body: bool = False) -> DeliveryIdentity:
    return DeliveryIdentity(sender_id or "", hashlib.sha256(body).hexdigest(), id_covers_body and bool(sender_id))


def no_phone(where: str, mapping: SourceMapping, default: str, contact: Mapping[str, Any] | None = None) -> Unmappable:
    """The rejection of a submission without a phone: names the mapped references, or what the default looks for.

    `contact` is what the source read of the submission otherwise (its mapped contact: names, email, the country
    evidence about the person, and the respondent's phone field that did not read, as received, under
    PHONE_AS_RECEIVED): the refusal letter keeps it for the operator's correction. The phone that did not read is
    never kept as `phone`, so a redrive without a correction cannot store it (nor any other field's number)."""
    fields = {name: value for name, value in (contact or {}).items() if name != "phone"}
    if "phone" in mapping.fields:
        refs = ", ".join(f'"{ref}"' for ref in mapping.fields["phone"])
        return Unmappable((f"{where} has no value for the mapped phone reference {refs}",), fields)
    return Unmappable((f"{where} has no phone number: {default}",), fields)


def has_no_phone_at_all(candidates: Iterable[Any], mapping: SourceMapping, choice: PhoneChoice | None = None) -> bool:
    """The vendor's record simply has no phone: every default phone field blank, no phone reference mapped (a mapped
    reference with no value may be a misspelt mapping: a letter says so) and no field that did not read or that is
    someone else's (`choice.reason`). Such a record has nothing to fix: Unmappable(letter=False)."""
    if "phone" in mapping.fields or (choice is not None and choice.reason is not None):
        return False
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in candidates)


def phone_reason(candidates: Iterable[Any], none_given: str, what: str, choice: PhoneChoice | None = None) -> str:
    """Why a default found no phone: the `choice`'s reason when it has one (someone else's fields, a field that
    does not read, saying why), `none_given` when there was no candidate, else that none of `what` parses."""
    if choice is not None and choice.reason is not None:
        return choice.reason
    given = [c for c in candidates if c is not None and not (isinstance(c, str) and not c.strip())]
    return none_given if not given else f"{what} does not parse as a phone number"


def too_many(count: int, context: ReadContext) -> None:
    """Refuse a delivery with more submissions than a request may have, before any is read."""
    if count > context.max_contacts:
        raise PayloadTooLarge(
            f"the request holds {count} contacts; at most {context.max_contacts} are accepted per request"
        )


class SourceDefaults:
    """What most sources share: the bridge's JSON reply, and a 202 even when nothing in a delivery was usable."""

    # A form or CRM resends a delivery that gets a 4xx, and some switch off a webhook that keeps failing:
    # a delivery whose every contact is rejected is still acknowledged (202, with the reasons) for them.
    refuses_when_nothing_valid = False
    sender_batch_size = 0
    # "" : the sender posts its records; else the vendor API the records are fetched from (base.FetchedSource).
    fetched_from = ""
    # How the sender authenticates, for the tools and tests that play it (heymarket_bridge_tools.signing): a sender
    # that presents its secret itself says where ("header": X-Bridge-Token; "query": ?token=, for senders that
    # cannot set headers); "" for one that signs (`sign`).
    token_in = "header"
    # The versions of the sender's signature scheme, newest first (`SigningRequest.version`).
    signature_versions: tuple[str, ...] = ("",)
    # The JSON keys of the delivery times a signed body carries: a body signed for another moment has them moved.
    body_times: tuple[str, ...] = ()
    # The stem of the events/<name>/*.json that `heymarket-bridge send <name>` posts: "" for the only one.
    sample_event = ""
    # The entries of the webhook-secrets secret this source reads (CredentialEntry), main secret first.
    credentials: tuple[CredentialEntry, ...] = ()

    def render(self, reply: Reply) -> HttpResponse:
        return render_json(reply)

    def handshake(self, request: WebhookRequest, context: ReadContext) -> str:
        """Most senders make no GET handshake: a GET is refused (405)."""
        raise MethodNotAllowed(f"source {getattr(self, 'name', '')!r} takes POST requests only")

    def sign(self, request: SigningRequest) -> dict[str, str]:
        """The headers the sender adds to authenticate `request` ({} for a sender that presents a token)."""
        return {}

    def signed_versions(self, headers: Mapping[str, str]) -> tuple[str, ...]:
        """The `signature_versions` a recorded request's headers (lower-case names) carry; () when none is told
        apart."""
        return ()
