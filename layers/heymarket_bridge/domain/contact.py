"""The contact model: validation, normalisation and the Heymarket wire form. Pure: no I/O."""

from __future__ import annotations

import itertools
import math
import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.text import shown

if TYPE_CHECKING:  # loaded where a phone is read (the ingest side), not by the sync function, which reads none
    from heymarket_bridge.domain.country import Country, CountryEvidence

MAX_TAGS = 5
# Lists a contact may be put on by one message: each costs one request per chunk of contacts (README, "Tags and lists").
MAX_LISTS = 10
MAX_TEXT = 255
# Fields a submission may name its phone's country with (generic senders, mappings): an ISO code, a name or a
# calling code (heymarket_bridge.domain.country).
COUNTRY_FIELDS = ("country", "country_code")
# E.164's longest number (ITU-T E.164, section 6): no phone with more digits leaves the bridge.
MAX_PHONE_DIGITS = 15
MAX_CUSTOM_FIELDS = 100
# The most tag or list items one field may hold, repeats and blanks left out: more is refused whole, before any item
# is read (each costs a normalisation: a megabyte of "a,a,a" was 500,000 of them, 1.5 s of CPU).
MAX_SEGMENT_ITEMS = 100
# The longest text read as a name or a phone before its invisible characters and spaces are removed: longer is
# refused as it comes, so that normalising costs at most this much whatever a sender sends.
MAX_RAW_TEXT = 4 * MAX_TEXT
# The fields Heymarket documents for the legacy POST /v1/batch/contacts (the phone matches existing contacts).
V1_FIELDS = ("phone", "first", "last", "display_name", "email", "is_opted_out")
# An address as RFC 6531/6532 allow it (internationalised: any Unicode letter or digit in both parts), without the
# quoted or commented forms no sender uses: a local part without spaces, "@", and a domain of dot-separated labels
# of letters, digits and inner hyphens (IDNA labels included, as Unicode or as xn--).
_EMAIL = re.compile(r"^[^@\s\"(),:;<>\[\\\]]{1,64}@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_](?:[\w-]{0,61}[^\W_])?$")
# What SQS (and XML) can carry: tab, newline, carriage return, U+0020-U+D7FF, U+E000-U+FFFD, U+10000 and above.
# Anything else (control characters, lone surrogates from JSON escapes, U+FFFE/U+FFFF) would make the queue
# refuse the message on every retry, or botocore fail to encode it: such text is refused here, by name.
_UNSENDABLE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
# Booleans as senders write them: JSON, spreadsheets (1/0, TRUE), forms ("on" for a ticked checkbox), people.
_TRUE = {"true", "yes", "1", "y", "on", "t", "checked", "1.0"}
_FALSE = {"false", "no", "0", "n", "off", "f", "unchecked", "0.0"}
# A list joined into one string by the sender (Zapier joins line items with commas).
_LIST_SEPARATORS = re.compile(r"[,;|]")
_SEPARATED = re.compile(r"[^,;|]+")
# The zero-width non-joiner and joiner: format characters that are seen (they change the glyphs around them).
_JOINERS = frozenset("\u200c\u200d")
# Text that is a number: a tag or list given this way is an id (a positive integer), never a name.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")
# A phone field's text: room for a few numbers with their labels ("home: (510) 555-0100; cell: (510) 555-0157").
MAX_PHONE_TEXT = 120
# Words that label a number in free text (English, German, Spanish, French, Dutch, Italian, Portuguese), compared
# case-folded without accents: removed before the number is read.
_LABELS = frozenset(
    (
        *("cell", "cellphone", "cellular", "mobile", "mob", "mobil", "handy", "home", "work", "office", "business"),
        *("main", "direct", "tel", "tele", "telephone", "phone", "ph", "fon", "text", "sms", "whatsapp", "day"),
        *("evening", "night", "daytime", "private", "personal", "landline", "primary", "number", "no", "nr", "num"),
        *("privat", "arbeit", "buro", "buero", "geschaftlich", "dienstlich", "festnetz", "telefon", "mobilnummer"),
        *("casa", "trabajo", "oficina", "movil", "celular", "telefono", "particular", "fijo", "domicilio"),
        *("portable", "domicile", "bureau", "travail", "fixe", "mobiel", "thuis", "werk", "kantoor", "cellulare"),
        *("ufficio", "lavoro", "telemovel", "trabalho", "escritorio", "c", "m", "h", "w", "o", "t", "p"),
        # Abbreviations written with a dot ("Cel.", "Tlf.", "Tfno.", "Mob.") and a few more languages' words.
        *("cel", "tlf", "tlfn", "telf", "tfno", "tfn", "fono", "mov", "numero"),
    )
)
# A run of letters (a word), in any script.
_WORD = re.compile(r"[^\W\d_]+")
# Parentheses or brackets holding no digit: a label ("(cell)", "[Büro]").
_WORDS_IN_BRACKETS = re.compile(r"[(\[][^()\[\]\d]*[)\]]")
# An extension at the end: "ext 12", "ext. 12", "extension 12", "x12", "#12", "Durchwahl 12", "poste 12", "anexo 12".
_EXTENSION = re.compile(
    r"(?:(?<![^\W\d_])(?:ext|extn|extension|x|durchwahl|dw|poste|anexo|ramal|interno|toestel)\.?|#)\s*[:.]?\s*"
    r"\d{1,10}\s*$",
    re.IGNORECASE,
)
# Between two numbers in one field: ";", ",", "|", a line break, " / " (a slash between spaces: "030/1234567" is one
# German number), or a word such as "or", "oder", "ou", "o", "y", "and", "und", "&".
_SEPARATORS = re.compile(r"\s*(?:[;,|\n]|\s/\s|(?<=\s)(?:or|oder|ou|o|y|and|und|&)(?=\s))\s*", re.IGNORECASE)
# Also between a number and a note about it, in a second reading when the first finds no number: " - " (a dash
# between spaces: "(510) 555-0157 - mobile - best after 5pm"); in it a line break inside one number ("(510)\n555-0157")
# is a space.
_NOTE_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]\s+")
# Brazil's "0xx" (the caller's choice of long-distance carrier) before an area code: "0xx11 91234-5678".
_BRAZIL_CARRIER_CHOICE = re.compile(r"^\s*0\s*xx\s*(?=\d)", re.IGNORECASE)
# A label word after a number and before another ("510 555 0100 cell 510 555 0157"): the second number starts there.
_LABEL_BETWEEN_NUMBERS = re.compile(r"(?<=[\d)])\s+(?=[^\W\d_]{2,}\.?\s*:?\s*[+(\d])")
# A vanity number: digits first, then letters (at least three) and digits, joined by spaces, dots or dashes only.
_VANITY = re.compile(r"\+?[\d\s().\-]*\d[\s.\-)]*(?=(?:[^A-Za-z]*[A-Za-z]){3})[A-Za-z0-9][A-Za-z0-9\s.\-]*")


class PhoneCountryConflict(ValueError):
    """A phone refused because what its payload says about its country disagrees with it (or with itself): the
    message names the evidence and the number (`read_phone`)."""


class InvalidContact(ValueError):
    """A contact that cannot be sent; `errors` names every problem found, one sentence each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class DroppedField:
    """An optional field left out of a contact because its value is not valid: the contact is sent without it."""

    field: str
    error: str


@dataclass(frozen=True)
class Contact:
    """A validated contact. `None` means "the source did not provide it" and is never sent."""

    phone: str
    first: str | None = None
    last: str | None = None
    display_name: str | None = None
    email: str | None = None
    avatar: str | None = None
    custom: Mapping[str, str] | None = None
    # Tag ids (int) or tag names (str): the sync side turns names into ids before anything is sent.
    tags: tuple[int | str, ...] | None = None
    is_opted_out: bool | None = None
    assignee_id: int | None = None
    contact_id: str | None = None
    # Heymarket lists to put the contact on, by id (int) or by name (str, a list the bridge manages). Not a field of
    # Heymarket's contact: written with the lists endpoints once the contact is stored
    # (heymarket_bridge.sync.lists.rules).
    lists: tuple[int | str, ...] | None = None

    def __post_init__(self) -> None:
        # The one guard no path can bypass: E.164 allows at most 15 digits, and anything else is not a phone.
        if not isinstance(self.phone, str) or not re.fullmatch(r"[0-9]{1,15}", self.phone):
            raise ValueError(f"phone must be 1 to {MAX_PHONE_DIGITS} digits (E.164, without '+')")

    def to_dict(self) -> dict[str, Any]:
        """The provided fields only, JSON-ready (the queue message form)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name == "custom":
                value = dict(value)
            elif f.name in ("tags", "lists"):
                value = list(value)
            out[f.name] = value
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        """Rebuild a contact from `to_dict` output (trusted: it was validated before it was queued)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for name in ("tags", "lists"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)

    def tag_names(self) -> list[str]:
        """The tags given by name (the sync side resolves them to ids before the contact is sent)."""
        return [tag for tag in self.tags or () if isinstance(tag, str)]

    def to_heymarket(self) -> dict[str, Any]:
        """The v2 contact body: phone both as the field and as a phone channel, nothing the source left out.

        `lists` is not a contact field and is left out. A tag still given by name (only a dead letter can hold one:
        the sync side resolves names before it sends a contact) is shown as `{"tag": name}`, the shape in which
        `POST /v1/tag` takes a name, never as a `tag_id`.
        """
        body = self.to_dict()
        body.pop("lists", None)
        if self.tags is not None:
            body["tags"] = [{"tag_id": tag} if isinstance(tag, int) else {"tag": tag} for tag in self.tags]
        body["contact_channels"] = [{"channel_type": "phone", "channel_id": self.phone}]
        return body

    def to_heymarket_v1(self) -> dict[str, Any]:
        """The legacy v1 batch body: the documented v1 fields only (see `fields_v1_cannot_send`)."""
        return {name: value for name, value in self.to_dict().items() if name in V1_FIELDS}

    def fields_v1_cannot_send(self) -> list[str]:
        """Data fields the v1 batch endpoint does not document; contact_id is left out (v1 matches by phone), and so
        are lists (written with the v2 lists endpoints in either mode)."""
        return [name for name in self.to_dict() if name not in V1_FIELDS and name not in ("contact_id", "lists")]

    def merged_with(self, later: Contact) -> Contact:
        """Field by field, a value from `later` wins; custom fields merge key by key. An opt-out is the exception: a
        later opt-in does not undo it (only the person opts back in: heymarket_bridge.domain.consent)."""
        values = self.to_dict()
        newer = later.to_dict()
        if "custom" in newer and "custom" in values:
            newer["custom"] = {**values["custom"], **newer["custom"]}
        if self.is_opted_out is True:
            newer.pop("is_opted_out", None)
        values.update(newer)
        return Contact.from_dict(values)


@dataclass(frozen=True)
class PhoneReading:
    """A phone as read: its E.164 digits without '+', and a warning when the reading may not be what was meant."""

    digits: str
    warning: str | None = None


def normalise_phone(raw: Any, default_country: str, evidence: Sequence[CountryEvidence] = ()) -> str:
    """E.164 digits without '+', e.g. '(510) 555-1234' -> '15105551234'. Raises ValueError naming the problem.

    Takes what senders produce: text in any human format, an integer, a float that holds an integer (spreadsheet and
    pandas pipelines turn phones into 5105551234.0, Excel into 5.105551234E+09), `tel:` URIs, invisible formatting
    characters, international numbers written without their "+", labels and extensions in free text, and a one-item
    list (its item). Numbers the phone library rejects but that are still in common use are read the way their
    country's numbering plan maps them (see `_legacy_variants`). `evidence`: see `read_phone`.
    """
    return read_phone(raw, default_country, evidence).digits


def read_phone(raw: Any, default_country: str, evidence: Sequence[CountryEvidence] = ()) -> PhoneReading:
    """`normalise_phone`'s reading, in the country the payload names (`evidence`), else in `default_country`.

    How the country is decided (README, "How a phone's country is decided"):

    1. A number in international form ("+", "00", `default_country`'s international prefix: the US's "011",
       Australia's "0011", or that of the country the payload names, from phonenumbers' metadata: "0011 44 ..."
       with an Australian address) says its own country and is read as written (a national reading of the same digits in
       a named country is a refusal naming both). Evidence about the
       number itself (`of_number`: a phone widget's country code, the sender's international form of the same
       number) that names another calling code is a refusal naming both; evidence about the person (an address, a
       country field) is not: a +44 mobile with a US address is a traveller's or an expat's real number.
    2. A number written nationally is read in the country named by the evidence about the number if there is any,
       else by the evidence about the person. It must be a valid number there: if it is not (even if it would be in
       `default_country`), or the evidence at that level names two calling codes, or names no country the bridge
       can read, the phone is refused with a reason naming the evidence and the number; never guessed.
       11-15 digits without "+" that are valid only as an international number are kept if that number is in the
       named country, refused otherwise.
    3. With no evidence at all, the number is read in `default_country` (DefaultPhoneRegion); 11-15 digits without
       "+" that are not a number of it are read as an international number, with a warning when, short of one
       digit, they are also a number of `default_country`: a national number typed with a digit too many
       (31255504034: +31 25 550 4034, or the US 312 555 0403 and a stray 4). Such numbers are kept (about 40% of
       valid foreign numbers written without "+" are one deletion away from a valid US number, measured on
       phonenumbers' example numbers), with the warning saying how to remove the doubt.

    Free text is read as people write it: labels ("cell", "(Arbeit)", "Büro:") and an extension ("ext 12", "x12",
    "#12") are removed before the number is read; letters are read as digits only when the whole value is a vanity
    number ("1-800-FLOWERS"); of several numbers in one field ("home 510 555 0100; cell 510 555 0157") the first
    valid one is taken. No reading has more than 15 digits (E.164's maximum).
    """
    text = _phone_text(raw)
    first_problem: ValueError | None = None
    # The field as written, then (only if that finds no number) with notes after " - " apart and line breaks as spaces.
    readings = [_numbers_in(text)]
    other = text.replace("\r", " ").replace("\n", " ")
    if other != text or _NOTE_SEPARATOR.search(text):
        readings.append(_numbers_in(other) + [n for part in _NOTE_SEPARATOR.split(other) for n in _numbers_in(part)])
    for segments in readings:
        for segment in segments:
            try:
                if isinstance(segment, ValueError):
                    raise segment
                return _read_number(segment, default_country, evidence)
            except ValueError as exc:
                first_problem = first_problem or exc
    raise first_problem or ValueError("phone is not a phone number")


def _read_number(text: str, default_country: str, evidence: Sequence[CountryEvidence]) -> PhoneReading:
    """One number of a phone field (its labels and extension already removed), read as `read_phone` says."""
    from heymarket_bridge.domain.country import country_of

    if len(re.sub(r"\D", "", text)) > 2 * MAX_PHONE_DIGITS or len(text.strip()) > 40:
        raise ValueError("phone is too long")
    if _BRAZIL_CARRIER_CHOICE.match(text):
        named = _named_country(text, evidence)
        if (named[0].region if named is not None else default_country) != "BR":
            raise PhoneCountryConflict(
                f"phone {shown(text)} starts with 0xx, Brazil's carrier choice, but its country is not Brazil: send "
                "the phone with its + and country code"
            )
        text = _BRAZIL_CARRIER_CHOICE.sub("0", text)
    # Before "00" is read as "+": Australia dials 0011, and "0011 61..." is no +11 number.
    dialled = _after_international_prefix(text, default_country)
    if dialled is not None:
        # "011 52 55 1234 5679": dialled from DefaultCountry with its international prefix, a number in its own
        # country like one with "+", unless the named country reads the same digits as a number of its own.
        try:
            named = _named_country(text, evidence)
        except ValueError:  # no country to read the digits in: as with "+", the person's country does not matter
            named = None
        if named is not None and _strictly_valid(text, named[0].region) is not None:
            raise PhoneCountryConflict(
                f"phone {shown(text)} reads two ways: in {named[0].region}, the country named by {named[1]}, and "
                f"as dialled from {default_country} with its international prefix: send the phone with its + and "
                "country code"
            )
        return _read_number(dialled, default_country, evidence)
    dialled = _dialled_from_named_country(text, evidence, default_country)
    if dialled is not None:
        return _read_number(dialled, default_country, evidence)
    text = _dial_form(text)
    if text.startswith("+"):
        number = _valid_number(text, default_country)
        for item in evidence:
            country = country_of(item.value)
            if item.of_number and country is None and not _blank(item.value):
                raise PhoneCountryConflict(
                    f"phone {shown(text)} is a +{number.country_code} number, but {item.describe()} is not a country "
                    "code the bridge can read: correct it, or leave it empty"
                )
            if item.of_number and country is not None and country.code != number.country_code:
                raise PhoneCountryConflict(
                    f"phone {shown(text)} is a +{number.country_code} number, but {item.describe()} says its "
                    f"country code is +{country.code}: correct one of them"
                )
        return PhoneReading(_e164(number))
    named = _named_country(text, evidence)
    if named is None:
        return _read_in_default(text, default_country)
    country, where = named
    import phonenumbers

    try:
        number = _valid_number(text, country.region)
    except ValueError:
        number = None
    digits = re.sub(r"[\s().\-/]", "", text)
    if number is not None and number.country_code == country.code:
        _refuse_if_also_international(text, digits, country, where, default_country)
        return PhoneReading(_e164(number))
    if digits.isdigit() and 11 <= len(digits) <= MAX_PHONE_DIGITS:
        try:
            international = _valid_number(f"+{digits}", country.region)
        except ValueError:
            international = None
        if international is not None and international.country_code == country.code:
            return PhoneReading(_e164(international))
    elsewhere = ""
    try:
        other = phonenumbers.parse(text, default_country)
        if phonenumbers.is_valid_number(other):
            elsewhere = f" (it is a +{other.country_code} number as written in {default_country})"
    except phonenumbers.NumberParseException:
        pass
    raise PhoneCountryConflict(
        f"phone {shown(text)} is not a valid {country.region} (+{country.code}) number, the country named by "
        f"{where}{elsewhere}: send the phone with its + and country code, or correct the country"
    )


def _refuse_if_also_international(text: str, digits: str, country: Country, where: str, default_country: str) -> None:
    """Refuse a nationally written number of the named `country` that is just as much another country's number
    written with its calling code and no "+" ("1 415 555 2671" beside a Mexican or Austrian address: +1 415 555 2671
    as written), when that reading is `default_country`'s (the bridge's home region: a country calling code typed
    without "+" is how its users write their own numbers) or the named country's reading only holds through an
    old form its plan has since rewritten (Mexico's mobile "1"). Which of the two people is meant is a guess: the
    reason names both readings."""
    import phonenumbers

    if not (digits.isdigit() and 11 <= len(digits) <= MAX_PHONE_DIGITS):
        return
    international = _strictly_valid(f"+{digits}", None)
    if international is None or international.country_code == country.code:
        return
    as_written = _strictly_valid(text, country.region)
    home = phonenumbers.country_code_for_region(default_country) if default_country else 0
    if as_written is not None and international.country_code != home:
        return
    region = phonenumbers.region_code_for_number(international) or "?"
    raise PhoneCountryConflict(
        f"phone {shown(text)} has no + and reads two ways: in {country.region} (+{country.code}), the country "
        f"named by {where}, and as written, a +{international.country_code} ({region}) number: send the phone "
        "with its + and country code"
    )


def _after_international_prefix(text: str, region: str) -> str | None:
    """`text` as "+<digits>" when it starts with `region`'s international prefix (the US's 011, Australia's 0011,
    Japan's 010) and what follows is a valid number written with its country code; None otherwise."""
    import phonenumbers

    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    digits = re.sub(r"[\s().\-/]", "", text)
    if metadata is None or not metadata.international_prefix or not digits.isdigit():
        return None
    prefix = re.match(metadata.international_prefix, digits)
    if prefix is None or not prefix.end():
        return None
    dialled = f"+{digits[prefix.end() :]}"
    return dialled if _strictly_valid(dialled, None) is not None else None


def _dialled_from_named_country(text: str, evidence: Sequence[CountryEvidence], default_country: str) -> str | None:
    """`text` as "+<digits>" when it starts with the international prefix of the country the payload names (from
    phonenumbers' metadata: Australia's 0011, Japan's 010, Russia's 810) and what follows is a valid number with its
    country code, the way a person there writes a foreign number; None otherwise, and None when the same digits are
    also a valid national number of that country (then the national reading decides, as for any national number)."""
    try:
        named = _named_country(text, evidence)
    except ValueError:
        return None
    if named is None or named[0].region == default_country:
        return None
    dialled = _after_international_prefix(text, named[0].region)
    if dialled is None:
        return None
    # phonenumbers itself reads a region's international prefix: only another reading of the digits is national.
    national = _strictly_valid(text, named[0].region)
    if national is not None and _e164(national) != _e164(_strictly_valid(dialled, None)):
        return None
    return dialled


def _strictly_valid(text: str, region: str | None) -> Any:
    """The number `text` is in `region` when it is valid as written (no old form rewritten); None otherwise."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def _named_country(text: str, evidence: Sequence[CountryEvidence]) -> tuple[Country, str] | None:
    """The country a nationally written number is read in, and the evidence naming it (as a refusal quotes it); None
    when the payload names no country. Raises ValueError when it names two, or none the bridge can read."""
    from heymarket_bridge.domain.country import country_of

    about_number = [item for item in evidence if item.of_number and not _blank(item.value)]
    deciding = about_number or [item for item in evidence if not item.of_number and not _blank(item.value)]
    if not deciding:
        return None
    read = [(item, country) for item in deciding if (country := country_of(item.value)) is not None]
    unread = [item for item in deciding if country_of(item.value) is None]
    if unread:
        # Beside a country it can read too: which of them is the person's is a guess.
        named = ", ".join(item.describe() for item in unread)
        raise PhoneCountryConflict(
            f"phone {shown(text)} has no country code and {named} is not a country the bridge can read: send the "
            "phone with its + and country code, or the country as an ISO 3166 code (MX, DE)"
        )
    codes = {country.code for _, country in read}
    if len(codes) > 1:
        named = ", ".join(f"{item.describe()} (+{country.code})" for item, country in read)
        raise PhoneCountryConflict(
            f"phone {shown(text)} has no country code and the payload names two countries for it: {named}; send "
            "the phone with its + and country code"
        )
    item, country = read[0]
    return country, item.describe()


def _read_in_default(text: str, default_country: str) -> PhoneReading:
    import phonenumbers

    problem = "phone is not a phone number"
    for position, candidate in enumerate((text, *_fallbacks(text))):
        try:
            number = phonenumbers.parse(candidate, default_country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return PhoneReading(_e164(number), _typo_warning(number, default_country) if position else None)
        for legacy in _legacy_variants(number):
            if phonenumbers.is_valid_number(legacy):
                _refuse_if_also_international(
                    text, re.sub(r"[\s().\-/]", "", text), _home(default_country), "DefaultPhoneRegion", ""
                )
                return PhoneReading(_e164(legacy))
        problem = "phone is not a valid number for its country"
    raise ValueError(problem)


def _home(region: str) -> Country:
    import phonenumbers

    from heymarket_bridge.domain.country import Country

    return Country(region, phonenumbers.country_code_for_region(region))


def _valid_number(text: str, region: str) -> Any:
    """The number `text` is in `region` (or its own, written with +), valid or mapped from a legacy form; raises
    ValueError when it is neither."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone is not a phone number") from exc
    if phonenumbers.is_valid_number(number):
        return number
    for legacy in _legacy_variants(number):
        if phonenumbers.is_valid_number(legacy):
            return legacy
    raise ValueError("phone is not a valid number for its country")


def _e164(number: Any) -> str:
    import phonenumbers

    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    if len(digits) > MAX_PHONE_DIGITS:
        raise ValueError(f"phone has more than {MAX_PHONE_DIGITS} digits (E.164's maximum)")
    return digits


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], [""], [None])


def _typo_warning(number: Any, default_country: str) -> str | None:
    """Why an international reading of digits written without "+" is in doubt, or None when no digit deleted from
    them gives a valid number of `default_country` (the number names no one: the text only says where it is from)."""
    import phonenumbers

    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    home = phonenumbers.country_code_for_region(default_country)
    for cut in range(len(digits)):
        try:
            national = phonenumbers.parse(digits[:cut] + digits[cut + 1 :], default_country)
        except phonenumbers.NumberParseException:
            continue
        if national.country_code == home and phonenumbers.is_valid_number(national):
            region = phonenumbers.region_code_for_number(number) or "?"
            return (
                f"phone has {len(digits)} digits without a +, too many for a {default_country} number: it was read "
                f"as an international number (+{number.country_code}, {region}), but with one digit fewer it is a "
                f"{default_country} number; send it with its + (or fix the extra digit) to remove the doubt"
            )
    return None


def phone_parses(raw: Any, default_country: str, evidence: Sequence[CountryEvidence] = ()) -> bool:
    """Whether `raw` is a phone number `read_phone` accepts with this evidence (for sources choosing among
    candidate answers)."""
    try:
        read_phone(raw, default_country, evidence)
    except ValueError:
        return False
    return True


def single(value: Any) -> Any:
    """A one-item list as its item (Google Forms' Apps Script `e.namedValues` sends every answer as one), else the
    value as given: for every field that holds one value."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _phone_text(raw: Any) -> str:
    raw = single(raw)
    if isinstance(raw, bool):
        raise ValueError("phone must be text or a number, not true or false")
    if isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float):
        if not math.isfinite(raw) or not raw.is_integer() or raw <= 0:
            raise ValueError("phone is not a phone number")
        text = str(int(raw))
    elif isinstance(raw, str):
        text = raw
    else:
        raise ValueError("phone must be text or a number")
    if len(text) > MAX_RAW_TEXT:
        raise ValueError("phone is too long")
    # Invisible format characters (left-to-right marks, zero-width spaces) come with numbers copied from apps.
    text = without_format_characters(text).strip()
    if len(text) > MAX_PHONE_TEXT:
        raise ValueError("phone is too long")
    if not text:
        raise ValueError("phone is empty")
    if re.fullmatch(r"\+?\d+\.0+", text):  # a float written out as text (CSV exports)
        text = text.split(".", 1)[0]
    elif re.fullmatch(r"\d(?:\.\d+)?[eE]\+?\d{1,2}", text):  # Excel's scientific notation
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise ValueError("phone is not a phone number") from exc
        if value != value.to_integral_value():
            raise ValueError("phone is not a phone number")
        text = str(int(value))
    return text


def _dial_form(text: str) -> str:
    """A number as the phone library reads it: without a `tel:` scheme, with "00" (the international prefix most of
    the world dials) written as "+"."""
    text = text.strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    return text


def _numbers_in(text: str) -> list[str | ValueError]:
    """The numbers a phone field holds, in order, each without its labels and extension (or, for a part holding a
    word that is not a label, the ValueError naming it); the whole text when it is a vanity number."""
    if _is_vanity(text):
        return [text]
    # "1 800 FLOWERS (cell)", "1-800-FLOWERS ext 12": a vanity number with a label or an extension.
    bare = _EXTENSION.sub("", _WORDS_IN_BRACKETS.sub(" ", text)).strip()
    if bare != text.strip() and _is_vanity(bare) and not _someone_elses_label(text):
        return [bare]
    parts = [part for part in _SEPARATORS.split(text) if part and part.strip()]
    numbers: list[str | ValueError] = []
    for part in parts:
        for piece in _LABEL_BETWEEN_NUMBERS.split(part):
            try:
                cleaned = _without_labels(piece)
            except ValueError as exc:
                numbers.append(exc)
                continue
            if cleaned:
                numbers.append(cleaned)
    return numbers


def _without_labels(text: str) -> str:
    """`text` without labels in parentheses, label words and a trailing extension; raises ValueError naming a word
    that is none of them (a phone is never read from words: "+49 30 1234567 (Arbeit)" is not a vanity number)."""
    text = _dial_form(text) if text.strip()[:4].lower() == "tel:" else text
    marked = _someone_elses_label(text)
    if marked is not None:
        # "510 555 0157 (Mom)": a note saying whose number it is, not a label to throw away.
        raise ValueError(f"phone is marked {shown(marked)}: the number of someone other than the contact")
    text = _EXTENSION.sub("", _WORDS_IN_BRACKETS.sub(" ", text))
    carrier_choice = _BRAZIL_CARRIER_CHOICE.match(text)
    prefix, text = (carrier_choice.group(), text[carrier_choice.end() :]) if carrier_choice else ("", text)
    kept: list[str] = []
    position = 0
    for word in _WORD.finditer(text):
        kept.append(text[position : word.start()])
        position = word.end()
        if _fold_label(word.group()) not in _LABELS:
            raise ValueError(
                f"phone has the word {shown(word.group())}, which is not part of a number or a label such as cell, "
                "home, work or ext"
            )
    kept.append(text[position:])
    # A colon or dash left where a label was ("cell: 510...", "Büro - 030...").
    return prefix + re.sub(r"^[\s:\-\u2013.]+", "", "".join(kept)).strip()


def _someone_elses_label(text: str) -> str | None:
    """The first label in brackets that says the number is someone else's ("(Mom)", "(Sekretariat)"), if any."""
    from heymarket_bridge.ingest.sources.common import about_someone_else

    return next((bracket for bracket in _WORDS_IN_BRACKETS.findall(text) if about_someone_else(bracket)), None)


def _is_vanity(text: str) -> bool:
    """A number spelt partly in letters ("1-800-FLOWERS", "0800 KAUFEN"): digits first (fewer than a whole number),
    then letters and digits, at most 15 of them in all, and no word a label."""
    form = _dial_form(text)
    if not _VANITY.fullmatch(form) or any(_fold_label(word.group()) in _LABELS for word in _WORD.finditer(form)):
        return False
    before_letters = re.split(r"[A-Za-z]", form, maxsplit=1)[0]
    return sum(ch.isdigit() for ch in before_letters) <= 7 and sum(ch.isalnum() for ch in form) <= MAX_PHONE_DIGITS


def _fold_label(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _fallbacks(text: str) -> list[str]:
    """Other readings of a number that is not valid as written: an international number without its "+"."""
    digits = re.sub(r"[\s().\-/]", "", text)
    if digits.isdigit() and 11 <= len(digits) <= 15:
        return [f"+{digits}"]
    return []


def _legacy_variants(number: Any) -> list[Any]:
    """Numbers still in common use that their country's plan has since rewritten, in today's form.

    - Mexico: mobiles were dialled from abroad as +52 1 + 10 digits until the 2019 plan dropped the 1, and at home
      with the prefixes 044 (local) and 045 (long distance) + 10 digits (the phone library strips the 0).
    - Brazil: mobiles got a leading 9 (2012-2016); the old 8-digit form, 6-9 first, maps to 9 + the 8 digits.
    """
    import phonenumbers

    national = str(number.national_number)
    variants: list[str] = []
    if number.country_code == 52 and len(national) == 11 and national.startswith("1"):
        variants.append(national[1:])
    if number.country_code == 52 and len(national) == 12 and national[:2] in ("44", "45"):
        variants.append(national[2:])
    if number.country_code == 55 and len(national) == 10 and national[2] in "6789":
        variants.append(national[:2] + "9" + national[2:])
    return [phonenumbers.PhoneNumber(country_code=number.country_code, national_number=int(v)) for v in variants]


def _number_text(raw: Any) -> str | None:
    """An int, or a float holding an int, as its digits; None for anything else."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float) and math.isfinite(raw):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    return None


def _text(name: str, raw: Any, errors: list[str]) -> str | None:
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else _number_text(raw)
    if text is None:
        errors.append(f"{name} must be text")
        return None
    text = text.strip()
    if len(text) > MAX_TEXT:
        errors.append(f"{name} is longer than {MAX_TEXT} characters")
        return None
    if (problem := _unsendable(text)) is not None:
        errors.append(f"{name} {problem}")
        return None
    return text or None


def _unsendable(text: str) -> str | None:
    """Why `text` cannot be queued, or None when it can."""
    found = _UNSENDABLE.search(text)
    return None if found is None else f"contains a character that cannot be sent (U+{ord(found.group()):04X})"


def _email(raw: Any, errors: list[str]) -> str | None:
    text = _text("email", raw, errors)
    if text is None:
        return None
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    if len(text) > 254 or not _EMAIL.match(text):
        errors.append("email is not a valid address")
        return None
    return text


def _int(name: str, raw: Any, errors: list[str]) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, list) and len(raw) == 1:  # a single choice, as forms send it
        raw = raw[0]
    if isinstance(raw, bool):
        errors.append(f"{name} must be an integer")
        return None
    if isinstance(raw, int) and abs(raw) < 10**18:
        return raw
    if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer() and abs(raw) < 10**18:
        return int(raw)
    if isinstance(raw, str) and re.fullmatch(r"-?\d{1,18}(?:\.0+)?", raw.strip()):
        return int(raw.strip().split(".", 1)[0])
    errors.append(f"{name} must be an integer")
    return None


def _bool(name: str, raw: Any, errors: list[str]) -> bool | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, list) and len(raw) == 1:  # a ticked checkbox, as forms send it
        raw = raw[0]
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw)
    if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
        return raw.strip().lower() in _TRUE
    errors.append(f"{name} must be true or false")
    return None


def segment_items(raw: Any) -> list[Any] | None:
    """The tags or lists a sender meant: a list, one id or name, or several joined in one string ("3,7", "VIP; Gold").

    An item of a list of two or more is split only when it joins ids ("3,7"): a name inside such a JSON array may
    hold a comma. A one-item list is its item (Apps Script's `e.namedValues` sends every answer as one), split as a
    single string is.
    Reading stops past MAX_SEGMENT_ITEMS items (the field is then refused): the list returned is then longer.
    """
    raw = single(raw) if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], str) else raw
    if isinstance(raw, str):
        return _joined_items(raw)
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return [raw]
    if not isinstance(raw, list):
        return None
    items: list[Any] = []
    for item in raw:
        if len(items) > MAX_SEGMENT_ITEMS:
            break
        parts = _joined_items(item) if isinstance(item, str) else []
        if len(parts) > 1 and all(_NUMBER.fullmatch(part.strip()) for part in parts):
            items.extend(parts)
        else:
            items.append(item)
    return items


def _joined_items(text: str) -> list[str]:
    """The items of a text joined with separators, blanks left out, at most MAX_SEGMENT_ITEMS + 1 of them."""
    items = (match.group() for match in _SEPARATED.finditer(text) if not match.group().isspace())
    return list(itertools.islice(items, MAX_SEGMENT_ITEMS + 1))


def _segment(what: str, value: Any) -> int | str | None:
    """One tag or list as given: a positive id (an integer, or text that is a number), or a name (any other text)."""
    if isinstance(value, str):
        # A BOM from a spreadsheet export ("\ufeffVIP"), a zero-width space: invisible, so not part of the name.
        value = without_format_characters(value, keep_joiners=True)
    if isinstance(value, str) and not _NUMBER.fullmatch(value.strip()):
        name = value.strip()
        if not fold_name(name) or len(name) > MAX_TEXT or _unsendable(name) is not None:
            return None
        return name
    number = _int(what, value, [])
    return number if number is not None and number > 0 else None


def _segments(
    name: str, raw: Any, errors: list[str], *, limit: int, objects: tuple[str, str] | None = None
) -> tuple[int | str, ...] | None:
    """Ids and names, each once (a name once whatever its case and spacing), at most `limit` of them.

    `objects` names the keys of an object item's id and name (`{"tag_id": 3}`, `{"tag": "VIP"}`).
    """
    if raw is None:
        return None
    items = segment_items(raw)
    if items is None:
        errors.append(f"{name} must be a list of {name[:-1]} ids or names")
        return None
    if len(items) > MAX_SEGMENT_ITEMS:
        errors.append(f"{name} holds more than {MAX_SEGMENT_ITEMS} items")
        return None
    found: dict[Any, int | str] = {}
    for item in items:
        value = item
        if isinstance(item, dict) and objects is not None:
            value = item.get(objects[0], item.get(objects[1]))
        if isinstance(value, str) and len(value) > MAX_RAW_TEXT:
            errors.append(f"{name} must be {name[:-1]} ids or names of at most {MAX_TEXT} characters")
            continue
        segment = None if isinstance(value, dict | list) else _segment(name, value)
        if segment is None:
            errors.append(f"{name} must be positive {name[:-1]} ids or names, not {shown(value)}")
            continue
        found.setdefault(fold_name(segment) if isinstance(segment, str) else segment, segment)
    if len(found) > limit:
        errors.append(f"{name} has {len(found)} {name}; {_limit_reason(name, limit)}")
        return None
    return tuple(found.values()) or None


def _limit_reason(name: str, limit: int) -> str:
    if name == "tags":
        return f"Heymarket allows at most {limit}"
    return f"the bridge puts a contact on at most {limit} per message"


def fold_name(name: str) -> str:
    """A tag or list name as compared (the one place names are folded): case, runs of spaces, invisible format
    characters (a BOM, a zero-width space or joiner) and Unicode spelling do not matter ("Spring  open House";
    "Café" composed or as "e" and a combining accent; "VIP" in full-width letters): NFKC, case-folded, NFKC again."""
    visible = unicodedata.normalize("NFKC", without_format_characters(name))
    return " ".join(unicodedata.normalize("NFKC", visible.casefold()).split())


def without_format_characters(text: str, *, keep_joiners: bool = False) -> str:
    """`text` without the invisible format characters (Unicode category Cf: a BOM, zero-width spaces, direction
    marks) that copying from apps and spreadsheet exports leave in it. `keep_joiners` keeps the zero-width joiner and
    non-joiner, which change how the characters around them look (emoji sequences, Persian words)."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf" or (keep_joiners and ch in _JOINERS))


def _tags(raw: Any, errors: list[str]) -> tuple[int | str, ...] | None:
    return _segments("tags", raw, errors, limit=MAX_TAGS, objects=("tag_id", "tag"))


def _lists(raw: Any, errors: list[str]) -> tuple[int | str, ...] | None:
    return _segments("lists", raw, errors, limit=MAX_LISTS)


def _custom(raw: Any, errors: list[str]) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        errors.append("custom must be an object of custom-field id (or title) to value")
        return None
    if len(raw) > MAX_CUSTOM_FIELDS:
        errors.append(f"custom has more than {MAX_CUSTOM_FIELDS} fields")
        return None
    custom: dict[str, str] = {}
    for key, value in raw.items():
        if len(str(key)) > MAX_TEXT:  # refused before it is quoted, searched or normalised anywhere
            errors.append(f"custom has a field id or title longer than {MAX_TEXT} characters")
            continue
        value = single(value)
        if value is None or value == "":
            continue
        if isinstance(value, dict | list):
            errors.append(f"custom field {shown(str(key))} must be a text, number or boolean")
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else (_number_text(value) or str(value))
        if len(text) > 4096:
            errors.append(f"custom field {shown(str(key))} is longer than 4096 characters")
            continue
        if (problem := _unsendable(str(key)) or _unsendable(text)) is not None:
            errors.append(f"custom field {shown(str(key))} {problem}")
            continue
        custom[str(key)] = text
    return custom or None


def _contact_id(raw: Any, errors: list[str]) -> str | None:
    if raw is None or raw == "":
        return None
    try:
        return str(uuid.UUID(str(raw).strip()))
    except ValueError:
        errors.append("contact_id must be a UUID")
        return None


def _avatar(raw: Any, errors: list[str]) -> str | None:
    text = _text("avatar", raw, errors)
    if text is not None and not re.match(r"^https?://\S+$", text):
        errors.append("avatar must be an http(s) URL")
        return None
    return text


_OPTIONAL_FIELDS: tuple[tuple[str, Callable[[Any, list[str]], Any]], ...] = (
    ("first", lambda raw, errors: _text("first", raw, errors)),
    ("last", lambda raw, errors: _text("last", raw, errors)),
    ("display_name", lambda raw, errors: _text("display_name", raw, errors)),
    ("email", _email),
    ("avatar", _avatar),
    ("custom", _custom),
    ("tags", _tags),
    ("is_opted_out", lambda raw, errors: _bool("is_opted_out", raw, errors)),
    ("assignee_id", lambda raw, errors: _int("assignee_id", raw, errors)),
    ("contact_id", _contact_id),
    ("lists", _lists),
)


def read_contact(raw: Any, default_country: str) -> tuple[Contact, list[DroppedField], list[str]]:
    """A contact from one source submission, the optional fields left out because their value is not valid, and
    warnings about values kept (a phone read as international, see `read_phone`).

    Only the phone decides whether there is a contact: raises InvalidContact when the submission is not an object
    or its phone is missing or not a number (naming the other problems too). An invalid optional field (an email, a
    tag) costs the contact nothing but that field, which is named in the returned list.
    """
    if not isinstance(raw, dict):
        raise InvalidContact(["contact must be a JSON object"])
    raw = {name: _one_value(name, value) for name, value in raw.items()}
    values: dict[str, Any] = {}
    dropped: list[DroppedField] = []
    for name, read in _OPTIONAL_FIELDS:
        errors: list[str] = []
        values[name] = read(raw.get(name), errors)
        dropped.extend(DroppedField(name, error) for error in errors)
    phone = raw.get("phone")
    if phone is None or (isinstance(phone, str) and not phone.strip()):
        raise InvalidContact(["phone is required", *(item.error for item in dropped)])
    try:
        reading = read_phone(phone, default_country, contact_evidence(raw))
    except ValueError as exc:
        raise InvalidContact([str(exc), *(item.error for item in dropped)]) from exc
    return Contact(phone=reading.digits, **values), dropped, [reading.warning] if reading.warning else []


def contact_evidence(raw: Mapping[str, Any]) -> list[CountryEvidence]:
    """What a submission says about its phone's country: the evidence its source found ("country_evidence"), and a
    `country` or `country_code` field (the generic source's, or a mapping's), both about the person."""
    from heymarket_bridge.domain.country import CountryEvidence, evidence_of

    given = [CountryEvidence(name, single(raw[name])) for name in COUNTRY_FIELDS if raw.get(name) is not None]
    return [*evidence_of(raw.get("country_evidence")), *given]


def _one_value(name: str, value: Any) -> Any:
    """A field's value with a one-item list read as its item, for every field that holds one value (tags and lists
    are lists already: `segment_items` reads a one-item list, and splits its item when it joins ids)."""
    if name in ("tags", "lists", "custom", "country_evidence"):
        return value
    return single(value)


def parse_contact(raw: Any, default_country: str) -> Contact:
    """Validate and normalise one contact strictly; raises InvalidContact naming every problem, phone or not."""
    contact, dropped, _ = read_contact(raw, default_country)
    if dropped:
        raise InvalidContact([item.error for item in dropped])
    return contact
