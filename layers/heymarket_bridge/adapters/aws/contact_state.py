"""The contact state table in DynamoDB: `heymarket_bridge.sync.ports.ContactStatePort`.

One item per phone, keyed by `phone` (E.164 digits): `rev` (changes with every write), `applied` (epoch ms of the
newest operation applied), `deleted` (a tombstone, which expires through the table's TTL attribute `expires`),
`cid` and `uuid` (the contact's identifiers), `snapshot` (the contact as Heymarket's last answer showed it, JSON),
`digests` (per field), `confirmed` (epoch ms), `lease` and `lease_until` (the invocation applying an operation),
`waiting` and `waiting_until` (a newer operation that met another's lease and goes next: sync/state/priority.py). One
more item, `#meta` (no phone looks like it), holds `void`: the time of the last delete by contact id. Items keyed
`#bound:uuid:<uuid>` or `#bound:id:<id>` hold `bound`: the phone the contact was last stored for, so that storing it
for another phone releases the old one (`bind`).

Every call covers many phones: reads are `BatchGetItem` (100 keys a call, strongly consistent), conditional writes
of several phones `TransactWriteItems` (100 items a call), which says, item by item, which condition failed (and
returns that item: `ReturnValuesOnConditionCheckFailure`); it is sent again without the items refused, a few times,
and items other transactions kept busy are neither written nor refused. The items are independent (one per phone):
a transaction buys one round trip, not atomicity, so one phone's write is a plain conditional `UpdateItem` (same
condition and return of the item refused) at 1 write unit instead of 2 ("Capacity management for transactions",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html). Whatever goes wrong with the
table itself (an error, no answer in time, throttling past the client's retries) is `StateUnavailable`: the sync
function treats it as transient, never as a reason to skip an operation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.observability import logger
from heymarket_bridge.sync.failures import StateUnavailable
from heymarket_bridge.sync.model import (
    Advance,
    Binding,
    Claim,
    ContactState,
    Identity,
    Lease,
    Release,
    StateRead,
    Wait,
    WriteResult,
)

META_KEY: Final = "#meta"
BOUND_PREFIX: Final = "#bound:"
# What a phone's item loses when the contact it was bound to is stored for another phone: all it knew of that contact.
_RELEASED_ATTRIBUTES: Final = ("cid", "uuid", "snapshot", "digests", "confirmed")
BATCH_GET: Final = 100
TRANSACTION_ITEMS: Final = 100
ATTEMPTS: Final = 3
# Every attribute a release sets or removes: an attribute the new state lacks is removed.
_STATE_ATTRIBUTES: Final = ("applied", "deleted", "cid", "uuid", "snapshot", "digests", "confirmed", "expires")
# Reasons of a cancelled transaction that another try may get past (another transaction held an item, throttling).
_RETRYABLE: Final = frozenset({"None", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
# The same, as the error code of one item's UpdateItem.
_RETRYABLE_ERRORS: Final = frozenset(
    {"TransactionConflictException", "ThrottlingException", "ProvisionedThroughputExceededException"}
)


class DynamoDbContactState:
    """The contact state table. Counts what it reads and writes (items), for the benchmarks."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff_s: float = 0.05,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._sleep = sleep
        self._backoff_s = backoff_s
        self.items_read = 0
        self.items_written = 0  # items written (in a transaction, each costs two write units per KB; alone, one)

    # ------------------------------------------------------------------ reads

    def read(self, phones: Sequence[str]) -> StateRead:
        keys = [*dict.fromkeys(phones), META_KEY]
        try:
            items = self._get_items(keys)
        except (ClientError, BotoCoreError) as exc:
            raise StateUnavailable(_why(exc)) from exc
        meta = items.pop(META_KEY, {})
        return StateRead({phone: _state(item) for phone, item in items.items()}, _number(meta.get("void")))

    # ------------------------------------------------------------------ conditional writes

    def write(self, writes: Sequence[Claim | Advance | Wait], now_ms: int) -> WriteResult:
        by_phone = {write.phone: write for write in writes}
        outcome = self._transact({phone: _write_item(self._table, write, now_ms) for phone, write in by_phone.items()})
        return WriteResult(
            outcome.written, {phone: _state(item) if item else None for phone, item in outcome.refused.items()}
        )

    def release(self, releases: Sequence[Release]) -> frozenset[str]:
        items = {release.phone: _release_item(self._table, release) for release in releases}
        try:
            return self._transact(items).written
        except StateUnavailable as exc:
            logger.warning("Contact state leases not given back", extra={"error": str(exc), "count": len(items)})
            return frozenset()

    def void(self, at_ms: int) -> None:
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"phone": {"S": META_KEY}},
                UpdateExpression="SET #void = :at",
                ConditionExpression="attribute_not_exists(#void) OR #void < :at",
                ExpressionAttributeNames={"#void": "void"},  # a reserved word, like uuid and snapshot
                ExpressionAttributeValues={":at": {"N": str(at_ms)}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return  # a later one is recorded already
            raise StateUnavailable(_why(exc)) from exc
        except BotoCoreError as exc:
            raise StateUnavailable(_why(exc)) from exc
        self.items_written += 1

    def bind(self, bindings: Sequence[Binding]) -> frozenset[str]:
        """Read each contact's `#bound:` item (batched), release the other phone it names if that phone is still
        bound to the contact (a conditional update: another binding since is left alone), then record the new
        phone. Raises StateUnavailable; a binding recorded before a failure stays recorded."""
        by_key = {_bound_key(binding.identity): binding for binding in bindings}
        released: set[str] = set()
        try:
            bound = self._bound_phones(list(by_key))
            for key, binding in by_key.items():
                old = bound.get(key)
                if old is not None and old != binding.phone and self._release_binding(old, binding):
                    released.add(old)
                self._dynamodb.update_item(
                    TableName=self._table,
                    Key={"phone": {"S": key}},
                    UpdateExpression="SET bound = :phone",
                    ExpressionAttributeValues={":phone": {"S": binding.phone}},
                )
                self.items_written += 1
        except (ClientError, BotoCoreError) as exc:
            raise StateUnavailable(_why(exc)) from exc
        return frozenset(released)

    def _bound_phones(self, keys: list[str]) -> dict[str, str]:
        items = self._get_items(keys)
        return {key: item["bound"]["S"] for key, item in items.items() if "S" in item.get("bound", {})}

    def _get_items(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The items of `keys` (consistent reads, BatchGetItem's 100 keys at a time, unprocessed keys retried with
        backoff), by key. Raises StateUnavailable when keys are still unprocessed after ATTEMPTS; ClientError and
        BotoCoreError pass through to the caller."""
        items: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), BATCH_GET):
            pending: list[dict[str, Any]] = [{"phone": {"S": key}} for key in keys[start : start + BATCH_GET]]
            for attempt in range(ATTEMPTS):
                if attempt:
                    self._sleep(self._backoff_s * 2 ** (attempt - 1))
                answer = self._dynamodb.batch_get_item(
                    RequestItems={self._table: {"Keys": pending, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self._table, []):
                    items[item["phone"]["S"]] = item
                self.items_read += len(pending)
                pending = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                self.items_read -= len(pending)
                if not pending:
                    break
            if pending:
                raise StateUnavailable(f"{len(pending)} keys left unprocessed (throttled)")
        return items

    def _release_binding(self, phone: str, binding: Binding) -> bool:
        """Forget what `phone`'s item knows of the contact, if it is still bound to it; whether it was."""
        identity = binding.identity
        if identity.uuid is not None:
            condition, values = "#uuid = :held", {":held": {"S": identity.uuid}}
        else:
            condition, values = "cid = :held", {":held": {"N": str(identity.id)}}
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"phone": {"S": phone}},
                UpdateExpression="SET rev = rev + :one REMOVE " + ", ".join(f"#{n}" for n in _RELEASED_ATTRIBUTES),
                ConditionExpression=condition,
                ExpressionAttributeNames={f"#{n}": n for n in _RELEASED_ATTRIBUTES},
                ExpressionAttributeValues={**values, ":one": {"N": "1"}},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False  # bound to another contact since, or gone: nothing of this contact to forget
            raise
        self.items_written += 1
        return True

    def _transact(self, items: Mapping[str, dict[str, Any]]) -> _Outcome:
        """Write the items (one per phone) in transactions of at most 100, each sent again without the items whose
        condition failed; raises StateUnavailable when the table fails."""
        outcome = _Outcome()
        phones = list(items)
        for start in range(0, len(phones), TRANSACTION_ITEMS):
            pending = phones[start : start + TRANSACTION_ITEMS]
            for attempt in range(ATTEMPTS):
                if not pending:
                    break
                if attempt:
                    self._sleep(self._backoff_s * 2 ** (attempt - 1))
                pending = (
                    self._update_one(pending[0], items[pending[0]], outcome)
                    if len(pending) == 1  # a plain conditional update: 1 write unit, not a transaction's 2
                    else self._transaction(pending, items, outcome)
                )
        return outcome

    def _transaction(self, phones: list[str], items: Mapping[str, dict[str, Any]], outcome: _Outcome) -> list[str]:
        """One transaction; returns the phones to send again."""
        try:
            self._dynamodb.transact_write_items(TransactItems=[items[phone] for phone in phones])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons")
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException" or not reasons:
                raise StateUnavailable(_why(exc)) from exc
            again: list[str] = []
            written: list[str] = []
            for phone, reason in zip(phones, reasons, strict=False):
                code = str(reason.get("Code") or "None")
                if code == "ConditionalCheckFailed" and _claimed_by(items[phone], reason.get("Item") or {}):
                    # This claim landed already: an attempt whose answer was lost (a timeout botocore retried).
                    # DynamoDB's ClientRequestToken makes such a retry idempotent; a table that ignores it does not.
                    written.append(phone)
                elif code == "ConditionalCheckFailed":
                    outcome.refused[phone] = dict(reason.get("Item") or {})
                elif code in _RETRYABLE:
                    again.append(phone)
                else:
                    raise StateUnavailable(f"the transaction was cancelled: {code}") from exc
            # An earlier attempt that landed wrote every item of it (a transaction is all or nothing): those found
            # holding this claim's lease are written; the others are refused or sent again as they say.
            outcome.written |= frozenset(written)
            self.items_written += len(written)
            return again
        except BotoCoreError as exc:
            raise StateUnavailable(_why(exc)) from exc
        outcome.written |= frozenset(phones)
        self.items_written += len(phones)
        return []

    def _update_one(self, phone: str, item: Mapping[str, Any], outcome: _Outcome) -> list[str]:
        """One phone's write as a conditional UpdateItem, its outcome sorted as a transaction's reason would be;
        returns [phone] to send again (a conflict with a transaction, throttling past botocore's retries)."""
        try:
            self._dynamodb.update_item(**item["Update"])
        except ClientError as exc:
            answer: Any = exc.response  # botocore's typing lacks the item a failed condition returns
            code = str(answer.get("Error", {}).get("Code") or "")
            found = dict(answer.get("Item") or {})
            if code == "ConditionalCheckFailedException" and _claimed_by(item, found):
                pass  # this claim landed already: an attempt whose answer was lost (see _transaction)
            elif code == "ConditionalCheckFailedException":
                outcome.refused[phone] = found
                return []
            elif code in _RETRYABLE_ERRORS:
                return [phone]
            else:
                raise StateUnavailable(_why(exc)) from exc
        except BotoCoreError as exc:
            raise StateUnavailable(_why(exc)) from exc
        outcome.written |= {phone}
        self.items_written += 1
        return []


class _Outcome:
    def __init__(self) -> None:
        self.written: frozenset[str] = frozenset()
        self.refused: dict[str, dict[str, Any]] = {}


def _write_item(table: str, write: Claim | Advance | Wait, now_ms: int) -> dict[str, Any]:
    key = {"phone": {"S": write.phone}}
    if isinstance(write, Wait):
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET waiting = :rank, waiting_until = :until, rev = rev + :one",
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {
                    ":rank": {"N": str(write.rank)},
                    ":until": {"N": str(write.until_ms)},
                    ":one": {"N": "1"},
                    ":rev": {"N": str(write.expected.rev)},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    if isinstance(write, Advance):
        return {
            "Update": {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET applied = :applied, rev = rev + :one",
                "ConditionExpression": "rev = :rev",
                "ExpressionAttributeValues": {
                    ":applied": {"N": str(write.applied_ms)},
                    ":one": {"N": "1"},
                    ":rev": {"N": str(write.expected.rev)},
                },
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
    values: dict[str, Any] = {
        ":token": {"S": write.lease.token},
        ":until": {"N": str(write.lease.until_ms)},
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
    }
    if write.expected is None:
        condition = "attribute_not_exists(phone)"
    else:
        condition = "rev = :rev AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        values.update({":rev": {"N": str(write.expected.rev)}, ":now": {"N": str(now_ms)}})
    return {
        "Update": {
            "TableName": table,
            "Key": key,
            "UpdateExpression": "SET lease = :token, lease_until = :until, rev = if_not_exists(rev, :zero) + :one",
            "ConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def _claimed_by(item: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    """Whether `found` (the item as a failed condition saw it) holds the lease the claim `item` takes: that claim
    was written by an earlier attempt."""
    update = item.get("Update", {})
    token = update.get("ExpressionAttributeValues", {}).get(":token", {}).get("S")
    until = update.get("ExpressionAttributeValues", {}).get(":until", {}).get("N")
    claim = str(update.get("UpdateExpression", "")).startswith("SET lease = :token")
    return (
        claim
        and token is not None
        and found.get("lease", {}).get("S") == token
        and found.get("lease_until", {}).get("N") == until
    )


def _release_item(table: str, release: Release) -> dict[str, Any]:
    values: dict[str, Any] = {":token": {"S": release.token}, ":one": {"N": "1"}}
    sets = ["rev = rev + :one"]
    removes = ["lease", "lease_until"]
    if release.hold_until_ms is not None:  # kept a while longer: a request may still take effect
        sets.append("lease_until = :hold")
        values[":hold"] = {"N": str(release.hold_until_ms)}
        removes = []
    if release.state is not None:
        attributes = _attributes(release.state)
        for name in _STATE_ATTRIBUTES:
            if name in attributes:
                sets.append(f"#{name} = :{name}")
                values[f":{name}"] = attributes[name]
            else:
                removes.append(f"#{name}")
    names = {f"#{name}": name for name in _STATE_ATTRIBUTES if f"#{name}" in " ".join(sets + removes)}
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"phone": {"S": release.phone}},
        "UpdateExpression": f"SET {', '.join(sets)}" + (f" REMOVE {', '.join(removes)}" if removes else ""),
        "ConditionExpression": "lease = :token",
        "ExpressionAttributeValues": values,
    }
    if names:
        update["ExpressionAttributeNames"] = names
    return {"Update": update}


def _attributes(state: ContactState) -> dict[str, Any]:
    """The item attributes of a state (those it has; the others are removed)."""
    attributes: dict[str, Any] = {"applied": {"N": str(state.applied_ms)}}
    if state.deleted:
        attributes["deleted"] = {"BOOL": True}
    if state.identity is not None and state.identity.id is not None:
        attributes["cid"] = {"N": str(state.identity.id)}
    if state.identity is not None and state.identity.uuid is not None:
        attributes["uuid"] = {"S": state.identity.uuid}
    if state.snapshot is not None:
        attributes["snapshot"] = {"S": json.dumps(state.snapshot.to_dict(), separators=(",", ":"), ensure_ascii=False)}
    if state.digests:
        attributes["digests"] = {"M": {name: {"S": digest} for name, digest in state.digests.items()}}
    if state.confirmed_ms:
        attributes["confirmed"] = {"N": str(state.confirmed_ms)}
    if state.expires_s is not None:
        attributes["expires"] = {"N": str(state.expires_s)}
    return attributes


def _state(item: Mapping[str, Any]) -> ContactState:
    """An item as the state it holds; what it lacks takes its default (an item written by an older version)."""
    cid = item.get("cid", {}).get("N")
    uuid = item.get("uuid", {}).get("S")
    identity = Identity(int(cid) if cid is not None else None, uuid) if cid is not None or uuid is not None else None
    snapshot: Contact | None = None
    if "snapshot" in item:
        try:
            snapshot = Contact.from_dict(json.loads(item["snapshot"]["S"]))
        except (ValueError, TypeError, KeyError):
            snapshot = None  # unreadable: the next write goes through the search
    lease = item.get("lease", {}).get("S")
    expires = item.get("expires", {}).get("N")
    return ContactState(
        phone=item["phone"]["S"],
        rev=_number(item.get("rev")),
        applied_ms=_number(item.get("applied")),
        deleted=bool(item.get("deleted", {}).get("BOOL", False)),
        identity=identity,
        snapshot=snapshot,
        digests={name: str(value.get("S", "")) for name, value in item.get("digests", {}).get("M", {}).items()},
        confirmed_ms=_number(item.get("confirmed")),
        lease=Lease(lease, _number(item.get("lease_until"))) if lease is not None else None,
        expires_s=int(expires) if expires is not None else None,
        waiting_rank=_number(item.get("waiting")),
        waiting_until_ms=_number(item.get("waiting_until")),
    )


def _bound_key(identity: Identity) -> str:
    """The key of the item holding the phone a contact is bound to (by its UUID, else its integer id)."""
    return f"{BOUND_PREFIX}uuid:{identity.uuid}" if identity.uuid is not None else f"{BOUND_PREFIX}id:{identity.id}"


def _number(value: Mapping[str, Any] | None) -> int:
    try:
        return int((value or {}).get("N", "0"))
    except ValueError:
        return 0


def _why(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or type(exc).__name__)
    return type(exc).__name__
