"""What the sync use case needs from outside, declared once: the ports its adapters implement. Pure: no I/O.

The use case asks Heymarket for three things: store these contacts (create or update, whichever Heymarket needs),
delete these contacts, and list the team's custom fields. How that maps onto Heymarket's endpoints, which
identifiers it needs, how answers are read, retried and paced, is the adapter's business
(`heymarket_bridge.adapters.heymarket`); it reports only which kind of failure happened (`domain.failures`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.sync.model import DeleteResult, KnownContact, UpsertResult


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
