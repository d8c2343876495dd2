"""What the sync use case needs from outside, declared once: the ports its adapters implement. Pure: no I/O.

- `HeymarketPort`: store contacts (create or update, whichever Heymarket needs), delete contacts, list the team's
  custom fields. How that maps onto Heymarket's endpoints, which identifiers it needs, how answers are read,
  retried and paced, is the adapter's business (`heymarket_bridge.adapters.heymarket`); it reports only which kind
  of failure happened (`domain.failures`).
- `SegmentsPort`: Heymarket's tags and lists (`heymarket_bridge.adapters.heymarket.segments`).
- `ContactStatePort`: the contact state table (`heymarket_bridge.adapters.aws.contact_state`).
- `ManagedStore`: the managed-lists table (`heymarket_bridge.adapters.aws.managed_lists`).
- `DeadLetterSink` and `Requeue`: the DLQ, and the contact queue a message is put back on
  (`heymarket_bridge.adapters.aws.sqs`).
- `ConsentLog`: the consent record (`heymarket_bridge.adapters.aws.consent_log`).

The values they carry are heymarket_bridge.sync.model's; the failures they raise, heymarket_bridge.domain.failures'
and heymarket_bridge.sync.failures'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from heymarket_bridge.domain.consent import ConsentChange
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import Deadline, GatewayFailure
from heymarket_bridge.domain.operations import DeadLetter, DeleteTarget
from heymarket_bridge.sync.model import (
    Advance,
    Binding,
    Claim,
    DeleteResult,
    KnownContact,
    LearnedFact,
    ListChange,
    ManagedRecord,
    Release,
    StateRead,
    Tag,
    UpsertResult,
    Wait,
    WriteResult,
)


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


class SegmentsPort(Protocol):
    """What the sync domain needs of Heymarket's tags and lists. Each raises a `GatewayFailure` (port kinds)."""

    def tags(self, deadline: Deadline) -> list[Tag]:
        """Every tag of the team (all pages)."""
        ...

    def create_tag(self, name: str, deadline: Deadline) -> int:
        """Create a tag; its id. A TransientFailure with `outcome_unknown` may have created it."""
        ...

    def create_list(self, title: str, local_id: str, deadline: Deadline) -> int:
        """Create an empty list of contacts; its id. A TransientFailure with `outcome_unknown` may have created it
        (an answer that came back unreadable is one too); a PermanentFailure is a refusal (400)."""
        ...

    def update_list(self, change: ListChange, deadline: Deadline) -> dict[str, GatewayFailure]:
        """Add and remove the phones (in as many requests as the batch size needs); the phones NOT done, each with
        its failure (`ListGone` when the list does not exist). Raises nothing but a ConfigurationFailure."""
        ...

    def opted_out(self, phones: Sequence[str], deadline: Deadline) -> dict[str, bool | GatewayFailure]:
        """The phones Heymarket holds a contact for, each with whether that contact is opted out (the oldest
        contact's, when several hold one phone); a phone Heymarket refused to look up, with the refusal."""
        ...


class ContactStatePort(Protocol):
    """The table of contact states. Each call covers many phones (batched reads and writes, never one per phone)."""

    def read(self, phones: Sequence[str]) -> StateRead:
        """Every entry of `phones` (strongly consistent), and the last delete by id. Raises StateUnavailable."""
        ...

    def write(self, writes: Sequence[Claim | Advance | Wait], now_ms: int) -> WriteResult:
        """Conditional writes (at most one per phone); a claim also needs no live lease at `now_ms`; a release keeps
        what a `Wait` wrote. Raises StateUnavailable."""
        ...

    def release(self, releases: Sequence[Release]) -> frozenset[str]:
        """Give leases back with their outcome, each only if its token still holds it: the phones released (any other
        was not recorded: the lease was lost, or the table failed). Never raises."""
        ...

    def void(self, at_ms: int) -> None:
        """Record a delete by contact id at `at_ms` (kept if later than the one recorded). Raises StateUnavailable."""
        ...

    def bind(self, bindings: Sequence[Binding]) -> frozenset[str]:
        """Record each binding, and release any other phone bound to the same contact before (its identifiers,
        snapshot and digests removed, its time kept; only if it is still bound to that contact). Returns the phones
        released. Raises StateUnavailable."""
        ...


class LearnedBehaviourPort(Protocol):
    """What the stack learned of Heymarket's undocumented behaviours, one fact per name, kept in the contact state
    table so that every execution environment starts from it. All three raise StateUnavailable."""

    def read(self) -> dict[str, LearnedFact]:
        """The facts learned, by name (strongly consistent)."""
        ...

    def learn(self, fact: LearnedFact) -> LearnedFact | None:
        """Record `fact` if the stack holds none of its name (or the same value): None; else the fact the stack holds
        (another value: the caller decides whether it is contradicted)."""
        ...

    def unlearn(self, name: str, value: str, evidence: str, at_ms: int) -> bool:
        """Forget fact `name` for the whole stack, only if it still holds `value` (a conditional write), recording the
        contradiction (`evidence`, when). False when it held something else (another execution environment first)."""
        ...


class ManagedStore(Protocol):
    """The managed-lists table. Both methods raise StoreUnavailable."""

    def get(self, key: str) -> ManagedRecord | None:
        """The record, read consistently; None if there is none."""
        ...

    def put(self, record: ManagedRecord) -> bool:
        """Write `record` with version `record.version + 1`, if the stored one still has `record.version` (0: none
        stored yet). False when another write came first."""
        ...


class DeadLetterSink(Protocol):
    """The DLQ."""

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        """Write the letters to the DLQ; return the indexes of those NOT written."""
        ...


class Requeue(Protocol):
    """The contact queue, for messages put back on it: a message waiting for the bridge's configuration to be fixed
    (or throttled to its last receive), and a list write's follow-up."""

    def put_back(self, bodies: Sequence[str], delays_s: Sequence[int | None] = ()) -> list[int]:
        """Put these message bodies back on the queue, to be received again later as new messages (a receive count
        of zero), each after its delay in seconds (0-900; None or none given: the queue's put-back delay); return
        the indexes of those NOT put back."""
        ...


class ConsentLog(Protocol):
    """The consent record's store. `record` keeps the changes given (only those that change what is on record for
    their phone and source: a delivery repeating the same state is not written again) and answers how many it
    wrote. Raises heymarket_bridge.domain.failures.ConsentRecordUnavailable when the store cannot be read or written."""

    def record(self, changes: Sequence[ConsentChange]) -> int: ...
