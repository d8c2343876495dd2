"""Country evidence: what a payload says about the country of a phone, and how a value naming a country is read. Pure.

A payload names a country in many shapes: an ISO 3166-1 code ("MX", "mex"), a name in English or in the country's
own language ("Mexico", "México", "Deutschland"), a calling code ("52", "+52": Jotform's phone widget), or a phone
in international form (HubSpot's `hs_calculated_mobile_number`). `country_of` reads each into a `Country` (region
and calling code) or None when it cannot tell which country is meant. Names are read from a table of the common
names of about 80 countries; any country phonenumbers knows is read from its ISO code or its calling code.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.domain.records import record
from heymarket_bridge.domain.text import shown

# Region -> names and ISO 3166-1 alpha-3 code, in English and the country's own languages (compared without case,
# accents, spaces or punctuation).
_NAMES = {
    "US": "usa|us|unitedstates|unitedstatesofamerica|america|estadosunidos|eeuu|etatsunis|vereinigtestaaten",
    "CA": "can|canada",
    "MX": "mex|mexico|mejico|mexique|mexiko|estadosunidosmexicanos",
    "GB": "gbr|uk|unitedkingdom|greatbritain|britain|england|scotland|wales|northernireland|grossbritannien",
    "IE": "irl|ireland|eire",
    "DE": "deu|germany|deutschland|allemagne|alemania|germania",
    "AT": "aut|austria|osterreich|oesterreich|autriche",
    "CH": "che|switzerland|schweiz|suisse|svizzera|suiza",
    "FR": "fra|france|frankreich|francia",
    "ES": "esp|spain|espana|spanien|espagne",
    "PT": "prt|portugal",
    "IT": "ita|italy|italia|italien|italie",
    "NL": "nld|netherlands|thenetherlands|holland|nederland|niederlande|paysbas",
    "BE": "bel|belgium|belgie|belgique|belgien",
    "LU": "lux|luxembourg|luxemburg",
    "DK": "dnk|denmark|danmark|danemark",
    "SE": "swe|sweden|sverige|schweden",
    "NO": "nor|norway|norge|norwegen",
    "FI": "fin|finland|suomi",
    "IS": "isl|iceland|island",
    "PL": "pol|poland|polska|polen",
    "CZ": "cze|czechia|czechrepublic|cesko|tschechien",
    "SK": "svk|slovakia|slovensko",
    "HU": "hun|hungary|magyarorszag|ungarn",
    "RO": "rou|romania",
    "BG": "bgr|bulgaria",
    "GR": "grc|greece|hellas|ellada|griechenland",
    "HR": "hrv|croatia|hrvatska|kroatien",
    "SI": "svn|slovenia|slovenija",
    "RS": "srb|serbia|srbija",
    "UA": "ukr|ukraine|ukraina",
    "RU": "rus|russia|russianfederation|rossiya",
    "TR": "tur|turkey|turkiye|turkei",
    "IL": "isr|israel",
    "AE": "are|uae|unitedarabemirates",
    "SA": "sau|saudiarabia",
    "EG": "egy|egypt",
    "ZA": "zaf|southafrica",
    "NG": "nga|nigeria",
    "KE": "ken|kenya",
    "MA": "mar|morocco|maroc",
    "IN": "ind|india|bharat",
    "PK": "pak|pakistan",
    "BD": "bgd|bangladesh",
    "CN": "chn|china|prc|peoplesrepublicofchina",
    "HK": "hkg|hongkong",
    "TW": "twn|taiwan",
    "JP": "jpn|japan|nippon|nihon",
    "KR": "kor|southkorea|korea|republicofkorea",
    "SG": "sgp|singapore",
    "MY": "mys|malaysia",
    "TH": "tha|thailand",
    "VN": "vnm|vietnam",
    "PH": "phl|philippines|pilipinas",
    "ID": "idn|indonesia",
    "AU": "aus|australia",
    "NZ": "nzl|newzealand|aotearoa",
    "BR": "bra|brazil|brasil|brasilien",
    "AR": "arg|argentina",
    "CL": "chl|chile",
    "CO": "col|colombia",
    "PE": "per|peru",
    "VE": "ven|venezuela",
    "EC": "ecu|ecuador",
    "UY": "ury|uruguay",
    "PY": "pry|paraguay",
    "BO": "bol|bolivia",
    "CR": "cri|costarica",
    "PA": "pan|panama",
    "GT": "gtm|guatemala",
    "SV": "slv|elsalvador",
    "HN": "hnd|honduras",
    "NI": "nic|nicaragua",
    "DO": "dom|dominicanrepublic|republicadominicana",
    "PR": "pri|puertorico",
    "JM": "jam|jamaica",
    "CU": "cub|cuba",
}
_BY_NAME = {name: region for region, names in _NAMES.items() for name in names.split("|")}
# Country names given with the letters of a code: "UK" is Great Britain's common name, never Ukraine's code (UA).
_CODE_ALIASES = {"UK": "GB", "EL": "GR"}


@record
class Country:
    """A country as phones know it: the region phonenumbers names it by (ISO 3166-1 alpha-2) and its calling code."""

    region: str
    code: int


@record
class CountryEvidence:
    """One thing a payload says about the country of its phone: the value as given, the field it was in (named in a
    refusal), and whether it is about this number itself (`of_number`: a phone widget's country code, the sender's
    international form of the same number) or about the person (an address's country, a country field)."""

    field: str
    value: Any
    of_number: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "value": self.value, "of_number": self.of_number}

    @classmethod
    def from_any(cls, raw: Any) -> CountryEvidence | None:
        """Evidence from its `to_dict` form (what sources put in a submission's "country_evidence"); None otherwise."""
        if isinstance(raw, CountryEvidence):
            return raw
        if not isinstance(raw, Mapping) or not isinstance(raw.get("field"), str):
            return None
        return cls(raw["field"], raw.get("value"), raw.get("of_number") is True)

    def describe(self) -> str:
        """The evidence as a refusal names it: `MailingCountryCode 'MX'`, or `hs_calculated_mobile_number (a +52
        number)` for a phone, whose digits are never repeated."""
        country = country_of(self.value)
        if country is not None and _looks_like_phone(self.value):
            return f"{self.field} (a +{country.code} number, {country.region})"
        return f"{self.field} {shown(self.value)}"


def country_of(value: Any) -> Country | None:
    """The country a value names: an ISO 3166-1 alpha-2 or alpha-3 code, a common name, a calling code ("52", "+52",
    1-3 digits), or a phone in international form; None when it names none the bridge can tell (a one-item list is
    its item)."""
    import phonenumbers

    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 60:
        return None
    if _looks_like_phone(text):
        return _country_of_number(text)
    code = re.fullmatch(r"\+?\s*(\d{1,3})", text)
    if code is not None:
        region = phonenumbers.region_code_for_country_code(int(code.group(1)))
        return None if region in ("ZZ", "001") else Country(region, int(code.group(1)))
    upper = text.upper()
    named = _CODE_ALIASES.get(upper, upper) if len(upper) == 2 else _BY_NAME.get(_folded(text))
    if named is None or named not in phonenumbers.SUPPORTED_REGIONS:
        return None
    return Country(named, phonenumbers.country_code_for_region(named))


def _country_of_number(text: str) -> Country | None:
    """The country of a phone in international form; None when it has none (a non-geographic +800, +882)."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    region = phonenumbers.region_code_for_number(number)
    calling = number.country_code
    return Country(region, calling) if calling and region and region not in ("ZZ", "001") else None


def evidence_of(raw: Any) -> list[CountryEvidence]:
    """The evidence items of a submission's "country_evidence" value (a list of `to_dict` forms); others ignored."""
    items: Sequence[Any] = raw if isinstance(raw, list | tuple) else []
    return [ev for ev in (CountryEvidence.from_any(item) for item in items) if ev is not None]


def _looks_like_phone(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\s*\+\s*\d[\d\s().\-]{5,}", value))


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha() and ch.isascii())
