"""A phone number's digits: the one helper every part of the bridge uses to compare phones, and E.164's length.

Pure, and kept apart from heymarket_bridge.domain.phone (reading what senders write: its patterns, tables and
phonenumbers), which only the ingest side needs: the sync function compares phones but reads none.
"""

from __future__ import annotations

from typing import Any

# E.164's longest number (ITU-T E.164, section 6): no phone with more digits leaves the bridge.
MAX_PHONE_DIGITS = 15

_ASCII_DIGITS = frozenset("0123456789")


def phone_digits(value: Any) -> str:
    """The ASCII digits of `value` ('+1 (510) 555-1234' -> '15105551234'); '' for None or no digits.

    Only ASCII digits count: `str.isdigit` also accepts other scripts' digits, which no phone system dials.
    """
    return "".join(ch for ch in str(value if value is not None else "") if ch in _ASCII_DIGITS)
