"""What the sources share: what they are given and produce, HMAC checks, times, and body decoding that names what
is wrong.

Every decoder here is bounded: a hostile body gets a 4xx that says what is wrong, never an exception that would
become a 500 (numbers of thousands of digits, nesting deeper than the parser follows, declared charsets that do
not exist or are not character sets, byte-order marks, more form fields than any sender posts, times past the
calendar's end).
"""

from __future__ import annotations

import base64
import codecs
import hashlib
import hmac
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import PhoneCountryConflict, phone_parses, read_phone, single
from heymarket_bridge.domain.country import CountryEvidence
from heymarket_bridge.domain.mapping import SourceMapping, Submission, Unmappable
from heymarket_bridge.domain.text import shown
from heymarket_bridge.ingest.http import (
    BadRequest,
    HttpResponse,
    PayloadTooLarge,
    Reply,
    Unauthorized,
    UnsupportedMediaType,
    WebhookRequest,
    render_json,
)

FORM_TYPE = "application/x-www-form-urlencoded"
MULTIPART_TYPE = "multipart/form-data"
JSON_TYPES = ("application/json", "text/json", "text/plain", "")
# Digits a JSON integer may have: far beyond any id or phone, far below Python's 4,300-digit conversion limit.
MAX_JSON_INT_DIGITS = 64
# Fields a form post may have: Jotform posts under ten plus the answers; a thousand is no real form.
MAX_FORM_FIELDS = 1000
# Signatures taken from one header (a sender rotating keys sends two; API Gateway joins repeated headers).
MAX_SIGNATURES = 8
# The key under which a refusal letter keeps the respondent's phone field that did not read, as received.
PHONE_AS_RECEIVED = "phone_as_received"
_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32 first: its little-endian mark starts with UTF-16's.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The character sets a body or form field may declare: those of the WHATWG Encoding Standard (what browsers and
# form builders send) that Python decodes, the Unicode forms, ASCII and Latin-1. Python also registers codecs that
# are not character sets ("undefined" fails on any input, "punycode" and "idna" encode domain names,
# "unicode_escape" turns ASCII into lone surrogates, "rot13" and "base64" map bytes to bytes): none is taken.
TEXT_CHARSETS = frozenset(
    codecs.lookup(label).name
    for label in (
        *("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"),
        *("us-ascii", "iso-8859-1", "iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6"),
        *("iso-8859-7", "iso-8859-8", "iso-8859-10", "iso-8859-11", "iso-8859-13", "iso-8859-14", "iso-8859-15"),
        *("iso-8859-16", "ibm866", "koi8-r", "koi8-u", "macintosh", "mac-cyrillic", "cp874", "windows-1250"),
        *("windows-1251", "windows-1252", "windows-1253", "windows-1254", "windows-1255", "windows-1256"),
        *("windows-1257", "windows-1258", "gbk", "gb2312", "gb18030", "big5", "big5-hkscs", "euc-jp"),
        *("iso-2022-jp", "shift_jis", "cp932", "euc-kr", "tis-620"),
    )
)
# An ISO 8601 time as the senders write it: date, time, an optional fraction, "Z" or an offset (or none: UTC).
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)


@dataclass(frozen=True)
class Credentials:
    """The webhook-secrets secret as a source sees it: its own entry, and the others it may need (Salesforce)."""

    secret: str | None  # None: the source has no entry and is allowed without one (AllowUnauthenticatedSources)
    entries: Mapping[str, Any] = field(default_factory=dict)

    def entry(self, name: str) -> str | None:
        value = self.entries.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class ReadContext:
    """What a source needs besides the request: the time, its credentials, its mapping, the deployment's limits."""

    now: datetime
    credentials: Credentials
    mapping: SourceMapping = field(default_factory=SourceMapping)
    default_country: str = "US"
    max_contacts: int = 500  # MaxContactsPerRequest, or the source's sender_batch_size when that is larger
    public_base_url: str = ""  # the URL senders call, for schemes that sign it ("" : as API Gateway saw it)
    hubspot_require_v3: bool = False  # HubSpotRequireSignatureV3: refuse HubSpot requests signed only with v1/v2

    def is_phone(self, value: Any, evidence: Sequence[CountryEvidence] = ()) -> bool:
        """Whether `value` reads as a phone number with this country evidence
        (heymarket_bridge.domain.contact.read_phone)."""
        return phone_parses(value, self.default_country, evidence)


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        own = [f for f in theirs if clearly_own(f.name)]
        chosen = (own or theirs)[0]
        evidence = (*chosen.evidence, *person)
        if context.is_phone(chosen.value, evidence):
            return PhoneChoice(chosen.value, evidence)
        if chosen.same_record:
            for field_ in theirs[theirs.index(chosen) + 1 :]:
                if field_.same_record and context.is_phone(field_.value, (*field_.evidence, *person)):
                    return PhoneChoice(field_.value, (*field_.evidence, *person))
        try:
            read_phone(chosen.value, context.default_country, evidence)
            problem = "does not parse as a phone number"
        except ValueError as exc:
            problem = "cannot be used" if isinstance(exc, PhoneCountryConflict) else "does not parse as a phone number"
            problem = f"{problem}: {exc}"
        rest = [f for f in given if f is not chosen]
        reason = f"the field {shown(chosen.name, 60)} {problem}"
        if rest and not chosen.same_record:
            named = ", ".join(shown(f.name, 60) for f in rest)
            reason += (
                f"; it is the respondent's phone, and the other phone fields ({named}) are never used in its place "
                "(they may be someone else's)"
            )
        return PhoneChoice(reason=reason, evidence=tuple(person), received=chosen.value)
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


# Words that, with a phone word (PHONE_STEMS), make a field's name say plainly that it holds the respondent's own
# phone ("Your phone", "Mobile number", "Tu número de teléfono", "Ihre Handynummer", "q4_phone"): nothing in such a
# name leaves room for another person.
OWN_PHONE_WORDS = frozenset(
    (
        *("your", "yours", "you", "my", "own", "the", "a", "an", "of", "what", "whats", "is", "s", "number", "numbers"),
        *("no", "nr", "num", "nro", "best", "contact", "primary", "main", "personal", "direct", "q", "tel", "sms"),
        *("tu", "su", "de", "numero", "votre", "ton", "ihre", "deine", "dein", "ihr", "nummer", "seu", "sua", "il"),
        *("tuo", "uw", "je", "jouw", "mobile", "cell", "cellphone", "mobilephone", "phonenumber", "telephone"),
    )
)


def clearly_own(name: str) -> bool:
    """Whether one part of a field's name (a Typeform name is "title / ref") asks for a phone and says nothing else,
    so that it can only be the respondent's own: "Phone", "Your phone number", "Mobile", "Teléfono", "q4_phone"."""
    for part in (name or "").split(" / "):
        words = _words(part)
        if words and asks_for_phone(part) and all(w in OWN_PHONE_WORDS or _is_phone_word(w) for w in words):
            return True
    return False


def _is_phone_word(word: str) -> bool:
    return any(stem in word for stem in PHONE_STEMS) and len(word) <= 16


# Words that make a field about someone other than the respondent (English, German, Spanish, French, Portuguese,
# Italian, Dutch), compared case-folded without accents; camelCase and snake_case names are split into words.
SOMEONE_ELSE_WORDS = frozenset(
    (
        *("emergency", "parent", "parents", "parental", "guardian", "guardians", "referrer", "referral", "referred"),
        *("referee", "reference", "references", "alternative", "alternate", "alt", "other", "another", "secondary"),
        *("backup", "spouse", "partner", "husband", "wife", "mother", "father", "mom", "mum", "mommy", "dad"),
        *("daddy", "child", "childs", "children", "son", "daughter", "kid", "kids", "friend", "friends", "sibling"),
        *("brother", "sister", "relative", "relatives", "kin", "nextofkin", "assistant", "manager", "supervisor"),
        *("boss", "sponsor", "nominee", "beneficiary", "caregiver", "carer", "doctor", "physician", "employer"),
        *("notfall", "notfallkontakt", "eltern", "elternteil", "mutter", "vater", "erziehungsberechtigte"),
        *("erziehungsberechtigter", "ehepartner", "ehepartnerin", "ehefrau", "ehemann", "partnerin", "kind"),
        *("kinder", "sohn", "tochter", "andere", "anderer", "anderes", "weitere", "weiterer", "alternativ"),
        *("angehorige", "angehoriger", "vertreter", "vertreterin", "emergencia", "padre", "madre", "padres"),
        *("tutor", "tutora", "acudiente", "esposo", "esposa", "conyuge", "pareja", "hijo", "hija", "otro", "otra"),
        *("alternativo", "alternativa", "referido", "referida", "familiar", "urgence", "tuteur", "tutrice"),
        *("conjoint", "conjointe", "epoux", "epouse", "mere", "pere", "enfant", "autre", "alternatif", "parrain"),
        *("responsavel", "emergenza", "genitore", "genitori", "noodgeval", "ouder", "ouders", "voogd"),
        # "ICE" (in case of emergency), colleagues, Portuguese and Italian relatives (not Portuguese "pai": "país"
        # less its possessive "s" would be it).
        *("ice", "colleague", "coworker", "kollege", "kollegin", "colega", "collegue", "collega", "mae"),
        *("irmao", "irma", "filho", "filha", "marido", "madrina", "padrino", "figlio", "figlia", "moglie"),
        *("marito", "fratello", "sorella", "nonno", "nonna", "abuelo", "abuela", "grandparent", "grandmother"),
        *("grandfather", "grandma", "grandpa", "aunt", "uncle", "tia", "tio", "cousin", "neighbor", "neighbour"),
        # People a booking or an order is for or with: a guest, a companion, a patient booked for, a gift's recipient.
        *("guest", "guests", "companion", "acompanante", "invitado", "invitada", "patient", "recipient", "gast"),
        *("beschenkte", "destinataire", "destinatario", "destinataria", "paciente"),
        # Someone who answers for the person: a secretary, a reception desk, a switchboard.
        *("sekretariat", "sekretarin", "sekretaerin", "secretary", "secretariat", "secretaria", "secretaire"),
        *("reception", "receptionist", "rezeption", "empfang", "zentrale", "switchboard", "centralita", "recepcion"),
    )
)
# The same, found inside names written run together ("q5_guardianphone", "mothersphone", "notfallnummer",
# "parentguardian"): only stems too long or too particular to sit inside a word about the respondent ("vater" is
# inside "privater", "son" inside "person": those are matched as whole words only).
SOMEONE_ELSE_STEMS = (
    *("emergenc", "guardian", "parent", "mother", "father", "spouse", "husband", "sibling", "brother", "sister"),
    *("relative", "nextofkin", "caregiver", "referr", "referee", "colleague", "coworker", "notfall", "eltern"),
    *("mutter", "ehepartner", "ehefrau", "ehemann", "erziehungsberecht", "angehorig", "tochter", "emergencia"),
    *("emergenza", "urgence", "noodgeval", "madre", "padre", "esposa", "esposo", "conyuge", "acudiente"),
    *("responsavel", "genitor", "tuteur", "tutrice", "daughter", "children", "grandm", "grandf", "grandp"),
    *("alternat", "secondary", "assistant", "supervisor", "beneficiar", "kollege", "kollegin"),
)


def about_someone_else(*labels: str) -> bool:
    """Whether a field's name, ref or question says it is about someone other than the respondent ("Emergency
    contact phone", "parentPhone", "q7_guardian_mobile", "Telefon Notfallkontakt", "Teléfono del padre")."""
    for label in labels:
        spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", label or "")
        folded = "".join(ch for ch in unicodedata.normalize("NFKD", spaced.casefold()) if not unicodedata.combining(ch))
        words = re.findall(r"[a-z]+", folded)
        # "mothersPhone", "parents_mobile": a possessive written without its apostrophe.
        words += [word[:-1] for word in words if word.endswith("s")]
        if any(word in SOMEONE_ELSE_WORDS for word in words) or "emergencycontact" in "".join(words):
            return True
        if any(stem in word for word in words for stem in SOMEONE_ELSE_STEMS):
            return True
    return False


# Words of a question or field name asking for a phone (English, German, Spanish, French, Portuguese, Italian,
# Dutch), found inside the name case-folded without accents: "Número de teléfono", "Handynummer", "Celular".
PHONE_STEMS = (
    *("phone", "mobil", "cell", "celular", "sms", "whatsapp", "telef", "telep", "handy", "movil", "portable"),
    *("natel", "cellulare", "telefoon", "gsm"),
)


def asks_for_phone(*labels: str) -> bool:
    """Whether a field's name or question asks for a phone number, in any of the languages of PHONE_STEMS."""
    return any(stem in word for label in labels for word in _words(label) for stem in PHONE_STEMS)


# Words of a question or field naming the respondent's country ("Country", "País", "Land", "Pays", "Country /
# Region"); one about where they were born or their citizenship says nothing about their phone.
COUNTRY_WORDS = frozenset(("country", "countries", "pais", "land", "pays", "paese", "countryregion", "nation"))
NOT_RESIDENCE_WORDS = frozenset(("birth", "born", "nationality", "citizenship", "geburtsland", "nacimiento"))


def country_answers(pairs: Iterable[tuple[str, Any]]) -> tuple[CountryEvidence, ...]:
    """Evidence about the respondent's country from (question or field name, answer) pairs: the answers to
    questions naming a country (COUNTRY_WORDS), not about someone else and not about birth or citizenship. Answers
    that are not text (a phone widget, a list of several) are left out; a one-item list is its item."""
    found: list[CountryEvidence] = []
    for name, answer in pairs:
        value = single(answer)
        if not isinstance(value, str) or not value.strip() or about_someone_else(name):
            continue
        words = set(_words(name))
        if words & COUNTRY_WORDS and not words & NOT_RESIDENCE_WORDS:
            found.append(CountryEvidence(name, value))
    return tuple(found)


def _words(label: str) -> list[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", label or "")
    folded = "".join(ch for ch in unicodedata.normalize("NFKD", spaced.casefold()) if not unicodedata.combining(ch))
    return re.findall(r"[a-z]+", folded)


def _blank(value: Any) -> bool:
    value = single(value)
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple):
        return not value
    return value is None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


def hmac_sha256(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()


def hmac_b64(secret: str, message: bytes) -> str:
    return base64.b64encode(hmac_sha256(secret, message)).decode("ascii")


def same(expected: str, presented: str | None) -> bool:
    """Constant-time equality of a computed signature and the one the sender presented."""
    return presented is not None and hmac.compare_digest(expected.encode("utf-8"), presented.strip().encode("utf-8"))


def any_same(expected: Iterable[str], presented: Iterable[str]) -> bool:
    """Whether any presented signature equals any expected one; every pair is compared, so the time taken does not
    tell which one matched."""
    matches = [same(e, p) for e in expected for p in list(presented)[:MAX_SIGNATURES]]
    return any(matches)


def signatures(header: str | None, prefix: str = "") -> list[str]:
    """The signatures in a header: one, or several joined by commas (a key rotation, or the header sent twice)."""
    found: list[str] = []
    for part in (header or "").split(","):
        value = part.strip()
        if prefix:
            if value[: len(prefix)].lower() != prefix.lower():
                continue
            value = value[len(prefix) :].strip()
        if value:
            found.append(value)
    return found[:MAX_SIGNATURES]


def unix_time(text: str | None, max_digits: int) -> int | None:
    """A signed timestamp of ASCII digits only, at most `max_digits` of them; None for anything else.

    A digit that is not ASCII ('٣'), or hundreds of digits, would otherwise reach int() and float arithmetic.
    """
    value = (text or "").strip()
    if not re.fullmatch(rf"[0-9]{{1,{max_digits}}}", value):
        return None
    return int(value)


def event_time(value: Any) -> datetime | None:
    """A source's event time: an ISO 8601 text with a time zone ("2026-11-23T08:59:57.000000Z", "...+00:00"), or
    milliseconds since the epoch (digits, as HubSpot writes them, or a JSON number; 10 digits or fewer are seconds);
    a one-item list is its item (Apps Script's `e.namedValues`). None for anything else: text that is no time, a
    time before 2000 or after 9000 (a sender's placeholder such as 9999-12-31, or digits no clock gives), so that a
    bad time costs a contact its ordering, never the delivery (no ValueError or OverflowError escapes)."""
    value = single(value)
    if isinstance(value, bool):
        return None
    moment: datetime | None = None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 16 else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        moment = _epoch_moment(value)
    elif isinstance(value, str) and 10 <= len(value.strip()) <= 40:
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
            moment = parsed.astimezone(UTC) if parsed.tzinfo is not None else None
        except (ValueError, OverflowError):  # nanoseconds Python does not read, or an offset past the calendar
            moment = iso_time(text) if re.search(r"(?:Z|[+-]\d{2}:?\d{2})$", text) else None
    if moment is None or not _EARLIEST_EVENT <= moment <= _LATEST_EVENT:
        return None
    return moment


# Event times outside these are no real event: ordering by them would let a placeholder win every comparison.
_EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST_EVENT = datetime(9000, 1, 1, tzinfo=UTC)


def _epoch_moment(value: float) -> datetime | None:
    """Seconds (up to 10 digits) or milliseconds since the epoch as a UTC time; None when no calendar holds it."""
    if not math.isfinite(value) or value <= 0:
        return None
    seconds = value if value < 1e11 else value / 1000
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def within(now: datetime, sent_at_s: float, tolerance_s: float) -> bool:
    """True when a signed timestamp is no further than the tolerance from now, either way (replays and bad clocks)."""
    return abs(now.timestamp() - sent_at_s) <= tolerance_s


def iso_time(text: Any) -> datetime | None:
    """An ISO 8601 time (a fraction down to nanoseconds, "Z", an offset, or none for UTC) in UTC; None for anything
    else, including a date the calendar does not have or a time that an offset pushes past year 9999."""
    if not isinstance(text, str):
        return None
    match = _ISO_TIME.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
        if zone in (None, "Z"):
            return moment
        digits = zone[1:].replace(":", "")
        if int(digits[:2]) > 23 or int(digits[2:]) > 59:
            return None
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        return moment - offset if zone[0] == "+" else moment + offset
    except (ValueError, OverflowError):
        return None


def check_age(
    moment: datetime | None, now: datetime, what: str, max_age: timedelta, why: str, max_ahead: timedelta
) -> None:
    """Refuse (401) a delivery whose signed time is missing, older than `max_age` (`why`: the sender's retry span) or
    more than `max_ahead` in the future: a recorded delivery replayed later is not taken."""
    if moment is None:
        raise Unauthorized(
            f"{what} is missing or not an ISO 8601 time: a delivery without a time cannot be told from a replay"
        )
    if moment < now - max_age:
        raise Unauthorized(
            f"{what} is {moment.isoformat(timespec='seconds')}: the delivery is older than {why}, a replay"
        )
    if moment > now + max_ahead:
        raise Unauthorized(f"{what} is {moment.isoformat(timespec='seconds')}, in the future")


def decode_text(body: bytes, charset: str | None, what: str = "the request body") -> str:
    """Bytes as text: a byte-order mark wins, then the declared charset, then UTF-8. 4xx naming what is wrong:
    415 for a charset that is not one of TEXT_CHARSETS, 400 for bytes that are not text in the charset."""
    encoding = charset or "utf-8"
    if body.startswith(_UTF8_BOM):
        body, encoding = body[len(_UTF8_BOM) :], "utf-8"
    else:
        for bom, name in _BOMS:
            if body.startswith(bom):
                encoding = name
                break
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in TEXT_CHARSETS:
        raise UnsupportedMediaType(f"charset {shown(encoding)} is not a character set the bridge reads: send UTF-8")
    try:
        return body.decode(name)
    except UnicodeError as exc:  # UnicodeDecodeError, and the plain UnicodeError some codecs raise
        raise BadRequest(f"{what} is not valid {name} text") from exc


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise _NumberTooLong(text)
    return int(text)


class _NumberTooLong(ValueError):
    pass


def parse_json(body: bytes, charset: str | None = None) -> Any:
    """Decode a JSON body, turning every way it can be broken into a 400 that says what is wrong."""
    if not body.strip():
        raise BadRequest("the request body is empty")
    return parse_json_text(decode_text(body, charset))


def parse_json_text(text: str, what: str = "the request body") -> Any:
    """Decode JSON text (a body, or a field holding JSON), every failure a 400 naming `what` and the problem."""
    try:
        return json.loads(text, parse_int=_bounded_int)
    except _NumberTooLong as exc:
        raise BadRequest(f"{what} has a number of more than {MAX_JSON_INT_DIGITS} digits") from exc
    except RecursionError as exc:
        raise BadRequest(f"{what} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BadRequest(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except ValueError as exc:  # any other conversion json refuses
        raise BadRequest(f"{what} is not valid JSON") from exc


def looks_like_json(body: bytes) -> bool:
    """A body that starts like a JSON object or array (after a byte-order mark and spaces)."""
    return body.removeprefix(_UTF8_BOM).lstrip()[:1] in (b"{", b"[")


def form_pairs(request: WebhookRequest, max_fields: int = MAX_FORM_FIELDS) -> list[tuple[str, str]]:
    """The fields of an application/x-www-form-urlencoded body, in order, decoded in the form's charset.

    The charset is the Content-Type's `charset`, else the `_charset_` field browsers add (HTML's form submission
    algorithm), else UTF-8. JSON posted as a form is refused, saying so.
    """
    body = request.body.removeprefix(_UTF8_BOM)
    if not body.strip():
        raise BadRequest("the request body is empty")
    if looks_like_json(body):
        raise UnsupportedMediaType(f"the body is JSON but was sent as {FORM_TYPE}: send it as application/json")
    try:
        # Percent-escapes decoded as Latin-1, byte for byte: the form's charset is applied to the bytes after.
        raw = parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=max_fields, encoding="latin-1")
    except ValueError as exc:
        raise PayloadTooLarge(f"the form has more than {max_fields} fields") from exc
    charset = request.charset or next((v for k, v in raw if k == "_charset_" and v), None) or "utf-8"
    return [(_form_text(key, charset), _form_text(value, charset)) for key, value in raw if key != "_charset_"]


def _form_text(latin1: str, charset: str) -> str:
    """A percent-decoded form value (read as Latin-1, byte for byte) in the form's charset."""
    return decode_text(latin1.encode("latin-1"), charset, "a form field")


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

    def render(self, reply: Reply) -> HttpResponse:
        return render_json(reply)
