"""How a sender's text may appear in the bridge's error texts, answers and logs. Pure.

Error texts end up in the answer, in the logs, and in the delivery table's saved answers. So:

- `shown(value)` is the only way an error text quotes a value the sender sent: emails and runs of digits (phones)
  are masked, what cannot be printed is escaped, and it is cut short;
- `printable(text)` makes any text safe to serialise anywhere: a lone surrogate (JSON's "\\ud800") or a control
  character becomes its escape, so no encoder (the log's, botocore's, the HTTP response's) can fail on it.
"""

from __future__ import annotations

import re
from typing import Any

# An email address, or a run of digits with the separators phones are written with: both can identify a person.
_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+")
_DIGIT_RUN = re.compile(r"\+?\d(?:[\s().\-/]*\d){5,}")
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
    text = value if isinstance(value, str) else repr(value)
    text = _EMAIL.sub(_masked_email, text)
    text = _DIGIT_RUN.sub(_masked_digits, text)
    text = printable(text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{quote}{text}{quote}"


def _masked_email(match: re.Match[str]) -> str:
    local, _, domain = match.group().partition("@")
    return f"{local[:1]}***@{domain}"


def _masked_digits(match: re.Match[str]) -> str:
    digits = [ch for ch in match.group() if ch.isdigit()]
    return "*" * (len(digits) - _KEPT_DIGITS) + "".join(digits[-_KEPT_DIGITS:])
