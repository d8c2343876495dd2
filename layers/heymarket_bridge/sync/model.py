"""The values of the sync use case, in one place. Pure: no I/O.

- a batch: `QueueRecord` (one SQS record), `Member` (a record and the operation it carries);
- the plan (heymarket_bridge.sync.plan): `DeleteStep`, `UpsertStep`, `Decided`, `Plan`;
- what Heymarket's port answers (heymarket_bridge.sync.ports.HeymarketPort): `Identity`, `KnownContact`, `Stored`,
  `Deleted`, `NotDone`, and `Execution`, what it did for each step of a plan;
- the settlement (heymarket_bridge.sync.settle): `Fate`, `Verdict`, `SyncReport`;
- the values the contact state table carries (`ContactStatePort`): `Lease`, `ContactState`, `StateRead`, `Claim`,
  `Advance`, `Wait`, `Release`, `WriteResult`, `Binding` (their rules: heymarket_bridge.sync.state.rules), and
  `LearnedFact` (what the stack learned of Heymarket);
- the values of tags and lists (`SegmentsPort`, `ManagedStore`): `ListRef`, `Tag`, `ListChange`, `Listed`,
  `ManagedRecord` (their rules: heymarket_bridge.sync.lists.rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from heymarket_bridge.domain.consent import ConsentClaim
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import GatewayFailure
from heymarket_bridge.domain.operations import ContactOperation, DeleteTarget, QueuedOperation
from heymarket_bridge.domain.records import record

# ----------------------------------------------------------------------------------------- a batch


@record
class QueueRecord:
    """What the sync side needs of one SQS record."""

    message_id: str
    body: str
    receive_count: int
    sent_timestamp_ms: int = 0


@record
class Member:
    """A queue record and the operation it carries."""

    record: QueueRecord
    operation: QueuedOperation


# -------------------------------------------------------------------------------------------- plan


def as_upsert(operation: QueuedOperation) -> ContactOperation:
    """The operation of a member a plan lists among its upserts (lanes list upserts by index)."""
    assert isinstance(operation, ContactOperation)
    return operation


@record
class DeleteStep:
    """A lane's deletes, sent together; the upserts they make moot are members too and share their fate."""

    targets: tuple[DeleteTarget, ...]
    members: tuple[Member, ...]


@record
class UpsertStep:
    """A lane's upserts merged into the one contact sent; after the delete step `after` (an index), if any."""

    contact: Contact
    members: tuple[Member, ...]
    after: int | None = None
    known: KnownContact | None = None  # what the contact state knows of the contact (heymarket_bridge.sync.state.guard)
    # The source and consent claim behind the contact's `is_opted_out` (ordering.consent_of), when it carries one.
    consent_source: str | None = None
    consent: ConsentClaim | None = None


@record
class Decided:
    """Members settled while planning, without a Heymarket call (unreadable, or a custom-field title unknown)."""

    members: tuple[Member, ...]
    failure: GatewayFailure


@record
class Plan:
    """What a batch comes to: the delete and upsert steps, members settled while planning, and messages merged."""

    deletes: tuple[DeleteStep, ...] = ()
    upserts: tuple[UpsertStep, ...] = ()
    decided: tuple[Decided, ...] = ()
    merged: int = 0  # messages that share another's request


def claim_received_at(step: UpsertStep) -> str | None:
    """When the bridge received the (earliest) operation whose consent claim the step carries."""
    times = [
        m.operation.received_at
        for m in step.members
        if isinstance(m.operation, ContactOperation) and m.operation.consent == step.consent
    ]
    return min(times) if times else None


# ----------------------------------------------------------------------------- Heymarket's answers


@record
class Identity:
    """What Heymarket's answers said identifies a stored contact: its integer id and, when given, its UUID."""

    id: int | None = None
    uuid: str | None = None


@record
class KnownContact:
    """What the bridge learned of a contact when it last stored it: the identifiers Heymarket's answers gave, and
    the contact as Heymarket's last answer showed it (`snapshot`, None when no answer showed its fields)."""

    identity: Identity
    snapshot: Contact | None = None
    # The last write's outcome is unknown (it may have landed): fields a look-up shows empty are filled from the
    # snapshot, as that write may have cleared them.
    in_doubt: bool = False


@record
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


@record
class Deleted:
    """The contacts the target named are gone: deleted now (`count`), or none held it any more (`count` 0)."""

    count: int
    request_id: str | None = None


@record
class NotDone:
    """The operation did not happen (or was not confirmed): `failure` says whether and when it may."""

    failure: GatewayFailure


UpsertResult = Stored | NotDone
DeleteResult = Deleted | NotDone


@record
class Execution:
    """What Heymarket did for each step of a plan, in the plan's order."""

    deletes: tuple[DeleteResult, ...]
    upserts: tuple[UpsertResult, ...]


# ------------------------------------------------------------------------------------------ settle


class Fate(Enum):
    DELIVERED = "delivered"
    REDELIVER = "redeliver"  # transient: SQS delivers it again after the visibility timeout
    WAIT = "wait"  # misconfigured, Heymarket down, or throttled to the end: put back, its receives not used up
    DEAD = "dead"  # refused for good, or failed on its last receive: a dead letter says why


@record
class Verdict:
    """What becomes of one member: its fate, the failure behind it, and (WAIT) when it is received again."""

    member: Member
    fate: Fate
    failure: GatewayFailure | None = None
    delay_s: int | None = None  # WAIT: seconds before it is received again (None: the queue's put-back delay)
    waited_out: bool = False  # DEAD: it waited out a Heymarket outage until the queue's retention


@dataclass
class SyncReport:
    """The counts of one batch, as the "Batch synced" log line and the metrics give them."""

    failed_message_ids: list[str] = field(default_factory=list)
    delivered_contacts: int = 0
    rejected_contacts: int = 0
    retried_messages: int = 0
    dead_lettered_messages: int = 0
    waiting_messages: int = 0
    merged_messages: int = 0
    heymarket_requests: int = 0
    updated_existing: int = 0  # contacts Heymarket already held, updated
    deleted_contacts: int = 0  # contacts deleted by delete requests
    listed_contacts: int = 0  # stored contacts (and follow-ups) whose lists were all written
    list_follow_ups: int = 0  # stored contacts whose lists are written later, by a follow-up message
    list_writes_dead_lettered: int = 0  # list writes Heymarket refused for good (their contacts are stored)
    superseded_operations: int = 0  # older than the newest operation applied to their contact: skipped
    unchanged_skipped: int = 0  # their contact would not change: delivered without a request
    consent_changes_recorded: int = 0  # consent changes written to the consent record
    consent_records_failed: int = 0  # consent changes the record could not take (counted, logged)
    configuration_error: str | None = None


# ----------------------------------------------------------------------------------- contact state


@record
class Lease:
    """Held by one invocation (`token`) until `until_ms` (epoch milliseconds)."""

    token: str
    until_ms: int


@record
class ContactState:
    """The table's entry for a phone. `rev` changes with every write: the condition of the next one."""

    phone: str
    rev: int = 0
    applied_ms: int = 0  # the rank (`operation_rank`) of the newest operation applied
    deleted: bool = False
    identity: Identity | None = None
    snapshot: Contact | None = None
    digests: Mapping[str, str] = field(default_factory=dict)
    confirmed_ms: int = 0  # when the write that confirmed `digests` began (its lease was taken)
    lease: Lease | None = None
    expires_s: int | None = None  # a tombstone's expiry (epoch seconds, the table's TTL)
    # A newer operation that met another invocation's lease and waits to go next (`Wait`): its rank, and until when
    # older operations yield to it.
    waiting_rank: int = 0
    waiting_until_ms: int = 0

    def leased_to_another(self, token: str, now_ms: int) -> bool:
        return self.lease is not None and self.lease.token != token and self.lease.until_ms > now_ms

    def yields_to_waiting(self, rank: int, now_ms: int) -> bool:
        """Whether an operation of `rank` gives way to a newer one waiting to go next (`Wait`), not yet applied."""
        return rank < self.waiting_rank and self.waiting_rank > self.applied_ms and self.waiting_until_ms > now_ms

    def known(self) -> KnownContact | None:
        """What a write to this contact may use instead of a search: its identifiers and snapshot, if it holds any."""
        if self.deleted or self.identity is None or (self.identity.id is None and self.identity.uuid is None):
            return None
        # An entry released after a write of unknown outcome keeps its snapshot but no confirmation (`_in_doubt`).
        return KnownContact(self.identity, self.snapshot, in_doubt=self.snapshot is not None and not self.confirmed_ms)


@record
class StateRead:
    """Entries of the phones asked for (absent: never seen, or expired), and the last delete by contact id."""

    entries: Mapping[str, ContactState]
    void_ms: int = 0


@record
class Claim:
    """Take the lease on a phone if its entry is still `expected` (None: no entry)."""

    phone: str
    expected: ContactState | None
    lease: Lease


@record
class Advance:
    """Record `applied_ms` as the newest operation applied (an unchanged contact), if the entry is still `expected`."""

    phone: str
    expected: ContactState
    applied_ms: int


@record
class Wait:
    """Record that an operation of `rank` waits on another invocation's lease to go next, until `until_ms`, if the
    entry is still `expected`: an older operation coming back meanwhile gives way to it instead of taking the lease
    again (no operation is starved by an older one whose writes keep an unknown outcome)."""

    phone: str
    expected: ContactState
    rank: int
    until_ms: int


@record
class Release:
    """Give back the lease `token` holds, leaving `state` (None: the entry as it was, only the lease ends). With
    `hold_until_ms`, the lease is kept until then instead of ended: a request whose outcome is unknown (no answer in
    time, a reset, a 5xx) may still take effect, and no other invocation may write the contact before it would have."""

    phone: str
    token: str
    state: ContactState | None
    hold_until_ms: int | None = None


@record
class WriteResult:
    """What became of conditional writes: written; refused (the entry is not as expected: here as it now is, None if
    there is none); the others could not be settled now (another transaction was writing the same entries)."""

    written: frozenset[str]
    refused: Mapping[str, ContactState | None] = field(default_factory=dict)


@record
class Binding:
    """Heymarket just stored the contact `identity` for `phone`: the one phone the state binds to that contact."""

    phone: str
    identity: Identity


# ---------------------------------------------------------------------------------- tags and lists

ListRef = int | str
"""A list as a message gives it: its Heymarket id, or the name of a list the bridge manages."""


@record
class LearnedFact:
    """One undocumented Heymarket behaviour as the stack learned it (`LearnedBehaviourPort`): `name` ("omitted":
    "keep" or "clear"; "custom_map": "merge" or "replace"), the `value` seen, the `evidence` (what an answer showed,
    never a phone) and when it was learned (epoch ms)."""

    name: str
    value: str
    evidence: str
    learned_ms: int


@record
class Tag:
    """A tag of the team, as `POST /v1/tags` lists it (`id`, and its name `tag`)."""

    id: int
    name: str


@record
class ListChange:
    """One request's worth of membership changes to one list (phones as E.164 digits)."""

    list_id: int
    add_phones: tuple[str, ...] = ()
    remove_phones: tuple[str, ...] = ()


@record
class Listed:
    """A list-write follow-up is done: `lists` written (0: nothing left to do, the contact is gone)."""

    lists: int


@record
class ManagedRecord:
    """A tag or list the bridge creates, as the managed-lists table remembers it.

    `resource_id` is Heymarket's id once created. `claim` is the token of the consumer creating it right now, since
    `claimed_at` (epoch seconds): others wait for it. `generation` numbers the list's `local_id` (a new one only when
    the last one cannot be used: see lists.directory.ListDirectory); `maybe_sent` says a create with that local_id may
    have reached Heymarket without its answer reaching the bridge. `version` counts the record's writes: every write
    is conditional on the version read, so two consumers never both think they won.
    """

    key: str
    name: str
    resource_id: int | None = None
    generation: int = 1
    claim: str | None = None
    claimed_at: float = 0.0
    maybe_sent: bool = False
    created_at: float = 0.0
    version: int = 0
