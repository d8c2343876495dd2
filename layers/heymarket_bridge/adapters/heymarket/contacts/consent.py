"""Opt-out wins: which opt-ins a write may carry, and why one was held back (`Stored.consent_held_back`).

Source: Heymarket's help centre, "Opt-Out Management": only the contact can opt back in, by texting START, YES or
UNSTOP. An `is_opted_out: false` from a sender is left out of every write, on every path, unless it comes with a
re-consent time (`heymarket_bridge.domain.reconsent`): then a look-up decides, and the opt-in is written only over
an opt-out whose contact Heymarket last changed (`updated`, documented in the Contact object) before that time. What
Heymarket does with an opt-in written over its opt-out is not documented: accepted; ignored (2xx, still opted out:
HELD_IGNORED); refused (HELD_REFUSED: the contact is sent again without it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Final

from heymarket_bridge.adapters.heymarket.answers import HeardContact
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import Stored, UpsertResult

# Why an opt-in a sender asked for was not applied (Stored.consent_held_back).
HELD_OPTED_OUT: Final = "Heymarket holds the contact opted out: only the person can opt back in, by texting START"
HELD_NOT_SHOWN: Final = (
    "the opt-in was left out of the write, and Heymarket's answer does not show whether the contact is opted out"
)
HELD_NOT_NEWER: Final = "the consent is not newer than Heymarket's last change of the opted-out contact"
HELD_NO_TIME: Final = "Heymarket's contact does not show when it last changed: the consent cannot be shown newer"
HELD_REFUSED: Final = "Heymarket refused the opt-in written over its opt-out; the other fields were written"
HELD_IGNORED: Final = "Heymarket kept its opt-out over the opt-in written"


class OptIns:
    """The opt-ins (`is_opted_out: false`) asked for in one upsert call, and what became of them.

    Left out of every write (`outgoing`), except those with a re-consent time (`trying`): each look-up of such a
    contact decides (`decide`) whether its opt-in is written; a refusal of it (`refused`) leaves it out from then on.
    `settled` puts the outcome on each result, and logs and counts what was held back.
    """

    def __init__(self, contacts: Sequence[Contact], reconsent: Sequence[str | None]) -> None:
        self._contacts = list(contacts)
        self._asked = {i for i, contact in enumerate(contacts) if contact.is_opted_out is False}
        self._times = {i: at for i, at in enumerate(reconsent) if at is not None and i in self._asked}
        self.trying = set(self._times)
        self._written: set[int] = set()
        self._reasons: dict[int, str] = {}

    def outgoing(self) -> list[Contact]:
        return [c if i in self.trying else without_opt_in(c) for i, c in enumerate(self._contacts)]

    def decide(self, i: int, holder: HeardContact | None) -> Contact:
        """The contact to write, a look-up having just shown `holder` (None: no contact holds the phone)."""
        self._written.discard(i)
        self._reasons.pop(i, None)
        state = holder.fields.get("is_opted_out") if holder is not None else False
        if state is False:
            return without_opt_in(self._contacts[i])  # nothing to opt back in (a new contact is opted in)
        reason = HELD_OPTED_OUT if state is not True else self._too_old(i, holder)
        if reason is not None:
            self._reasons[i] = reason
            return without_opt_in(self._contacts[i])
        self._written.add(i)
        return self._contacts[i]

    def _too_old(self, i: int, holder: HeardContact | None) -> str | None:
        """Why the consent time does not show a consent newer than the opt-out (None: it does). The opt-out dates
        from Heymarket's last change of the contact (`updated`, documented in the Contact object) or earlier."""
        changed = _instant(holder.fields.get("updated")) if holder is not None else None
        consented = _instant(self._times[i])
        if changed is None or consented is None:
            return HELD_NO_TIME
        return None if consented > changed else HELD_NOT_NEWER

    def note(self, i: int, holder: HeardContact | None, *, looked: bool) -> None:
        """What is known of an opt-in left out of a write without a decision (v1 mode): a look-up showed `holder`, or
        there was none (`looked` false) and nothing will show how the contact ends."""
        if i not in self._asked or i in self.trying:
            return
        if not looked:
            self._reasons[i] = HELD_NOT_SHOWN
        elif holder is not None and holder.fields.get("is_opted_out") is not False:
            self._reasons[i] = HELD_OPTED_OUT

    def refused(self, i: int) -> Contact:
        """Heymarket refused the opt-in written: the contact without it, and no opt-in for it again in this call."""
        self.trying.discard(i)
        self._written.discard(i)
        self._reasons[i] = HELD_REFUSED
        return without_opt_in(self._contacts[i])

    def settled(self, results: list[UpsertResult]) -> list[UpsertResult]:
        """The results, each stored contact that asked for an opt-in saying whether it was held back."""
        settled: list[UpsertResult] = []
        for i, result in enumerate(results):
            reason = self._held_back(i, result)
            if reason is not None and isinstance(result, Stored):
                emit_metric("OptInsHeldBack")
                logger.warning(
                    "Opt-in held back: the contact stays as Heymarket holds it; its other fields were written",
                    extra={"phone": mask_phone(self._contacts[i].phone), "reason": reason},
                )
                result = replace(result, consent_held_back=reason)
            settled.append(result)
        return settled

    def _held_back(self, i: int, result: UpsertResult) -> str | None:
        """Why the opt-in contact `i` asked for was not applied, its result being `result` (None: it was, or none
        was asked for, or the contact was not stored)."""
        if i not in self._asked or not isinstance(result, Stored) or result.opted_out is False:
            return None
        reason = self._reasons.get(i)
        if reason is None and result.opted_out is True:
            reason = HELD_IGNORED if i in self._written else HELD_OPTED_OUT
        if reason is None and i not in self._written and result.existed:
            reason = HELD_NOT_SHOWN
        return reason


def without_opt_in(contact: Contact) -> Contact:
    """`contact` without an opt-in (`is_opted_out: false` left out); an opt-out or no value as it is."""
    return replace(contact, is_opted_out=None) if contact.is_opted_out is False else contact


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
