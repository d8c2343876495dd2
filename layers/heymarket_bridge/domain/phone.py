"""A phone number's digits: the one helper every part of the bridge uses to compare phones. Pure."""

from __future__ import annotations

from typing import Any

_ASCII_DIGITS = frozenset("0123456789")


def phone_digits(value: Any) -> str:
    """The ASCII digits of `value` ('+1 (510) 555-1234' -> '15105551234'); '' for None or no digits.

    Only ASCII digits count: `str.isdigit` also accepts other scripts' digits, which no phone system dials.
    """
    return "".join(ch for ch in str(value if value is not None else "") if ch in _ASCII_DIGITS)
