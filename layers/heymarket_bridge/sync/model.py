"""The values of the sync use case: what Heymarket's port answers (the results of a write or a delete, what the
bridge learned of a contact it stored). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import GatewayFailure


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
    # opt-out Heymarket holds (a STOP) unless the operator's re-consent rule allows it
    # (heymarket_bridge.domain.consent).
    consent_held_back: str | None = None
    # Whether the contact was opted out just before the write, as the look-up made for it showed (None: not looked
    # up, or no contact held the phone): a write that turned it over (a re-consent over a STOP texted to Heymarket,
    # an opt-out after a START) is a consent change whatever the record last said
    # (heymarket_bridge.sync.consent_record).
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
