"""The port through which the sync domain reaches Heymarket, and the failures it reports. Pure: no I/O.

The domain asks for three things: store these contacts (create or update, whichever Heymarket needs), delete
these contacts, and list the team's custom fields. How that maps onto Heymarket's endpoints, which identifiers
it needs, how answers are read, retried and paced, is the adapter's business
(`heymarket_bridge.adapters.heymarket`). The adapter tells the domain only which kind of failure happened:

- `PermanentFailure`: Heymarket refused this contact or request, and will refuse it again (dead-letter it);
- `TransientFailure`: it may work later (5xx, 429, a timeout, an answer that could not be read);
- `ConfigurationFailure`: the bridge cannot work until an operator fixes something (credentials missing or refused,
  a base URL answering 3xx or 404); messages wait for the fix instead of using up their receives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from heymarket_bridge.contact import Contact
from heymarket_bridge.custom_fields import CustomField
from heymarket_bridge.messages import DeleteTarget


@dataclass(frozen=True)
class Deadline:
    """A point in time (on `clock`, seconds) after which no Heymarket call may still be running."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left; zero or less once passed."""
        return self.at - self.clock()

    def passed(self) -> bool:
        return self.remaining() <= 0


class GatewayFailure(Exception):
    """Why a Heymarket call did not do what was asked. `reason` is for people; it never holds a secret."""

    def __init__(self, reason: str, *, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id
        # A write of the contact reached Heymarket and what it did is unknown (see TransientFailure); set on any
        # failure of a contact one of whose writes had such an outcome earlier in the invocation.
        self.outcome_unknown = False


class PermanentFailure(GatewayFailure):
    """Heymarket refused it (a 4xx such as 400 bad_data, or a contact in failed_contacts): the same will fail again."""


class TransientFailure(GatewayFailure):
    """It may succeed later: 5xx, 429, a timeout, a reset connection, an answer not of the documented shape."""

    def __init__(
        self,
        reason: str,
        *,
        request_id: str | None = None,
        throttled: bool = False,
        retry_after_s: float | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(reason, request_id=request_id)
        self.throttled = throttled  # Heymarket answered 429: over the account's request rate
        self.retry_after_s = retry_after_s
        # The request reached Heymarket and may still be taking effect (no answer in time, a reset, a 5xx): what it
        # did is known only later. A create must not be sent again before a later look-up shows whether it landed.
        self.outcome_unknown = outcome_unknown


class ConfigurationFailure(GatewayFailure):
    """Nothing can be sent until an operator fixes the bridge's setup: credentials, or the Heymarket base URL."""


def reworded(failure: GatewayFailure, reason: str) -> GatewayFailure:
    """The same kind of failure, told differently (its cause in the words of what it stopped), with all it says
    besides: request id, throttling, Retry-After, and whether a write may have taken effect."""
    if isinstance(failure, TransientFailure):
        told: GatewayFailure = TransientFailure(
            reason,
            request_id=failure.request_id,
            throttled=failure.throttled,
            retry_after_s=failure.retry_after_s,
        )
    else:
        told = type(failure)(reason, request_id=failure.request_id)
    told.outcome_unknown = failure.outcome_unknown
    return told


@dataclass(frozen=True)
class Identity:
    """What Heymarket's answers said identifies a stored contact: its integer id and, when given, its UUID."""

    id: int | None = None
    uuid: str | None = None


@dataclass(frozen=True)
class KnownContact:
    """What the bridge learned of a contact when it last stored it: the identifiers Heymarket's answers gave, and
    the contact as Heymarket's last answer showed it (`snapshot`, None when no answer showed its fields)."""

    identity: Identity
    snapshot: Contact | None = None
    # The last write's outcome is unknown (it may have landed): fields a look-up shows empty are filled from the
    # snapshot, as that write may have cleared them.
    in_doubt: bool = False


@dataclass(frozen=True)
class Stored:
    """An answer of the documented shape confirmed the contact stored."""

    identity: Identity
    request_id: str | None = None
    existed: bool = False  # it updated a contact Heymarket already held for the phone (or the id sent)
    opted_out: bool | None = None  # whether the contact is opted out after the write, if the answer says
    # The contact as Heymarket's answer showed it after the write (its non-empty writable fields), when an answer
    # showed its fields (the v2 bulk answer does; the v1 writes answer only identifiers).
    held: Contact | None = None
    # The sender asked for an opt-in (`is_opted_out: false`) that was not applied, and why (one sentence, no personal
    # data); None when the contact asked for none, or ends opted in as it asked. Opt-ins are never written over an
    # opt-out Heymarket holds (a STOP) unless the operator's re-consent rule allows it (heymarket_bridge.consent).
    consent_held_back: str | None = None
    # Whether the contact was opted out just before the write, as the look-up made for it showed (None: not looked
    # up, or no contact held the phone): a write that turned it over (a re-consent over a STOP texted to Heymarket,
    # an opt-out after a START) is a consent change whatever the record last said (heymarket_bridge.consent_record).
    opted_out_before: bool | None = None


@dataclass(frozen=True)
class Deleted:
    """The contacts the target named are gone: deleted now (`count`), or none held it any more (`count` 0)."""

    count: int
    request_id: str | None = None


@dataclass(frozen=True)
class NotDone:
    """The operation did not happen (or was not confirmed): `failure` says whether and when it may."""

    failure: GatewayFailure


UpsertResult = Stored | NotDone
DeleteResult = Deleted | NotDone


class HeymarketPort(Protocol):
    """What the sync domain needs of Heymarket. Results are in the order of the inputs, one each."""

    def upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None] = (),
        reconsent: Sequence[str | None] = (),
    ) -> list[UpsertResult]:
        """Store each contact: exactly one Heymarket contact per phone ends with these values (fields not sent are
        left as they were). A contact with `contact_id` updates that contact; if Heymarket no longer holds it, the
        contact is stored by its phone. `known` (empty, or one per contact) names what the bridge learned of a
        contact it stored before: the adapter may write to it directly by those identifiers, without looking its
        phone up, and stores it by its phone if Heymarket no longer holds it.

        Opt-out wins: an `is_opted_out: false` is never written blind. It is left out of every write (a new contact
        is opted in unless opted out; `Stored.consent_held_back` says when the contact ends opted out all the same),
        except for a contact whose `reconsent` (empty, or one per contact) gives the time (ISO 8601) of explicit
        consent from a source the operator trusts for it: that contact is looked up, and the opt-in is written only
        over an opt-out older than that time."""
        ...

    def delete(self, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
        """Delete every contact a target names (by UUID, or every contact holding a phone). Permanent."""
        ...

    def custom_fields(self, deadline: Deadline) -> list[CustomField]:
        """The team's custom fields (id and title). Raises a `GatewayFailure`."""
        ...
