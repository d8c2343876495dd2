"""The tags and lists the bridge creates, created once whatever happens on the way: the managed-lists table's records
claimed one consumer at a time (`Claims`), and the managed lists' ids (`ListDirectory`). Over the ports
`SegmentsPort` and `ManagedStore` (heymarket_bridge.sync.ports); used by heymarket_bridge.sync.lists.steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from heymarket_bridge.domain.failures import Deadline, GatewayFailure, PermanentFailure, TransientFailure
from heymarket_bridge.observability import logger
from heymarket_bridge.sync.failures import StoreUnavailable
from heymarket_bridge.sync.lists.rules import list_local_id, managed_list_key
from heymarket_bridge.sync.model import ManagedRecord

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import ManagedStore, SegmentsPort

# A consumer creating a tag or list holds a claim for at most one invocation (the sync function's Timeout, 60 s):
# a claim older than this belongs to a consumer that died mid-way, and another may take it over.
CLAIM_TTL_S = 300.0
# How long a consumer waits for another's claim, re-reading the record after each pause (seconds).
CLAIM_WAITS_S = (0.25, 0.5, 1.0, 2.0)


class ListDirectory:
    """The ids of the lists the bridge manages, created once per stack and name whatever happens on the way.

    The managed-lists table holds one record per list (by folded name): its id once created, else who is creating it
    (a claim) and the generation of `local_id` in use. One consumer creates a list; the others wait for its record.
    Heymarket does not document what `POST /v2/lists` does with a `local_id` already used (answer the existing list,
    refuse it, or create a second list), nor is there an endpoint that lists lists, so:

    - a create whose answer is lost (no answer, a reset, a 5xx, an answer that cannot be read, or a consumer that
      died mid-way) is not repeated in the same invocation; the record keeps `maybe_sent`, and the next attempt sends
      it again with the SAME local_id: if Heymarket answers with the existing list, that list is used (one list); if
      it creates the list only now, the first never landed (one list); if it refuses the repeat, the first did land
      but its id cannot be read back: the bridge creates the list under the next local_id and logs the first, empty
      one (title and local_id) for you to delete; if it creates a second list for a repeated local_id, the first
      (empty) is never used either. Every consumer uses the one list the record names, whatever the case.
    - a create refused outright (its local_id used outside the bridge's record, or the title refused) is tried once
      under the next local_id; refused again, it is refused for good (dead-lettered with Heymarket's reason).
    - a list Heymarket answers 404 for, with its own error object (deleted in its app), is never created again on the
      bridge's own: its writes are dead-lettered, saying to give the list a new name (or an id) and redrive them. A
      404 without it (a proxy's page) says nothing of the list: a configuration failure, its writes wait.
    """

    def __init__(self, heymarket: SegmentsPort, claims: Claims, stack: str) -> None:
        self._heymarket = heymarket
        self._claims = claims
        self._stack = stack
        self._ids: dict[str, int] = {}  # by table key, for this execution environment

    def list_id(self, name: str, deadline: Deadline) -> int | GatewayFailure:
        key = managed_list_key(name)
        if key in self._ids:
            return self._ids[key]
        try:
            found = self._ensure(key, name, deadline)
        except StoreUnavailable as exc:
            return TransientFailure(f"the managed-lists table could not be read or written: {exc}")
        if isinstance(found, int):
            self._ids[key] = found
        return found

    def _ensure(self, key: str, name: str, deadline: Deadline) -> int | GatewayFailure:
        claimed = self._claims.claim(key, name, deadline, ready=lambda record: True)
        if isinstance(claimed, int | GatewayFailure):
            return claimed
        return self._create(claimed, deadline, retry_refused=True)

    def _create(self, claimed: ManagedRecord, deadline: Deadline, *, retry_refused: bool) -> int | GatewayFailure:
        local_id = list_local_id(self._stack, claimed.name, claimed.generation)
        try:
            list_id = self._heymarket.create_list(claimed.name, local_id, deadline)
        except PermanentFailure as refused:
            return self._refused(claimed, refused, deadline, retry_refused=retry_refused)
        except TransientFailure as failure:
            self._claims.release(replace(claimed, maybe_sent=claimed.maybe_sent or failure.outcome_unknown))
            if failure.outcome_unknown:
                return TransientFailure(
                    f"creating the list {claimed.name!r} may have worked but its answer was lost ({failure.reason}); "
                    "it is asked again with the same local_id on the next attempt",
                    request_id=failure.request_id,
                )
            return failure
        except GatewayFailure as failure:
            self._claims.release(claimed)
            return failure
        if claimed.maybe_sent:
            logger.info(
                "A list create whose answer was lost was sent again with the same local_id",
                extra={"list": claimed.name, "local_id": local_id, "list_id": list_id},
            )
        if self._claims.release(replace(claimed, resource_id=list_id, maybe_sent=False, created_at=self._claims.now())):
            logger.info("Created a managed list in Heymarket", extra={"list": claimed.name, "list_id": list_id})
            return list_id
        # Another consumer took the claim over meanwhile (this one outlived CLAIM_TTL_S): its record decides.
        record = self._claims.read(claimed.key)
        if record is not None and record.resource_id is not None:
            logger.error(
                "Two consumers created the same managed list; the one its record names is used",
                extra={"list": claimed.name, "unused_list_id": list_id, "list_id": record.resource_id},
            )
            return record.resource_id
        return TransientFailure(f"the list {claimed.name!r} is being created by another consumer")

    def _refused(
        self, claimed: ManagedRecord, refused: PermanentFailure, deadline: Deadline, *, retry_refused: bool
    ) -> int | GatewayFailure:
        local_id = list_local_id(self._stack, claimed.name, claimed.generation)
        if not retry_refused:
            # Refused under two local_ids: the title (or the request) is what Heymarket refuses. Nothing was created
            # under this local_id, so the next attempt may use it again.
            self._claims.release(replace(claimed, generation=claimed.generation - 1, maybe_sent=False))
            reason = f"Heymarket refused to create the list {claimed.name!r}: {refused.reason}"
            return PermanentFailure(reason, request_id=refused.request_id)
        if claimed.maybe_sent:
            logger.error(
                "Heymarket refused a repeated local_id whose first create's answer was lost: that list exists, empty, "
                "and its id cannot be read back; the list is created under a new local_id (delete the empty one in "
                "Heymarket)",
                extra={"list": claimed.name, "unused_local_id": local_id},
            )
        following = replace(claimed, generation=claimed.generation + 1, maybe_sent=False)
        if not self._claims.write(following):
            return TransientFailure(f"the list {claimed.name!r} is being created by another consumer")
        return self._create(replace(following, version=following.version + 1), deadline, retry_refused=False)


class Claims:
    """Records of the managed-lists table, written one consumer at a time (conditional writes, `version`)."""

    def __init__(
        self,
        store: ManagedStore,
        wall_clock: Callable[[], float],
        sleep: Callable[[float], None],
        new_token: Callable[[], str],
    ) -> None:
        self._store = store
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._token = new_token()  # this execution environment's

    def now(self) -> float:
        return self._wall_clock()

    def age(self, since: float) -> float:
        return self._wall_clock() - since

    def read(self, key: str) -> ManagedRecord | None:
        return self._store.get(key)

    def write(self, record: ManagedRecord) -> bool:
        """Write a record read (or claimed) at `record.version`; False when another write came first."""
        return self._store.put(record)

    def claim(
        self, key: str, name: str, deadline: Deadline, *, ready: Callable[[ManagedRecord], bool]
    ) -> ManagedRecord | int | GatewayFailure:
        """The resource's id if its record has one that is `ready`; else the record claimed by this consumer (at its
        new version) to create it; else, after waiting a few seconds for another consumer's claim, a failure.

        Taking over a stale claim sets `maybe_sent`: the consumer that held it may have sent its create."""
        for pause in (0.0, *CLAIM_WAITS_S):
            if pause:
                if deadline.remaining() <= pause:
                    break
                self._sleep(pause)
            record = self._store.get(key)
            if record is not None and record.claim is None and record.resource_id is not None and ready(record):
                return record.resource_id
            claimed_elsewhere = record is not None and record.claim is not None
            if claimed_elsewhere and record is not None and self.age(record.claimed_at) < CLAIM_TTL_S:
                continue
            base = record or ManagedRecord(key, name)
            claimed = replace(
                base,
                resource_id=None,
                claim=self._token,
                claimed_at=self._wall_clock(),
                maybe_sent=base.maybe_sent or claimed_elsewhere,
            )
            if self._store.put(claimed):
                return replace(claimed, version=claimed.version + 1)
        return TransientFailure(f"{name!r} is being created by another consumer; its contacts follow once it is")

    def release(self, record: ManagedRecord) -> bool:
        """Write a claimed record back without the claim; False when another consumer took the claim over."""
        try:
            return self._store.put(replace(record, claim=None))
        except StoreUnavailable:
            # The claim stays until it is stale (CLAIM_TTL_S); then `maybe_sent` makes the next creator ask again
            # with the same local_id, which is what a lost answer calls for anyway.
            logger.warning("Could not release a claim in the managed-lists table", extra={"key": record.key})
            return False
