"""A DLQ message as the operator tools read it (`DeadLetterEntry`), masked for showing (`mask_text`), and which
letters a command selects (`LetterFilter`: the structured fields the bridge wrote, never the error's text, which
quotes what senders sent: a sender could make its letter match an operator's text filter)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.operations import ERROR_KINDS, REFUSED_AT_INGEST, DeadLetter
from heymarket_bridge.domain.text import MASKING_MARGIN
from heymarket_bridge.observability import mask_email, mask_phone


@dataclass(frozen=True)
class DeadLetterEntry:
    """One DLQ message: our dead letter, or a message SQS moved there itself (no reason recorded)."""

    message_id: str
    receipt_handle: str
    body: str
    letter: DeadLetter | None

    @property
    def error(self) -> str:
        """Why it is in the DLQ, unmasked (Heymarket's error text may quote the contact)."""
        if self.letter is None:
            return "moved by SQS after too many receives (no reason recorded)"
        return self.letter.error or "no reason recorded"

    @property
    def masked_error(self) -> str:
        """The reason with the contact's phone, email and names, and anything shaped like them, masked."""
        return mask_text(self.error, self._contact())

    @property
    def kind(self) -> str:
        """The kind of failure the bridge recorded (LETTER_KINDS): the letter's `error_kind`; `refused_at_ingest`
        for a refusal letter; `raw` for a message SQS moved itself; `unclassified` for a letter written before
        letters carried a kind."""
        if self.letter is None:
            return "raw"
        if self.letter.refused_at_ingest:
            return REFUSED_AT_INGEST
        return self.letter.error_kind or "unclassified"

    @property
    def failed_at(self) -> datetime | None:
        """When the letter was written (else when its contact was received), in UTC; None when neither is known."""
        if self.letter is None:
            return None
        return _moment(self.letter.failed_at) or _moment(self.letter.received_at)

    @property
    def refused_at_ingest(self) -> bool:
        """A refusal letter: a contact the ingest function refused for its content, never sent to Heymarket."""
        return self.letter is not None and self.letter.refused_at_ingest

    def _contact(self) -> Mapping[str, Any] | None:
        """The letter's contact: as queued, or a refusal letter's fields as received."""
        if self.letter is None:
            return None
        return self.letter.contact if self.letter.contact is not None else self.letter.fields

    @property
    def operation_key(self) -> str:
        """What names the queued operation this letter is about, whichever letter carries it: its operation id, or
        else its original message."""
        if self.letter is not None and self.letter.operation_id:
            return f"id:{self.letter.operation_id}"
        return "message:" + hashlib.sha256(self.original_message.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def original_message(self) -> str:
        """What goes back to the main queue: the message as the ingest function wrote it."""
        if self.letter is not None and self.letter.message is not None:
            return self.letter.message
        return self.body

    def masked(self) -> dict[str, Any]:
        """The entry as an operator may see it: phone and email masked, nothing else of the contact."""
        contact = self._contact() or {}
        return {
            "message_id": self.message_id,
            "error": self.masked_error,
            "phone": mask_phone(_text(contact.get("phone"))),
            "email": mask_email(_text(contact.get("email"))),
            "source": (self.letter.source if self.letter is not None else "") or "unknown",
            "received_at": self.letter.received_at if self.letter is not None else "",
            "attempts": self.letter.attempts if self.letter is not None else None,
            **({"kind": REFUSED_AT_INGEST} if self.refused_at_ingest else {}),
            "error_kind": self.kind,
        }

    def unmasked(self) -> dict[str, Any]:
        """The entry with its contact and error as they are (for `--unmasked`)."""
        if self.letter is None:
            return {"message_id": self.message_id, "error": self.error, "message": self.body}
        return {"message_id": self.message_id, **json.loads(self.letter.to_json())}


# Each pattern is tried only where its run starts (the lookbehinds): a start inside a run fails wherever the run's
# own start failed, and trying them all was quadratic in the run's length.
_EMAIL: Final = re.compile(r"(?<![^\s@\"'<>,;:()\[\]])[^\s@\"'<>,;:()\[\]]+@[^\s@\"'<>,;:()\[\]]+\.[A-Za-z]{2,}")


# A run of 7 or more digits, possibly with the separators people write phones with.
_PHONE: Final = re.compile(r"(?<!\d)\+?\d[\d\s().-]{5,}\d")


# The most of an error an operator is shown (masked); `--unmasked` shows it whole. A dead letter's error is cut to
# 1,000 characters when written, but anything can be put on a DLQ: masking costs this much at most.
SHOWN_ERROR_CHARACTERS: Final = 2000


_NAME_FIELDS: Final = ("first", "last", "display_name", "name")


def mask_text(text: str, contact: Mapping[str, Any] | None = None) -> str:
    """`text` (an error Heymarket answered) with emails, phone numbers and the contact's names masked.

    Heymarket's error messages may quote what was sent: the contact's own values are masked wherever they appear,
    and so is anything shaped like an email or a phone number.
    """
    cut = len(text) > SHOWN_ERROR_CHARACTERS
    # Masked a little past the cut, so that an email or a phone the cut splits is still recognised whole.
    masked = _EMAIL.sub(lambda match: mask_email(match.group(0)), text[: SHOWN_ERROR_CHARACTERS + MASKING_MARGIN])
    masked = _PHONE.sub(lambda match: mask_phone(match.group(0)) or match.group(0), masked)
    for name_field in _NAME_FIELDS:
        value = _text((contact or {}).get(name_field)).strip()
        if 2 <= len(value) <= len(masked):
            masked = re.sub(re.escape(value), value[0] + "***", masked, flags=re.IGNORECASE)
    return masked[:SHOWN_ERROR_CHARACTERS] + " ..." if cut else masked


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def read_entry(message: dict[str, Any]) -> DeadLetterEntry:
    body = message["Body"]
    try:
        letter: DeadLetter | None = DeadLetter.from_json(body)
    except MalformedMessage:
        letter = None
    return DeadLetterEntry(message["MessageId"], message["ReceiptHandle"], body, letter)


# What `--kind` selects: the kinds the sync function writes (heymarket_bridge.domain.operations.ERROR_KINDS), the
# ingest function's refusal letters, messages SQS moved itself, and letters older than the kinds.
LETTER_KINDS: Final = (*ERROR_KINDS, REFUSED_AT_INGEST, "raw", "unclassified")


@dataclass(frozen=True)
class LetterFilter:
    """Which letters a command selects, on fields the bridge itself wrote: the kind of failure (`kinds`, of
    LETTER_KINDS), the source (`sources`), and when it was dead-lettered (`since` inclusive, `until` exclusive, UTC).
    An empty set or None selects any. Never the error's text: it quotes what senders sent (tag names, titles)."""

    kinds: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def of(
        cls, kinds: Iterable[str] = (), sources: Iterable[str] = (), since: str = "", until: str = ""
    ) -> LetterFilter:
        """The filter of a command's options; ValueError names an unknown kind or a time that is not ISO 8601."""
        unknown = sorted(set(kinds) - set(LETTER_KINDS))
        if unknown:
            raise ValueError(f"unknown kind {', '.join(unknown)}: use one of {', '.join(LETTER_KINDS)}")
        moments = []
        for option, value in (("--since", since), ("--until", until)):
            moment = _moment(value) if value else None
            if value and moment is None:
                raise ValueError(f"{option} {value!r}: expected an ISO 8601 date or time, e.g. 2026-12-07T09:30Z")
            moments.append(moment)
        return cls(frozenset(kinds), frozenset(sources), moments[0], moments[1])

    def matches(self, entry: DeadLetterEntry) -> bool:
        if self.kinds and entry.kind not in self.kinds:
            return False
        if self.sources and (entry.letter is None or entry.letter.source not in self.sources):
            return False
        if self.since is None and self.until is None:
            return True
        failed = entry.failed_at
        if failed is None:
            return False  # a time range selects only letters that say when
        return (self.since is None or failed >= self.since) and (self.until is None or failed < self.until)


def _moment(value: str) -> datetime | None:
    """An ISO 8601 date or time as an aware datetime (UTC when it names no zone); None when it is not one."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
