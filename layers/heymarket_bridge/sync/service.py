"""The sync use case: decide what a batch of queued operations means, have Heymarket do it, then settle each message.

A recipe of named steps over the values of heymarket_bridge.sync.model, one line each in `SyncService.process`:

1. read (heymarket_bridge.sync.plan.read_batch): each message parsed once, the batch in the order of its operations;
2. prepare (heymarket_bridge.sync.lists.steps.Segmenter.prepare): list-write follow-ups set apart, tag names looked up;
   the team's custom fields read if a title needs them (heymarket_bridge.sync.fields);
3. admit and plan (heymarket_bridge.sync.state.guard, heymarket_bridge.sync.plan.plan_batch, pure): with a contact
   state, the plan covers only what the state admits (operations older than the newest applied to their contact,
   and contacts that would not change, are delivered without a request; contacts another invocation is changing
   wait), known contacts carry their identifiers; each lane's upserts merged into the one contact to send;
4. execute (heymarket_bridge.sync.execute, through `HeymarketPort`): the deletes of every lane first, then the
   upserts; an upsert that follows a delete goes only once that delete succeeded; a refusal whose tag ids changed
   is sent again, once;
5. lists (Segmenter.finish): the stored contacts' lists written, and the follow-ups';
6. settle (heymarket_bridge.sync.settle, pure): each message shares the fate of what was sent for it; the contact
   state records the outcome (a delivered message it could not record is redelivered);
7. dispatch (heymarket_bridge.sync.dispatch): the consent record written, waiting messages put back, dead letters
   and list-write follow-ups written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from heymarket_bridge.domain.failures import Deadline
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.sync.dispatch import Dispatcher
from heymarket_bridge.sync.execute import execute, retagged, stored_contacts
from heymarket_bridge.sync.fields import TeamFields
from heymarket_bridge.sync.lists.batch import DeferredSegmenter
from heymarket_bridge.sync.model import QueueRecord, SyncReport
from heymarket_bridge.sync.plan import plan_batch, read_batch
from heymarket_bridge.sync.settle import Backoff, Patience, recorded, route, settle, tally
from heymarket_bridge.sync.state.guard import ContactStateGuard, Unguarded

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.lists.batch import Segments
    from heymarket_bridge.sync.ports import ConsentLog, DeadLetterSink, HeymarketPort, Requeue


class SyncService:
    """Delivers a batch of queue records to Heymarket and reports which messages SQS must redeliver.

    One instance per execution environment: it keeps the team's custom fields between invocations.
    """

    def __init__(
        self,
        heymarket: HeymarketPort,
        dead_letters: DeadLetterSink,
        waiting_room: Requeue,
        *,
        max_receive_count: int,
        deadline_reserve_s: float = 5.0,
        max_wait_s: float = 4 * 24 * 3600,
        outage: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        segments: Segments | None = None,
        contact_state: ContactStateGuard | None = None,
        consent_log: ConsentLog | None = None,
        reconsent: ReconsentRule = NO_RECONSENT,
    ) -> None:
        self._heymarket = heymarket
        self._reconsent = reconsent
        self._segments: Segments = segments or DeferredSegmenter(_disabled_segments)
        self._state: ContactStateGuard | Unguarded = contact_state or Unguarded()
        self._dispatch = Dispatcher(dead_letters, waiting_room, consent_log, wall_clock)
        # The team's custom fields, read once per cold start and again (once per invocation) for an unknown title.
        self._fields = TeamFields(heymarket)
        self._max_receive_count = max_receive_count
        self._reserve_s = deadline_reserve_s
        self._max_wait_s = max_wait_s
        self._outage = outage or Backoff()
        self._clock = clock
        self._wall_clock = wall_clock

    def process(self, records: Sequence[QueueRecord], remaining_s: Callable[[], float]) -> SyncReport:
        """Deliver the batch; the report names the messages SQS must redeliver (`failed_message_ids`)."""
        deadline = Deadline(self._clock() + remaining_s() - self._reserve_s, self._clock)
        members, unreadable = read_batch(records)
        prepared = self._segments.prepare(members, deadline)
        fields = self._fields.index(prepared.members, deadline)
        admission = self._state.admit(
            prepared.members, lambda batch: plan_batch(batch, fields, prepared.tags), deadline.remaining()
        )
        execution = execute(admission.plan, self._heymarket, deadline, self._reconsent)
        plan, execution = retagged(
            admission.plan, execution, self._segments, self._heymarket, deadline, self._reconsent
        )
        admission = replace(admission, plan=plan)
        lists = self._segments.finish(prepared, stored_contacts(plan, execution), deadline)
        patience = Patience(self._max_receive_count, self._max_wait_s, self._wall_clock(), self._outage)
        verdicts = settle(plan, execution, patience, also=lists.outcomes)
        verdicts = recorded(verdicts, self._state.record(admission, execution, verdicts), admission, patience)
        report = tally(plan, execution, lists, admission)
        self._dispatch.record_consent(plan, execution, report, admission)
        routes = route(verdicts, unreadable, report)
        self._dispatch.put_back(routes.waiting, report)
        self._dispatch.write_letters(routes.letters, report)
        unqueued = self._segments.queue(lists.follow_ups)
        report.list_follow_ups = len(lists.follow_ups) - len(unqueued)
        self._dispatch.write_list_letters([*lists.letters, *unqueued], report)
        return report


def _disabled_segments() -> Segments:
    """Without Heymarket or a table (Segmenter.disabled): tag names and lists are refused, naming the cause. Imported
    on the first batch that names one."""
    from heymarket_bridge.sync.lists.steps import Segmenter

    return Segmenter.disabled()
