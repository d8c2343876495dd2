"""A Heymarket at the port (heymarket_bridge.sync.ports.HeymarketPort), in memory: for the sync use case's tests.

No wire, no gateway: contacts are held by phone (one per phone), each call is recorded, and a failure can be set per
phone or contact id (permanent, transient or configuration), for every call or the next few. It keeps the contract
documented on `HeymarketPort.upsert`: fields not sent are left as they were; a `contact_id` Heymarket no longer holds
is stored by its phone; an opt-in (`is_opted_out: false`) is never written blind: over a held opt-out it is held back
(`Stored.consent_held_back`) unless the contact's `reconsent` time is later than that opt-out.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.sync.model import Deleted, DeleteResult, Identity, KnownContact, NotDone, Stored, UpsertResult

Kind = Literal["permanent", "transient", "configuration"]
HELD_BACK = "Heymarket holds the contact opted out; only the person can opt back in (START)"
# When the fake's contacts were opted out, unless a test says otherwise (ISO 8601, as `reconsent` times are).
OPTED_OUT_AT = "2026-11-01T00:00:00.000+00:00"


@dataclass
class Held:
    """A contact the fake holds: its identifiers, its values, and when it was opted out (None: opted in)."""

    identity: Identity
    contact: Contact
    opted_out_at: str | None = None


@dataclass
class _Failing:
    make: Callable[[], GatewayFailure]
    times: int | None  # None: every call


@dataclass
class FakeHeymarket:
    """`HeymarketPort` in memory. `calls` records every call: `("upsert", contacts)`, `("delete", targets)`,
    `("custom_fields", None)`."""

    fields: list[CustomField] = field(default_factory=list)
    held: dict[str, Held] = field(default_factory=dict)  # by phone
    calls: list[tuple[str, Any]] = field(default_factory=list)
    fields_failure: GatewayFailure | None = None  # raised by every custom_fields call while set
    _failing: dict[str, _Failing] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _requests: Any = field(default_factory=lambda: itertools.count(1))

    # ------------------------------------------------------------------ set up

    def add(self, phone: str, *, opted_out_at: str | None = None, **fields: Any) -> Held:
        """Hold a contact for `phone` (opted out since `opted_out_at` when given)."""
        n = next(self._ids)
        contact = Contact(phone=phone, is_opted_out=True if opted_out_at else None, **fields)
        self.held[phone] = Held(Identity(n, f"uuid-{n}"), contact, opted_out_at)
        return self.held[phone]

    def fail(self, key: str, kind: Kind, reason: str = "refused", *, times: int | None = None, **extra: Any) -> None:
        """Make the writes of a phone (or the deletes of a contact id) fail so, every time or the next `times`.
        `extra` goes to the failure (`throttled=True`, `outcome_unknown=True` for a transient one)."""
        kinds: dict[str, Callable[[], GatewayFailure]] = {
            "permanent": lambda: PermanentFailure(reason, request_id="req-refused"),
            "transient": lambda: TransientFailure(reason, request_id="req-failed", **extra),
            "configuration": lambda: ConfigurationFailure(reason),
        }
        self._failing[key] = _Failing(kinds[kind], times)

    # ------------------------------------------------------------------ what tests read

    def sent(self) -> list[list[Contact]]:
        """The contacts of each upsert call, in order."""
        return [list(contacts) for name, contacts in self.calls if name == "upsert"]

    def names(self) -> list[str]:
        """The calls made, by name."""
        return [name for name, _ in self.calls]

    # ------------------------------------------------------------------ the port

    def upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None] = (),
        reconsent: Sequence[str | None] = (),
    ) -> list[UpsertResult]:
        self.calls.append(("upsert", list(contacts)))
        times = list(reconsent) or [None] * len(contacts)
        return [self._store(contact, at) for contact, at in zip(contacts, times, strict=True)]

    def delete(self, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
        self.calls.append(("delete", list(targets)))
        return [self._delete(target) for target in targets]

    def custom_fields(self, deadline: Deadline) -> list[CustomField]:
        self.calls.append(("custom_fields", None))
        if self.fields_failure is not None:
            raise self.fields_failure
        return list(self.fields)

    # ------------------------------------------------------------------ inside

    def _failure(self, key: str | None) -> GatewayFailure | None:
        failing = self._failing.get(key or "")
        if failing is None:
            return None
        if failing.times is not None:
            failing.times -= 1
            if failing.times <= 0:
                del self._failing[key or ""]
        return failing.make()

    def _store(self, contact: Contact, reconsent_at: str | None) -> UpsertResult:
        failure = self._failure(contact.phone)
        if failure is not None:
            return NotDone(failure)
        before = self._by_uuid(contact.contact_id) or self.held.get(contact.phone)
        sent = {k: v for k, v in contact.to_dict().items() if k != "contact_id"}
        held_back = None
        if contact.is_opted_out is False:
            opted_out_at = before.opted_out_at if before is not None else None
            if opted_out_at is None or reconsent_at is None or reconsent_at <= opted_out_at:
                sent.pop("is_opted_out")  # opt-out wins: an opt-in is never written blind
                held_back = HELD_BACK if opted_out_at is not None else None
        if before is not None:
            self.held.pop(before.contact.phone, None)
        base = before.contact.to_dict() if before is not None else {}
        custom = {**(base.get("custom") or {}), **(sent.get("custom") or {})}
        stored = Contact.from_dict({**base, **sent, **({"custom": custom} if custom else {})})
        identity = before.identity if before is not None else Identity(n := next(self._ids), f"uuid-{n}")
        opted_out_at = self._opted_out_at(before, stored)
        self.held[stored.phone] = Held(identity, stored, opted_out_at)
        return Stored(
            identity,
            request_id=f"req-{next(self._requests)}",
            existed=before is not None,
            opted_out=stored.is_opted_out is True,
            held=stored,
            consent_held_back=held_back,
            opted_out_before=before.contact.is_opted_out is True if before is not None else None,
        )

    def _delete(self, target: DeleteTarget) -> DeleteResult:
        failure = self._failure(target.contact_id or target.phone)
        if failure is not None:
            return NotDone(failure)
        gone = self._by_uuid(target.contact_id) if target.contact_id else self.held.get(target.phone or "")
        if gone is not None:
            del self.held[gone.contact.phone]
        return Deleted(1 if gone is not None else 0, request_id=f"req-{next(self._requests)}")

    def _by_uuid(self, uuid: str | None) -> Held | None:
        return next((held for held in self.held.values() if uuid and held.identity.uuid == uuid), None)

    @staticmethod
    def _opted_out_at(before: Held | None, stored: Contact) -> str | None:
        if stored.is_opted_out is not True:
            return None
        if before is not None and before.opted_out_at is not None:
            return before.opted_out_at
        return OPTED_OUT_AT
