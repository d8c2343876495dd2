"""The sync recipe's second step: have Heymarket do what the plan says (through `HeymarketPort`).

Deletes first, then the upserts whose delete (if any) succeeded; an upsert waits with a delete that failed, since
sending it would let the delete, when retried, remove what the upsert wrote. Contacts Heymarket refused whose tags
were given by name are sent again, once, when the team's tags read afresh give other ids (`retagged`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline, PermanentFailure, reworded
from heymarket_bridge.domain.reconsent import NO_RECONSENT, ReconsentRule
from heymarket_bridge.sync.model import (
    Deleted,
    DeleteResult,
    Execution,
    Member,
    NotDone,
    Plan,
    Stored,
    UpsertResult,
    UpsertStep,
    as_upsert,
    claim_received_at,
)

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.lists.batch import Segments
    from heymarket_bridge.sync.ports import HeymarketPort


def execute(
    plan: Plan, heymarket: HeymarketPort, deadline: Deadline, reconsent: ReconsentRule = NO_RECONSENT
) -> Execution:
    """What Heymarket did for each step of the plan, in the plan's order. `reconsent` names the sources whose
    opt-ins may opt a person back in (heymarket_bridge.domain.reconsent)."""
    targets = [target for step in plan.deletes for target in step.targets]
    answers = iter(heymarket.delete(targets, deadline) if targets else [])
    deletes = tuple(_all_gone([next(answers) for _ in step.targets]) for step in plan.deletes)
    ready = [n for n, step in enumerate(plan.upserts) if step.after is None or isinstance(deletes[step.after], Deleted)]
    stored = dict(zip(ready, _upsert(heymarket, [plan.upserts[n] for n in ready], deadline, reconsent), strict=True))
    upserts = tuple(
        stored[n] if n in stored else _blocked(deletes[step.after] if step.after is not None else None)
        for n, step in enumerate(plan.upserts)
    )
    return Execution(deletes, upserts)


def retagged(
    plan: Plan,
    execution: Execution,
    segments: Segments,
    heymarket: HeymarketPort,
    deadline: Deadline,
    reconsent: ReconsentRule = NO_RECONSENT,
) -> tuple[Plan, Execution]:
    """Contacts Heymarket refused whose tags were given by name are sent again, once, if the team's tags read
    afresh give other ids (heymarket_bridge.sync.lists.steps.Segmenter.retag)."""
    refused = [
        n
        for n, result in enumerate(execution.upserts)
        if isinstance(result, NotDone) and isinstance(result.failure, PermanentFailure)
    ]
    if not refused:
        return plan, execution
    steps, results = list(plan.upserts), list(execution.upserts)
    fresh = segments.retag(
        [(steps[n].contact, [as_upsert(m.operation).contact for m in steps[n].members]) for n in refused], deadline
    )
    again: list[int] = []
    for n, found in zip(refused, fresh, strict=True):
        if isinstance(found, Contact):
            steps[n] = replace(steps[n], contact=found)
            again.append(n)
        elif found is not None:
            results[n] = NotDone(found)
    answers = _upsert(heymarket, [steps[n] for n in again], deadline, reconsent)
    for n, answer in zip(again, answers, strict=True):
        results[n] = _after(results[n], answer)
    return replace(plan, upserts=tuple(steps)), replace(execution, upserts=tuple(results))


def stored_contacts(plan: Plan, execution: Execution) -> list[tuple[tuple[Member, ...], Contact, bool | None]]:
    """The contacts confirmed stored: the members merged into each, the contact sent, and whether it ended opted out."""
    return [
        (step.members, step.contact, result.opted_out)
        for step, result in zip(plan.upserts, execution.upserts, strict=True)
        if isinstance(result, Stored)
    ]


def _upsert(
    heymarket: HeymarketPort, steps: Sequence[UpsertStep], deadline: Deadline, reconsent: ReconsentRule
) -> list[UpsertResult]:
    """Heymarket's answer for each step's contact (one request for them all; none for no step)."""
    if not steps:
        return []
    contacts, known = [step.contact for step in steps], [step.known for step in steps]
    return heymarket.upsert(contacts, deadline, known, _reconsent_times(steps, reconsent))


def _blocked(delete: DeleteResult | None) -> NotDone:
    """An upsert not sent: it follows a delete that was not done, and shares its failure."""
    assert isinstance(delete, NotDone)  # an upsert not sent follows a delete that was not done
    why = "failed" if isinstance(delete.failure, PermanentFailure) else "could not be sent yet"
    return NotDone(reworded(delete.failure, f"the delete received before it {why}: {delete.failure.reason}"))


def _after(earlier: UpsertResult, answer: UpsertResult) -> UpsertResult:
    """A contact's answer when sent again: a failure stays in doubt when an earlier write of it may have taken
    effect."""
    if isinstance(earlier, NotDone) and earlier.failure.outcome_unknown and isinstance(answer, NotDone):
        answer.failure.outcome_unknown = True
    return answer


def _reconsent_times(steps: Sequence[UpsertStep], reconsent: ReconsentRule) -> list[str | None]:
    """For each step, the consent time its opt-in may opt a person back in with (None: it may not)."""
    if not reconsent:
        return []
    return [
        reconsent.consent_time(step.consent_source, step.consent, claim_received_at(step))
        if step.contact.is_opted_out is False
        else None
        for step in steps
    ]


def _all_gone(results: list[DeleteResult]) -> DeleteResult:
    """A delete step is done when every one of its targets is gone; else it shares its first failure."""
    failed = [result for result in results if isinstance(result, NotDone)]
    if failed:
        return failed[0]
    done = [result for result in results if isinstance(result, Deleted)]
    return Deleted(sum(r.count for r in done), next((r.request_id for r in done if r.request_id), None))
