"""How a sender's text may appear in the bridge's error texts, answers and logs. Pure.

Error texts end up in the answer, in the logs, and in the delivery table's saved answers. So:

- `shown(value)` is the only way an error text quotes a value the sender sent: emails and runs of digits (phones)
  are masked, what cannot be printed is escaped, and it is cut short;
- `printable(text)` makes any text safe to serialise anywhere: a lone surrogate (JSON's "\\ud800") or a control
  character becomes its escape, so no encoder (the log's, botocore's, the HTTP response's) can fail on it.
"""

from __future__ import annotations

import re
import reprlib
import unicodedata
from typing import Any

# An email address, or a run of digits with the separators phones are written with: both can identify a person.
# Each starts only where its run starts (the lookbehinds): a start inside a run fails wherever the run's own start
# failed, and trying every one of them made a 100 KB value without an "@" cost 15 s (quadratic); this way each
# character is looked at a bounded number of times.
_EMAIL = re.compile(r"(?<![^\s@\"'<>])[^\s@\"'<>]+@[^\s@\"'<>]+")
_DIGIT_RUN = re.compile(r"(?<!\d)\+?\d(?:[\s().\-/]*\d){5,}")
# How far past the quoted part masking looks, so that an email or a phone cut by the limit is still recognised and
# masked: an email is at most 64 + 1 + 255 characters (RFC 5321), a phone far less.
MASKING_MARGIN = 320
# Non-text values are quoted through a bounded repr: a large list or object is not written out whole to be cut.
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 400
# Digits an echoed run keeps: enough to find the value in the sender's data, not enough to dial it.
_KEPT_DIGITS = 2
SHOWN_CHARACTERS = 40


def printable(text: str) -> str:
    """`text` with every character that is not printable (lone surrogates, controls, format marks) escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def shown(value: Any, limit: int = SHOWN_CHARACTERS, quote: str = "'") -> str:
    """A sender's value quoted for an error text: 'a***@example.com', '********34', never the whole value.

    Emails keep their first character and domain; runs of 6 or more digits keep their last 2; the rest is escaped
    (`printable`) and cut to `limit` characters.
    """
    text = value if isinstance(value, str) else _REPR.repr(value)
    # Cut before any step runs: the cost is the limit's, not the value's (a sender may send a megabyte).
    window = limit + MASKING_MARGIN
    cut = len(text) > window
    text = printable(masked(text[:window]))
    if cut or len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{quote}{text}{quote}"


def masked(text: str) -> str:
    """`text` with emails ('a***@example.com') and runs of 6 or more digits ('********34') masked; linear in its
    length (callers cut it first: see `shown`)."""
    return _DIGIT_RUN.sub(_masked_digits, _EMAIL.sub(_masked_email, text))


def _masked_email(match: re.Match[str]) -> str:
    local, _, domain = match.group().partition("@")
    return f"{local[:1]}***@{domain}"


def _masked_digits(match: re.Match[str]) -> str:
    digits = [ch for ch in match.group() if ch.isdigit()]
    return "*" * (len(digits) - _KEPT_DIGITS) + "".join(digits[-_KEPT_DIGITS:])


# The zero-width non-joiner and joiner: format characters that are seen (they change the glyphs around them).
_JOINERS = frozenset("\u200c\u200d")


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
