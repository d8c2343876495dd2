"""A SyncService with a fake clock, DLQ and queue: over the V2 or V1 gateway and an in-memory Heymarket on the wire
(`Harness`), or over a Heymarket at the port (`PortHarness`, tests.doubles.fake_heymarket)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp, V2Gateway
from heymarket_bridge.adapters.heymarket.circuit import Circuit
from heymarket_bridge.adapters.heymarket.contacts.v1 import V1Gateway
from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
from heymarket_bridge.adapters.heymarket.segments import HeymarketSegments
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.domain.operations import ContactOperation, DeleteOperation, DeleteTarget, Operation
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.sync.lists.batch import DeferredSegmenter
from heymarket_bridge.sync.lists.steps import Segmenter
from heymarket_bridge.sync.model import QueueRecord
from heymarket_bridge.sync.service import SyncService
from heymarket_bridge.sync.settle import Backoff
from heymarket_bridge.sync.state.guard import ContactStateGuard
from tests.doubles.clock import FakeClock
from tests.doubles.dead_letters import FakeDeadLetters
from tests.doubles.fake_heymarket import FakeHeymarket
from tests.doubles.heymarket_double import HeymarketDouble
from tests.doubles.managed_store import MemoryManagedStore
from tests.doubles.requeue import FakeRequeue
from tests.doubles.state_double import InMemoryContactState, InMemoryLearnedBehaviour

ANN, BOB = "15105551234", "15105550000"
ANN_ID = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"
RECEIVED = "2026-11-23T09:00:00.000+00:00"
RECEIVED_AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


_sequence = itertools.count(1)


def _nth(n: int) -> str:
    """When the bridge received the n-th message made here: 1 ms after the one before, whatever n."""
    return (RECEIVED_AT + timedelta(milliseconds=n)).isoformat(timespec="milliseconds")


def upsert(
    phone: str,
    receive_count: int = 1,
    received_at: str | None = None,
    *,
    occurred_at: str | None = None,
    force: bool = False,
    **fields: Any,
) -> QueueRecord:
    n = next(_sequence)
    when = received_at or _nth(n)
    operation = ContactOperation(
        Operation.UPSERT,
        Contact(phone=phone, **fields),
        "generic",
        when,
        f"corr-{n}",
        occurred_at=occurred_at,
        force=force,
    )
    return QueueRecord(f"msg-{n}", operation.to_json(), receive_count, sent_timestamp_ms=n)


def again(record: QueueRecord) -> QueueRecord:
    """The same message delivered once more by SQS."""
    return QueueRecord(record.message_id, record.body, record.receive_count + 1, record.sent_timestamp_ms)


def redelivered(body: str, receive_count: int = 1) -> QueueRecord:
    """A message body put back on the queue (a follow-up, or a waiting message), received again."""
    n = next(_sequence)
    return QueueRecord(f"msg-{n}", body, receive_count, sent_timestamp_ms=n)


def delete(
    *, phone: str | None = None, contact_id: str | None = None, receive_count: int = 1, received_at: str | None = None
) -> QueueRecord:
    n = next(_sequence)
    when = received_at or _nth(n)
    operation = DeleteOperation(DeleteTarget(contact_id=contact_id, phone=phone), "generic", when, f"corr-{n}")
    return QueueRecord(f"msg-{n}", operation.to_json(), receive_count, sent_timestamp_ms=n)


@dataclass
class Harness:
    heymarket: HeymarketDouble = field(default_factory=HeymarketDouble)
    clock: FakeClock = field(default_factory=FakeClock)
    letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    waiting: FakeRequeue = field(default_factory=FakeRequeue)
    max_batch: int = 100
    max_receive_count: int = 5
    requests_per_minute: float = 6000
    v1: bool = False
    v1_overwrite: bool = True
    secret: dict[str, str] = field(default_factory=lambda: {"secret_id": "id", "secret_key": "key"})
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    # Tags by name and lists: the managed-lists table (share one between harnesses to play two consumers), the
    # follow-ups queued, and the two settings.
    store: MemoryManagedStore = field(default_factory=MemoryManagedStore)
    follow_ups: FakeRequeue = field(default_factory=FakeRequeue)
    create_missing_tags: bool = False
    remove_opted_out: bool = True
    # A contact state (None: none, the bridge as it works without the table); shared by harnesses playing
    # concurrent invocations of one deployment.
    state: InMemoryContactState | None = None
    # What the stack learned of Heymarket (None: none kept, each harness learns alone); share one between harnesses
    # to play execution environments of one stack.
    behaviour: InMemoryLearnedBehaviour | None = None
    skip_unchanged: bool = True
    # The consent record (None: none kept).
    consent_log: Any = None
    reconsent: ReconsentRule = NO_RECONSENT  # sources whose dated consent may opt a person back in
    # How contacts wait out a Heymarket outage (heymarket_bridge.sync.settle.Backoff), and the execution environment's
    # circuit (None: none, every call is made).
    outage: Backoff = field(default_factory=Backoff)
    circuit: Circuit | None = None
    _service: SyncService | None = None
    _http: HeymarketHttp | None = None

    @property
    def http(self) -> HeymarketHttp:
        if self._http is None:
            auth = Authenticator(lambda refresh: Credentials.from_secret(self.secret), clock=lambda: 1_700_000_000)
            self._http = HeymarketHttp(
                "https://api.heymarket.test",
                auth,
                RequestBudget(self.requests_per_minute, clock=self.clock, sleep=self.clock.sleep),
                pool=self.heymarket,  # type: ignore[arg-type]
                clock=self.clock,
                sleep=self.clock.sleep,
                jitter=lambda: 1.0,
                circuit=self.circuit,
            )
        return self._http

    @property
    def gateway(self) -> V1Gateway | V2Gateway:
        if self.v1:
            return V1Gateway(self.http, max_batch=self.max_batch, overwrite=self.v1_overwrite)
        return V2Gateway(
            self.http,
            max_batch=self.max_batch,
            behaviour=self.behaviour,
            clock=self.clock,
            wall_clock_ms=lambda: int((self.now.timestamp() + self.clock()) * 1000),
        )

    @property
    def service(self) -> SyncService:
        """One service per harness: it keeps the custom fields, tags and list ids it read, like one execution
        environment."""
        if self._service is None:
            gateway = self.gateway
            # As the sync function builds them: made on the first batch that names a tag or a list.
            segments = DeferredSegmenter(
                lambda: Segmenter(
                    HeymarketSegments(gateway.client, self.http, max_batch=self.max_batch),
                    self.store,
                    self.follow_ups,
                    stack="test",
                    create_missing_tags=self.create_missing_tags,
                    remove_opted_out=self.remove_opted_out,
                    wall_clock=lambda: 1_700_000_000 + self.clock(),
                    sleep=self.clock.sleep,
                )
            )
            self._service = SyncService(
                gateway,
                self.letters,
                self.waiting,
                max_receive_count=self.max_receive_count,
                outage=self.outage,
                deadline_reserve_s=5,
                clock=self.clock,
                wall_clock=lambda: self.now,
                segments=segments,
                contact_state=self.guard,
                consent_log=self.consent_log,
                reconsent=self.reconsent,
            )
        return self._service

    @property
    def guard(self) -> ContactStateGuard | None:
        if self.state is None:
            return None
        return ContactStateGuard(
            self.state,
            skip_unchanged=self.skip_unchanged,
            wall_clock_ms=lambda: int(self.now.timestamp() * 1000),
            reconsent=self.reconsent,
        )

    def deadline(self, seconds: float = 60) -> Deadline:
        return Deadline(self.clock() + seconds, self.clock)

    def process(self, *records: QueueRecord, remaining_s: float = 60) -> Any:
        return self.service.process(list(records), lambda: remaining_s)


@dataclass
class PortHarness:
    """A SyncService over `FakeHeymarket`: the use case's decisions, without a gateway (no tags by name or lists)."""

    heymarket: FakeHeymarket = field(default_factory=FakeHeymarket)
    clock: FakeClock = field(default_factory=FakeClock)
    letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    waiting: FakeRequeue = field(default_factory=FakeRequeue)
    max_receive_count: int = 5
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 9, 5, tzinfo=UTC))
    state: InMemoryContactState | None = None
    _service: SyncService | None = None

    @property
    def service(self) -> SyncService:
        """One service per harness, like one execution environment (it keeps the custom fields it read)."""
        if self._service is None:
            guard = (
                ContactStateGuard(self.state, wall_clock_ms=lambda: int(self.now.timestamp() * 1000))
                if self.state is not None
                else None
            )
            self._service = SyncService(
                self.heymarket,
                self.letters,
                self.waiting,
                max_receive_count=self.max_receive_count,
                deadline_reserve_s=5,
                clock=self.clock,
                wall_clock=lambda: self.now,
                contact_state=guard,
            )
        return self._service

    def process(self, *records: QueueRecord, remaining_s: float = 60) -> Any:
        return self.service.process(list(records), lambda: remaining_s)
