"""What the numbering plans say about a number, through phonenumbers' metadata: whether it is valid as written or
through an old form its country has since rewritten, its E.164 digits, a country's international prefix, and
whether digits written without "+" could be a mistyped national number. Pure; phonenumbers is imported where a
phone is read (the ingest side), not by the sync function."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from heymarket_bridge.domain.e164 import MAX_PHONE_DIGITS

if TYPE_CHECKING:
    from heymarket_bridge.domain.country import Country


def after_international_prefix(text: str, region: str) -> str | None:
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
    return dialled if strictly_valid(dialled, None) is not None else None


def strictly_valid(text: str, region: str | None) -> Any:
    """The number `text` is in `region` when it is valid as written (no old form rewritten); None otherwise."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def home_country(region: str) -> Country:
    import phonenumbers

    from heymarket_bridge.domain.country import Country

    return Country(region, phonenumbers.country_code_for_region(region))


def valid_number(text: str, region: str) -> Any:
    """The number `text` is in `region` (or its own, written with +), valid or mapped from a legacy form; raises
    ValueError when it is neither."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("phone is not a phone number") from exc
    if phonenumbers.is_valid_number(number):
        return number
    for legacy in legacy_variants(number):
        if phonenumbers.is_valid_number(legacy):
            return legacy
    raise ValueError("phone is not a valid number for its country")


def e164_digits(number: Any) -> str:
    import phonenumbers

    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    if len(digits) > MAX_PHONE_DIGITS:
        raise ValueError(f"phone has more than {MAX_PHONE_DIGITS} digits (E.164's maximum)")
    return digits


def typo_warning(number: Any, default_country: str) -> str | None:
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


def international_readings(text: str) -> list[str]:
    """Other readings of a number that is not valid as written: an international number without its "+"."""
    digits = re.sub(r"[\s().\-/]", "", text)
    if digits.isdigit() and 11 <= len(digits) <= 15:
        return [f"+{digits}"]
    return []


def legacy_variants(number: Any) -> list[Any]:
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
