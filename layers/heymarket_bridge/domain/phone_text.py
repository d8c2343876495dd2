"""A phone field's text as people write it: numbers, spreadsheet floats, `tel:` URIs, labels ("cell", "(Arbeit)",
"Büro:"), extensions ("ext 12", "x12"), several numbers in one field, notes after a dash, vanity numbers
("1-800-FLOWERS"). Turns the field into the candidate numbers heymarket_bridge.domain.phone reads. Pure."""

from __future__ import annotations

import math
import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

from heymarket_bridge.domain.e164 import MAX_PHONE_DIGITS
from heymarket_bridge.domain.fields import MAX_RAW_TEXT, single
from heymarket_bridge.domain.text import shown, without_format_characters

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
NOTE_SEPARATOR = re.compile(r"\s+[-\u2013\u2014]\s+")


# Brazil's "0xx" (the caller's choice of long-distance carrier) before an area code: "0xx11 91234-5678".
BRAZIL_CARRIER_CHOICE = re.compile(r"^\s*0\s*xx\s*(?=\d)", re.IGNORECASE)


# A label word after a number and before another ("510 555 0100 cell 510 555 0157"): the second number starts there.
_LABEL_BETWEEN_NUMBERS = re.compile(r"(?<=[\d)])\s+(?=[^\W\d_]{2,}\.?\s*:?\s*[+(\d])")


# A vanity number: digits first, then letters (at least three) and digits, joined by spaces, dots or dashes only.
_VANITY = re.compile(r"\+?[\d\s().\-]*\d[\s.\-)]*(?=(?:[^A-Za-z]*[A-Za-z]){3})[A-Za-z0-9][A-Za-z0-9\s.\-]*")


def phone_text(raw: Any) -> str:
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


def dial_form(text: str) -> str:
    """A number as the phone library reads it: without a `tel:` scheme, with "00" (the international prefix most of
    the world dials) written as "+"."""
    text = text.strip()
    if text[:4].lower() == "tel:":
        text = text[4:].strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    return text


def numbers_in(text: str) -> list[str | ValueError]:
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
    text = dial_form(text) if text.strip()[:4].lower() == "tel:" else text
    marked = _someone_elses_label(text)
    if marked is not None:
        # "510 555 0157 (Mom)": a note saying whose number it is, not a label to throw away.
        raise ValueError(f"phone is marked {shown(marked)}: the number of someone other than the contact")
    text = _EXTENSION.sub("", _WORDS_IN_BRACKETS.sub(" ", text))
    carrier_choice = BRAZIL_CARRIER_CHOICE.match(text)
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
    # Imported where a phone is read (the ingest side): the sync function, which reads none, never loads the words.
    from heymarket_bridge.domain.phone_owner import about_someone_else

    return next((bracket for bracket in _WORDS_IN_BRACKETS.findall(text) if about_someone_else(bracket)), None)


def _is_vanity(text: str) -> bool:
    """A number spelt partly in letters ("1-800-FLOWERS", "0800 KAUFEN"): digits first (fewer than a whole number),
    then letters and digits, at most 15 of them in all, and no word a label."""
    form = dial_form(text)
    if not _VANITY.fullmatch(form) or any(_fold_label(word.group()) in _LABELS for word in _WORD.finditer(form)):
        return False
    before_letters = re.split(r"[A-Za-z]", form, maxsplit=1)[0]
    return sum(ch.isdigit() for ch in before_letters) <= 7 and sum(ch.isalnum() for ch in form) <= MAX_PHONE_DIGITS


def _fold_label(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
