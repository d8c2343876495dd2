"""Reading a phone: E.164 digits from what senders write, in the country the payload names (README, "How a phone's
country is decided"); (a phone number's digits, the one helper every part of the bridge uses to compare phones, is
heymarket_bridge.domain.e164's, which the sync function imports without this module's patterns and tables).
Pure. phonenumbers is imported where a phone is read (the ingest side), not by the sync function, which reads none."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.e164 import MAX_PHONE_DIGITS
from heymarket_bridge.domain.failures import PhoneCountryConflict
from heymarket_bridge.domain.phone_plans import (
    after_international_prefix,
    e164_digits,
    home_country,
    international_readings,
    legacy_variants,
    strictly_valid,
    typo_warning,
    valid_number,
)
from heymarket_bridge.domain.phone_text import (
    BRAZIL_CARRIER_CHOICE,
    NOTE_SEPARATOR,
    dial_form,
    numbers_in,
    phone_text,
)
from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import shown

if TYPE_CHECKING:
    from heymarket_bridge.domain.country import Country, CountryEvidence


@record
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
    country's numbering plan maps them (see `legacy_variants`). `evidence`: see `read_phone`.
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
    3. With no evidence at all, the number is read in `default_country` (DefaultCountry); 11-15 digits without
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
    text = phone_text(raw)
    first_problem: ValueError | None = None
    # The field as written, then (only if that finds no number) with notes after " - " apart and line breaks as spaces.
    readings = [numbers_in(text)]
    other = text.replace("\r", " ").replace("\n", " ")
    if other != text or NOTE_SEPARATOR.search(text):
        readings.append(numbers_in(other) + [n for part in NOTE_SEPARATOR.split(other) for n in numbers_in(part)])
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
    if len(re.sub(r"\D", "", text)) > 2 * MAX_PHONE_DIGITS or len(text.strip()) > 40:
        raise ValueError("phone is too long")
    if BRAZIL_CARRIER_CHOICE.match(text):
        text = _without_carrier_choice(text, default_country, evidence)
    # Before "00" is read as "+": Australia dials 0011, and "0011 61..." is no +11 number.
    dialled = _dialled_from_home(text, default_country, evidence)
    if dialled is None:
        dialled = _dialled_from_named_country(text, evidence, default_country)
    if dialled is not None:
        return _read_number(dialled, default_country, evidence)
    text = dial_form(text)
    if text.startswith("+"):
        return _read_international(text, default_country, evidence)
    named = _named_country(text, evidence)
    if named is None:
        return _read_in_default(text, default_country)
    return _read_in_named(text, named, default_country)


def _without_carrier_choice(text: str, default_country: str, evidence: Sequence[CountryEvidence]) -> str:
    """A number written with Brazil's "0xx" carrier choice, with "0" in its place; refused outside Brazil."""
    named = _named_country(text, evidence)
    if (named[0].region if named is not None else default_country) != "BR":
        raise PhoneCountryConflict(
            f"phone {shown(text)} starts with 0xx, Brazil's carrier choice, but its country is not Brazil: send "
            "the phone with its + and country code"
        )
    return BRAZIL_CARRIER_CHOICE.sub("0", text)


def _dialled_from_home(text: str, default_country: str, evidence: Sequence[CountryEvidence]) -> str | None:
    """`text` as "+<digits>" when it is dialled from `default_country` with its international prefix; None when it
    is not. Refused when the named country reads the same digits as a number of its own."""
    dialled = after_international_prefix(text, default_country)
    if dialled is None:
        return None
    # "011 52 55 1234 5679": dialled from DefaultCountry with its international prefix, a number in its own
    # country like one with "+", unless the named country reads the same digits as a number of its own.
    try:
        named = _named_country(text, evidence)
    except ValueError:  # no country to read the digits in: as with "+", the person's country does not matter
        named = None
    if named is not None and strictly_valid(text, named[0].region) is not None:
        raise PhoneCountryConflict(
            f"phone {shown(text)} reads two ways: in {named[0].region}, the country named by {named[1]}, and "
            f"as dialled from {default_country} with its international prefix: send the phone with its + and "
            "country code"
        )
    return dialled


def _read_international(text: str, default_country: str, evidence: Sequence[CountryEvidence]) -> PhoneReading:
    """A number written with "+": its own country, refused when the evidence about the number names another."""
    from heymarket_bridge.domain.country import country_of

    number = valid_number(text, default_country)
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
    return PhoneReading(e164_digits(number))


def _read_in_named(text: str, named: tuple[Country, str], default_country: str) -> PhoneReading:
    """A nationally written number read in the country the payload names (`named`: it and the evidence naming it);
    refused when it is no number there."""
    import phonenumbers

    country, where = named
    try:
        number = valid_number(text, country.region)
    except ValueError:
        number = None
    digits = re.sub(r"[\s().\-/]", "", text)
    if number is not None and number.country_code == country.code:
        _refuse_if_also_international(text, digits, country, where, default_country)
        return PhoneReading(e164_digits(number))
    if digits.isdigit() and 11 <= len(digits) <= MAX_PHONE_DIGITS:
        try:
            international = valid_number(f"+{digits}", country.region)
        except ValueError:
            international = None
        if international is not None and international.country_code == country.code:
            return PhoneReading(e164_digits(international))
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
    international = strictly_valid(f"+{digits}", None)
    if international is None or international.country_code == country.code:
        return
    as_written = strictly_valid(text, country.region)
    home = phonenumbers.country_code_for_region(default_country) if default_country else 0
    if as_written is not None and international.country_code != home:
        return
    region = phonenumbers.region_code_for_number(international) or "?"
    raise PhoneCountryConflict(
        f"phone {shown(text)} has no + and reads two ways: in {country.region} (+{country.code}), the country "
        f"named by {where}, and as written, a +{international.country_code} ({region}) number: send the phone "
        "with its + and country code"
    )


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
    dialled = after_international_prefix(text, named[0].region)
    if dialled is None:
        return None
    # phonenumbers itself reads a region's international prefix: only another reading of the digits is national.
    national = strictly_valid(text, named[0].region)
    if national is not None and e164_digits(national) != e164_digits(strictly_valid(dialled, None)):
        return None
    return dialled


def _named_country(text: str, evidence: Sequence[CountryEvidence]) -> tuple[Country, str] | None:
    """The country a nationally written number is read in, and the evidence naming it (as a refusal quotes it); None
    when the payload names no country. Raises ValueError when it names two, or none the bridge can read."""
    from heymarket_bridge.domain.country import country_of

    deciding = _deciding(evidence)
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


def _deciding(evidence: Sequence[CountryEvidence]) -> list[CountryEvidence]:
    """The evidence that decides a national number's country: about the number itself if any, else about the person
    (blank values left out)."""
    about_number = [item for item in evidence if item.of_number and not _blank(item.value)]
    return about_number or [item for item in evidence if not item.of_number and not _blank(item.value)]


def _read_in_default(text: str, default_country: str) -> PhoneReading:
    import phonenumbers

    problem = "phone is not a phone number"
    for position, candidate in enumerate((text, *international_readings(text))):
        try:
            number = phonenumbers.parse(candidate, default_country)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return PhoneReading(e164_digits(number), typo_warning(number, default_country) if position else None)
        for legacy in legacy_variants(number):
            if phonenumbers.is_valid_number(legacy):
                _refuse_if_also_international(
                    text, re.sub(r"[\s().\-/]", "", text), home_country(default_country), "DefaultCountry", ""
                )
                return PhoneReading(e164_digits(legacy))
        problem = "phone is not a valid number for its country"
    raise ValueError(problem)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], [""], [None])


def phone_parses(raw: Any, default_country: str, evidence: Sequence[CountryEvidence] = ()) -> bool:
    """Whether `raw` is a phone number `read_phone` accepts with this evidence (for sources choosing among
    candidate answers)."""
    try:
        read_phone(raw, default_country, evidence)
    except ValueError:
        return False
    return True
