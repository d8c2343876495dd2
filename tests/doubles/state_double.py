"""An in-memory contact state table with the DynamoDB adapter's conditions (tests/integration checks the adapter
itself against moto): every write is conditional on the entry's revision (and, for a claim, on no live lease), every
release on its lease token. A test can make any call fail (`unavailable`) or run something in the middle of a write
(`before_write`), to play another invocation racing this one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import (
    Advance,
    Binding,
    Claim,
    ContactState,
    LearnedFact,
    Release,
    StateRead,
    Wait,
    WriteResult,
)


@dataclass
class InMemoryContactState:
    entries: dict[str, ContactState] = field(default_factory=dict)
    void_ms: int = 0
    unavailable: set[str] = field(default_factory=set)  # "read", "write", "release", "void"
    before_write: list[Callable[[], None]] = field(default_factory=list)  # run (once each) before the next write
    calls: list[str] = field(default_factory=list)
    bound: dict[object, str] = field(default_factory=dict)  # contact identifier -> the phone bound to it

    def read(self, phones: Sequence[str]) -> StateRead:
        self._call("read")
        return StateRead({p: self.entries[p] for p in phones if p in self.entries}, self.void_ms)

    def write(self, writes: Sequence[Claim | Advance | Wait], now_ms: int) -> WriteResult:
        while self.before_write:
            self.before_write.pop(0)()
        self._call("write")
        written: set[str] = set()
        refused: dict[str, ContactState | None] = {}
        for write in writes:
            current = self.entries.get(write.phone)
            if isinstance(write, Claim):
                free = current is None or current.lease is None or current.lease.until_ms < now_ms
                same = (
                    (current is None)
                    if write.expected is None
                    else (current is not None and current.rev == write.expected.rev)
                )
                if not (same and free):
                    refused[write.phone] = current
                    continue
                base = current or ContactState(write.phone)
                self.entries[write.phone] = replace(base, rev=base.rev + 1, lease=write.lease)
            else:
                if current is None or current.rev != write.expected.rev:
                    refused[write.phone] = current
                    continue
                if isinstance(write, Wait):
                    self.entries[write.phone] = replace(
                        current, rev=current.rev + 1, waiting_rank=write.rank, waiting_until_ms=write.until_ms
                    )
                else:
                    self.entries[write.phone] = replace(current, rev=current.rev + 1, applied_ms=write.applied_ms)
            written.add(write.phone)
        return WriteResult(frozenset(written), refused)

    def release(self, releases: Sequence[Release]) -> frozenset[str]:
        if "release" in self.unavailable:
            self.calls.append("release")
            return frozenset()
        self.calls.append("release")
        released: set[str] = set()
        for release in releases:
            current = self.entries.get(release.phone)
            if current is None or current.lease is None or current.lease.token != release.token:
                continue
            state = release.state if release.state is not None else current
            held = replace(current.lease, until_ms=release.hold_until_ms) if release.hold_until_ms is not None else None
            # The mark of an operation waiting to go next is the table's, not the release's (`Wait`): kept.
            self.entries[release.phone] = replace(
                state,
                phone=release.phone,
                rev=current.rev + 1,
                lease=held,
                waiting_rank=current.waiting_rank,
                waiting_until_ms=current.waiting_until_ms,
            )
            released.add(release.phone)
        return frozenset(released)

    def void(self, at_ms: int) -> None:
        self._call("void")
        self.void_ms = max(self.void_ms, at_ms)

    def bind(self, bindings: Sequence[Binding]) -> frozenset[str]:
        self._call("bind")
        released: set[str] = set()
        for binding in bindings:
            key = binding.identity.uuid or binding.identity.id
            old = self.bound.get(key)
            entry = self.entries.get(old) if old is not None and old != binding.phone else None
            held = entry.identity if entry is not None and not entry.deleted else None
            if entry is not None and held is not None and (held.uuid or held.id) == key:
                self.entries[entry.phone] = replace(
                    entry, rev=entry.rev + 1, identity=None, snapshot=None, digests={}, confirmed_ms=0
                )
                released.add(entry.phone)
            self.bound[key] = binding.phone
        return frozenset(released)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if name in self.unavailable:
            raise StateUnavailable(f"{name}: the table did not answer")


@dataclass
class InMemoryLearnedBehaviour:
    """What the stack learned of Heymarket (`LearnedBehaviourPort`), with the DynamoDB adapter's conditions: learning
    only where no other value is held, unlearning only while the value contradicted is still held."""

    facts: dict[str, LearnedFact] = field(default_factory=dict)
    contradicted: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # name -> (value, evidence, when)
    unavailable: bool = False
    reads: int = 0

    def read(self) -> dict[str, LearnedFact]:
        self._check()
        self.reads += 1
        return dict(self.facts)

    def learn(self, fact: LearnedFact) -> LearnedFact | None:
        self._check()
        held = self.facts.get(fact.name)
        if held is not None and held.value != fact.value:
            return held
        self.facts.setdefault(fact.name, fact)
        return None

    def unlearn(self, name: str, value: str, evidence: str, at_ms: int) -> bool:
        self._check()
        held = self.facts.get(name)
        if held is None or held.value != value:
            return False
        del self.facts[name]
        self.contradicted[name] = (value, evidence, at_ms)
        return True

    def _check(self) -> None:
        if self.unavailable:
            raise StateUnavailable("the table did not answer")
