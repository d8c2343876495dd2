"""Buffering validated contacts in SQS: each phone's newest contact claimed first (heymarket_bridge.ingest.repeats),
so that a contact equal to the newest one queued for its phone by the same source within a retry burst is not
queued again, whatever the interleaving of concurrent deliveries; then the refusal letters.

A contact that cannot be queued, or whose phone stays contended, makes the answer a 503 (the sender retries; the
contacts already queued are not queued twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from heymarket_bridge.domain.operations import ContactOperation, QueuedOperation
from heymarket_bridge.domain.text import printable
from heymarket_bridge.ingest.failures import BufferUnavailable, DeliveryLedgerUnavailable
from heymarket_bridge.ingest.letters import write_letters
from heymarket_bridge.ingest.per_phone import contact_fingerprint
from heymarket_bridge.ingest.planning import DeliveryPlan, queue_message
from heymarket_bridge.ingest.ports import MessageQueue, RecentContacts, RefusalLetters
from heymarket_bridge.ingest.repeats import Latest, PhoneClaim, RepeatVerdict, judge, rank
from heymarket_bridge.ingest.replies import IngestOutcome
from heymarket_bridge.observability import emit_metric, logger

# Rounds of reading and conditionally writing a phone's newest contact before a delivery contended by concurrent ones
# for the same phone is answered 503 (its sender retries).
MAX_CLAIM_ROUNDS = 5
# An operation's verdict, and the version of its claim when it claimed its phone ("" otherwise); None: undecided.
Judged = tuple[RepeatVerdict | None, str]


class ContactBuffer:
    """The queue, the record of each phone's newest contact (optional) and the DLQ's refusal letters (optional)."""

    def __init__(
        self, queue: MessageQueue, recent: RecentContacts | None = None, refusals: RefusalLetters | None = None
    ) -> None:
        self._queue = queue
        self._recent = recent
        self._refusals = refusals

    def enqueue(self, operations: Sequence[QueuedOperation], *, raise_on_failure: bool = True) -> list[int]:
        """Send the operations to the queue; the positions of those not sent (503 unless told otherwise)."""
        messages = [queue_message(op) for op in operations]
        unsent = self._queue.send(messages) if messages else []
        if unsent and raise_on_failure:
            raise BufferUnavailable(
                f"{len(unsent)} of {len(messages)} contacts could not be buffered; retry the request"
            )
        return unsent

    def write_letters(self, plan: DeliveryPlan) -> None:
        write_letters(self._refusals, plan.letters)

    def buffer(self, source: str, delivery_id: str, plan: DeliveryPlan) -> IngestOutcome:
        """Queue the planned contacts that are not repeats of the newest ones known for their phones."""
        operations = plan.operations
        verdicts = self._judge(operations)
        fresh = [i for i, (verdict, _) in enumerate(verdicts) if verdict in (RepeatVerdict.CLAIM, RepeatVerdict.QUEUE)]
        undecided = [i for i, (verdict, _) in enumerate(verdicts) if verdict is None]
        unsent = self.enqueue([operations[i] for i in fresh], raise_on_failure=False)
        queued = [i for position, i in enumerate(fresh) if position not in set(unsent)]
        self._confirm({operations[i].contact.phone: verdicts[i][1] for i in queued if verdicts[i][1]})
        if unsent or undecided:
            raise BufferUnavailable(
                f"{len(unsent) + len(undecided)} of {len(operations)} contacts could not be buffered; retry the "
                "request (the contacts already buffered are not buffered twice)"
            )
        self.write_letters(plan)
        return _outcome(source, delivery_id, plan, verdicts, len(queued))

    def _judge(self, operations: Sequence[ContactOperation]) -> list[Judged]:
        """Each operation's verdict (heymarket_bridge.ingest.repeats), and the version of its claim when it claimed
        its phone.

        A verdict stands only once the phone's entry was found as it was read (a conditional write), else the phone is
        read and judged again; None for one still contended after MAX_CLAIM_ROUNDS (its delivery is answered 503).
        Without the table every operation is queued as it is.
        """
        verdicts: list[Judged] = [(RepeatVerdict.QUEUE, "")] * len(operations)
        if self._recent is None or not operations:
            return verdicts
        verdicts = [(None, "")] * len(operations)
        pending = list(range(len(operations)))
        try:
            for _ in range(MAX_CLAIM_ROUNDS):
                if not pending:
                    break
                pending = self._claim_round(self._recent, operations, pending, verdicts)
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot check for repeated contacts right now; retry later") from exc
        if pending:
            logger.warning("Contacts contended by concurrent deliveries", extra={"contacts": len(pending)})
        return verdicts

    @staticmethod
    def _claim_round(
        recent: RecentContacts, operations: Sequence[ContactOperation], pending: list[int], verdicts: list[Judged]
    ) -> list[int]:
        """Judge the `pending` operations on their phones' entries as read now, writing each decided verdict into
        `verdicts`; the operations whose entry changed since it was read (to be read and judged again)."""
        known = recent.seen([operations[i].contact.phone for i in pending])
        claims: list[tuple[int, PhoneClaim]] = []
        for i in pending:
            claim, verdict = _judged(operations[i], known.get(operations[i].contact.phone))
            if claim is not None:
                claims.append((i, claim))
            else:
                verdicts[i] = (verdict, "")
        versions = recent.claim([claim for _, claim in claims]) if claims else []
        contended = []
        for (i, claim), version in zip(claims, versions, strict=True):
            if version is None:
                contended.append(i)  # its entry changed since it was read: read and judged again
            else:
                verdicts[i] = (RepeatVerdict.REPEAT, "") if claim.repeat else (RepeatVerdict.CLAIM, version)
        return contended

    def _confirm(self, versions: Mapping[str, str]) -> None:
        if self._recent is None or not versions:
            return
        try:
            self._recent.confirm(versions)
        except DeliveryLedgerUnavailable:
            # The contacts are in the queue: the answer stays a 202. Left unconfirmed, a resend is queued again.
            logger.warning("Could not record the latest contacts", extra={"contacts": len(versions)})

    def forget(self, phones: list[str], by_id: bool, rank: int) -> None:
        """A contact deleted is no longer the latest for its phone: an upsert repeated after the delete must run."""
        if self._recent is None:
            return
        try:
            if phones:
                self._recent.forget(phones, rank)
            if by_id:
                self._recent.void()
        except DeliveryLedgerUnavailable as exc:
            raise BufferUnavailable("the bridge cannot record the delete right now; retry later") from exc


def _judged(operation: ContactOperation, latest: Latest | None) -> tuple[PhoneClaim | None, RepeatVerdict]:
    """The claim to write for an operation given its phone's entry as read (None when its verdict needs none), and
    its verdict."""
    phone = operation.contact.phone
    content, place = contact_fingerprint(operation), rank(operation.occurred_at, operation.received_at)
    verdict = judge(latest, content, place, opt_out=operation.contact.is_opted_out is True)
    if verdict is RepeatVerdict.CLAIM:
        return PhoneClaim(phone, latest, content, place), verdict
    if verdict is RepeatVerdict.REPEAT and latest is not None and place > latest.rank:
        return PhoneClaim(phone, latest, content, place, repeat=True), verdict
    return None, verdict


_ALWAYS: Final = frozenset({"source", "outcome", "accepted", "queued"})


def _outcome(
    source: str, delivery_id: str, plan: DeliveryPlan, verdicts: Sequence[Judged], queued: int
) -> IngestOutcome:
    """The answer to a delivery whose contacts are buffered, its metric and its summary line (the webhook's one line:
    heymarket_bridge.observability.WEBHOOK_OUTCOMES; repeats, superseded and rejected contacts are counted there)."""
    emit_metric("ContactsEnqueued", queued)
    repeats = sum(verdict is RepeatVerdict.REPEAT for verdict, _ in verdicts)
    superseded = sum(verdict is RepeatVerdict.SUPERSEDED for verdict, _ in verdicts)
    duplicate = bool(plan.operations) and repeats == len(plan.operations)
    outcome = IngestOutcome(plan.accepted, plan.rejected, duplicate=duplicate)
    # Counts of zero and empty lists left out: the line is billed per byte, and a query reads a missing count as none.
    extra = {
        "source": source,
        "outcome": "duplicate" if outcome.duplicate else "accepted",
        "accepted": outcome.accepted,
        "queued": queued,
        "delivery_id": printable(delivery_id[:200]),
        "repeats": repeats,
        "superseded": superseded,
        "rejected": len(outcome.rejected),
        "rejections": [r.errors for r in outcome.rejected][:20],
    }
    logger.info("Webhook accepted", extra={k: v for k, v in extra.items() if v or k in _ALWAYS})
    return outcome
