"""What the stack learned of Heymarket's undocumented behaviours, shared by every execution environment.

Heymarket does not document whether an update keeps the fields it leaves out, nor whether a custom map sent replaces
or merges (shared/HEYMARKET_API.md). An execution environment learns it from answers (`writes.probe_update`,
`reconcile.repair`); what one learned is written to the contact state table (`LearnedBehaviourPort`) with the
evidence and when, so that every other execution environment, and every later one, starts from it instead of
looking each known contact up again. The stack's facts are read on the first batch (not at import: a cold start
makes no request) and again at most every `refresh_s`. An answer that contradicts a fact known (`reconcile.contradicts`)
unlearns it here at once and for the whole stack with a conditional write; the other execution environments unlearn it
on their next read of the facts, or at once when one of their own answers shows it.

The table failing costs only requests: an execution environment then goes on with what it knows itself.

A fact that updates keep what they leave out is trusted for `reverify_s` after it was last verified (by any execution
environment: the fact's `at`). Past that, an execution environment forgets it for itself (`reverify`): its next
writes of known contacts are looked up and completed, and their probe learns the fact again (the stack's `at`
renewed) or learns that updates now clear (unlearned). Where senders send every field, no answer to a write without
a look-up can show that Heymarket began clearing what updates leave out (the opt-out, always left out, among it):
this bounds how long such a change goes unseen (docs/heymarket-behaviour.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from heymarket_bridge.adapters.heymarket.contacts.writes import Change, Learned
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import LearnedFact

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import LearnedBehaviourPort

# How often an execution environment reads the stack's facts again (seconds): a fact unlearned elsewhere reaches it
# within this time, or sooner, when an answer of its own contradicts it.
DEFAULT_REFRESH_S: Final = 300.0
# How long a fact that updates keep what they leave out is trusted after it was last verified (seconds): the longest a
# change of Heymarket's behaviour goes unseen where senders send every field; one look-up per execution environment
# (and per chunk) when it has passed.
DEFAULT_REVERIFY_S: Final = 600.0
BEHAVIOURS: Final = ("omitted", "custom_map")


class StackLearning:
    """`learned` (this execution environment's knowledge) kept in step with the stack's (`store`; None: no contact
    state table, each execution environment learns alone)."""

    def __init__(
        self,
        learned: Learned,
        store: LearnedBehaviourPort | None,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
        reverify_s: float = DEFAULT_REVERIFY_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.learned = learned
        self._store = store
        self._refresh_s = refresh_s
        self._clock = clock
        self._wall_clock_ms = wall_clock_ms
        self._read_at: float | None = None
        self._reverify_s = reverify_s
        self._verified_at: float | None = None  # when "omitted: keep" was last verified, on `clock`

    def reverify(self) -> None:
        """Forget, in this execution environment only, that updates keep what they leave out, once it was last
        verified more than `reverify_s` ago: the next writes of known contacts are looked up, completed and probed
        (the probe learns it again, renewing the stack's `at`, or shows that updates clear)."""
        if self.learned.omitted != "keep":
            return
        if self._verified_at is None:  # known otherwise (set by the operator's tools): trusted from now
            self._verified_at = self._clock()
        if self._clock() - self._verified_at >= self._reverify_s:
            self.learned.omitted = None

    def refresh(self) -> None:
        """Take the stack's facts, if they were not read within `refresh_s` (the first batch always reads them)."""
        if self._store is None or (self._read_at is not None and self._clock() - self._read_at < self._refresh_s):
            return
        self._read_at = self._clock()
        try:
            facts = self._store.read()
        except StateUnavailable as exc:
            logger.warning("What the stack learned of Heymarket could not be read", extra={"error": str(exc)})
            return
        for name in BEHAVIOURS:
            fact = facts.get(name)
            # The stack's word wins over this execution environment's (told to the stack as soon as learned): a fact
            # absent there was unlearned by a contradiction another execution environment saw.
            setattr(self.learned, name, fact.value if fact is not None else None)
        omitted = facts.get("omitted")
        if omitted is not None:
            age_s = max(0.0, (self._wall_clock_ms() - omitted.learned_ms) / 1000)
            self._verified_at = max(self._verified_at or float("-inf"), self._clock() - age_s)

    def flush(self) -> None:
        """Tell the stack what this execution environment learned or unlearned since the last call."""
        changes, self.learned.changes = self.learned.changes, []
        if any(change.name == "omitted" and change.value == "keep" for change in changes):
            self._verified_at = self._clock()
        if self._store is None or not changes:
            return
        try:
            for change in changes:
                self._tell(change)
        except StateUnavailable as exc:
            logger.warning("What was learned of Heymarket could not be recorded", extra={"error": str(exc)})

    def _tell(self, change: Change) -> None:
        assert self._store is not None
        now = self._wall_clock_ms()
        if change.value is None:
            assert change.contradicted is not None
            if self._store.unlearn(change.name, change.contradicted, change.evidence, now):
                emit_metric("HeymarketBehaviourUnlearned")
                logger.warning(
                    "Heymarket's answer contradicts what the stack learned; unlearned for every execution environment",
                    extra={"behaviour": change.name, "was": change.contradicted, "evidence": change.evidence},
                )
            return
        held = self._store.learn(LearnedFact(change.name, change.value, change.evidence, now))
        if held is None:
            logger.info(
                "Learned how Heymarket behaves, for the whole stack",
                extra={"behaviour": change.name, "value": change.value, "evidence": change.evidence},
            )
            return
        # The stack holds another value: this answer contradicts it.
        if self._store.unlearn(change.name, held.value, change.evidence, now):
            emit_metric("HeymarketBehaviourUnlearned")
            logger.warning(
                "Heymarket's answer contradicts what the stack learned; learned again from it",
                extra={"behaviour": change.name, "was": held.value, "now": change.value, "evidence": change.evidence},
            )
            self._store.learn(LearnedFact(change.name, change.value, change.evidence, now))
