"""Times senders write (ISO 8601 texts, epoch seconds or milliseconds) read without an exception escaping, and the
checks of a signed time against replays."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from heymarket_bridge.domain.fields import single
from heymarket_bridge.ingest.failures import Unauthorized

# An ISO 8601 time as the senders write it: date, time, an optional fraction, "Z" or an offset (or none: UTC).
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s*(Z|[+-]\d{2}:?\d{2})?", re.ASCII
)


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
