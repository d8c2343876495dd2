"""What the ingest side remembers of past deliveries, in the stack's DynamoDB table.

- `DynamoDbDeliveryLedger`: deliveries a sender names (a webhook or event id, an Idempotency-Key). The first
  delivery's answer is stored under its key for longer than any sender's retry window; a repeat gets that answer
  back and enqueues nothing. Keys are hashed whole with SHA-256, never truncated; a key whose content differs from
  the first delivery's is a conflict.
- `DynamoDbRecentContacts`: for each phone, the newest contact known (its fingerprint and rank,
  heymarket_bridge.ingest.repeats), written with conditional writes: what tells a retry from a change when the sender
  names no delivery, whatever the interleaving of concurrent deliveries.

Items of both share the table's key `id` and its TTL attribute `expiration`; the phones are stored as SHA-256
digests, and no digest is ever logged.

Cost (on-demand, items under 1 KB; `python -m benchmarks --only cost`): a first named delivery of one contact reads
3 items and writes 3 (the ledger's answer once, the phone's claim and its confirmation), each a plain conditional
write (1 write unit); a transaction, 2 units an item, is used only to write several phones in one call.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.ingest.failures import DeliveryKeyConflict, DeliveryLedgerUnavailable
from heymarket_bridge.ingest.repeats import Latest, PhoneClaim
from heymarket_bridge.observability import logger

# Longer than the retry windows of the senders: Shopify 4 h, HubSpot 3 days, Salesforce 24 h, Typeform a day.
DEFAULT_RETENTION_S = 4 * 24 * 3600
# How long the latest contact of a phone is remembered: a sender's retry burst, not a day.
RECENT_WINDOW_S = 15 * 60
_VOID_ID = "recent#void"
_BATCH_GET = 100
_BATCH_WRITE = 25
_BATCH_TRANSACT = 100
_CONDITION_FAILED = "ConditionalCheckFailedException"


class DynamoDbDeliveryLedger:
    """Runs a delivery's work once per key; later calls with the key get the first result back.

    One strongly consistent read before the work, one conditional write of its answer after it: a first delivery
    costs 1 read unit and 1 write unit (answers under 1 KB), a repeat the read only. Nothing is written before the
    work (Powertools' idempotency wrote an "in progress" record first, then the answer: two writes): two first
    deliveries of one key at the same moment may then both run, which changes nothing queued, since the newest
    contact of each phone (DynamoDbRecentContacts) makes the second one's contacts repeats; the first answer
    written is the one kept. Items: `id` ("delivery#" + SHA-256 of the key), `content` (SHA-256 of the content),
    `answer` (JSON), `expiration` (epoch seconds, the table's TTL; DynamoDB deletes expired items within days, so an
    expired item is read as absent).
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        retention_s: int = DEFAULT_RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._retention_s = retention_s
        self._clock = clock

    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(result, first time): `work()`'s result, computed now or replayed from the first delivery with `key`.

        Raises DeliveryKeyConflict (the first had another `content`) or DeliveryLedgerUnavailable (the table cannot
        be read: nothing was done). An exception from `work` is not remembered: a retry runs it again. An answer that
        cannot be written once the work is done is logged, not raised: the contacts are queued, and a retry within
        the repeat window is recognised by its contacts.
        """
        item_id = "delivery#" + _digest(key)
        digest = _digest(content)
        now = int(self._clock())
        try:
            found = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": item_id}}, ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        if found is not None and int(found.get("expiration", {}).get("N", "0")) > now:
            if found.get("content", {}).get("S") != digest:
                raise DeliveryKeyConflict("another body")
            return dict(json.loads(found["answer"]["S"])), False
        result = work()
        self._remember(item_id, digest, result, now)
        return result, True

    def _remember(self, item_id: str, digest: str, answer: dict[str, Any], now: int) -> None:
        item = {
            "id": {"S": item_id},
            "content": {"S": digest},
            "answer": {"S": json.dumps(answer, separators=(",", ":"), ensure_ascii=False)},
            "expiration": {"N": str(now + self._retention_s)},
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table,
                Item=item,
                # Not over another first delivery's answer written meanwhile (the first kept), but over an expired one.
                ConditionExpression="attribute_not_exists(#id) OR #expiration <= :now",
                ExpressionAttributeNames={"#id": "id", "#expiration": "expiration"},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code != _CONDITION_FAILED:
                logger.warning("Delivery answer not remembered", extra={"error": code})
        except BotoCoreError as exc:
            logger.warning("Delivery answer not remembered", extra={"error": type(exc).__name__})


class DynamoDbRecentContacts:
    """The newest contact known of each phone (heymarket_bridge.ingest.repeats.Latest), one item per phone.

    Reads are consistent (BatchGetItem); every write but `forget` is conditional on the item as read (its `version`),
    in transactions of up to 100 items (3 calls for an uncontended delivery of up to 100 contacts: read, claim,
    confirm), or as one plain conditional write for a single item (1 write unit where a transaction costs 2; the same
    all-or-nothing for one item); an item another delivery changed meanwhile is answered as not written. Items are
    kept for `retention_s` (a sender's retry window, for the ranks); a repeat is only recognised within `window_s`.
    Raises DeliveryLedgerUnavailable when DynamoDB cannot be read or written.
    """

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        window_s: int = RECENT_WINDOW_S,
        clock: Callable[[], float] = time.time,
        retention_s: int = DEFAULT_RETENTION_S,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._window_s = window_s
        self._retention_s = max(retention_s, window_s)
        self._clock = clock

    def seen(self, phones: Sequence[str]) -> dict[str, Latest]:
        """What is known of each phone (absent: nothing); an entry written before the last `void` reads as one that
        says nothing (rank 0, not queued), kept only for its version."""
        ids = {_item_id(phone): phone for phone in dict.fromkeys(phones)}
        items = self._get([*ids, _VOID_ID])
        now_ms = int(self._clock() * 1000)
        void_ms = int(items.get(_VOID_ID, {}).get("at", {}).get("N", "0"))
        found: dict[str, Latest] = {}
        for item_id, phone in ids.items():
            item = items.get(item_id)
            if item is None:
                continue
            at_ms = int(item.get("at", {}).get("N", "0"))
            version = str(item.get("version", {}).get("S", ""))
            if at_ms <= void_ms:
                found[phone] = Latest("", 0, 0, False, version, fresh=False)
                continue
            rank = int(item.get("rank", {}).get("N", "0"))
            found[phone] = Latest(
                fingerprint=str(item.get("fingerprint", {}).get("S", "")),
                rank=rank,
                queued_rank=int(item.get("queued_rank", {}).get("N", str(rank))),
                queued=bool(item.get("queued", {}).get("BOOL", True)),
                version=version,
                fresh=now_ms - at_ms <= self._window_s * 1000,
            )
        return found

    def claim(self, claims: Sequence[PhoneClaim]) -> list[str | None]:
        """Write each claim if its phone's entry is still as it read it: a newest content (not yet confirmed queued),
        or a repeat moving the newest content's rank up. The version written for each, None for one whose entry
        changed meanwhile (others of the call are written all the same)."""
        versions = [uuid.uuid4().hex for _ in claims]
        items = [self._claim_item(claim, version) for claim, version in zip(claims, versions, strict=True)]
        written = self._transact(items)
        return [version if ok else None for version, ok in zip(versions, written, strict=True)]

    def confirm(self, versions: Mapping[str, str]) -> int:
        """The contents claimed with these versions (by phone) are in the queue: each entry still as its claim wrote
        it is marked so; how many were."""
        items = [
            self._update_item(phone, Latest("", 0, 0, False, version), "#queued = :queued", {":queued": {"BOOL": True}})
            for phone, version in versions.items()
        ]
        return sum(self._transact(items))

    def _claim_item(self, claim: PhoneClaim, version: str) -> dict[str, Any]:
        if claim.repeat:
            assert claim.as_read is not None  # a repeat is of an entry read
            return self._update_item(
                claim.phone, claim.as_read, "#rank = :rank", {":rank": {"N": str(claim.rank)}}, version
            )
        item = {
            **self._stamp(_item_id(claim.phone), version),
            "fingerprint": {"S": claim.fingerprint},
            "rank": {"N": str(claim.rank)},
            "queued_rank": {"N": str(claim.rank)},
            "queued": {"BOOL": False},
        }
        return {"Put": {"TableName": self._table, "Item": item, **_condition(claim.as_read)}}

    def _update_item(
        self, phone: str, as_read: Latest, assignment: str, values: dict[str, Any], version: str | None = None
    ) -> dict[str, Any]:
        stamp = self._stamp(_item_id(phone), version or uuid.uuid4().hex)
        expression = f"SET {assignment}, #version = :new_version, #at = :at, #expiration = :expiration"
        condition = _condition(as_read)
        names = {"#at": "at", "#expiration": "expiration", "#rank": "rank", "#queued": "queued"}
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"id": stamp["id"]},
                "UpdateExpression": expression,
                "ConditionExpression": condition["ConditionExpression"],
                "ExpressionAttributeNames": _used(
                    {**names, **condition["ExpressionAttributeNames"]}, expression, condition["ConditionExpression"]
                ),
                "ExpressionAttributeValues": {
                    **values,
                    ":new_version": stamp["version"],
                    ":at": stamp["at"],
                    ":expiration": stamp["expiration"],
                    **condition.get("ExpressionAttributeValues", {}),
                },
            }
        }

    def _transact(self, items: list[dict[str, Any]]) -> list[bool]:
        """Write the items in transactions of up to 100 (one phone each): which were written. An item whose condition
        fails is left out and the rest written again (a transaction is all or nothing)."""
        if len(items) == 1:
            return [self._write_one(items[0])]
        written = [False] * len(items)
        try:
            for start in range(0, len(items), _BATCH_TRANSACT):
                for i in self._transact_chunk(items, list(range(start, min(start + _BATCH_TRANSACT, len(items))))):
                    written[i] = True
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        return written

    def _transact_chunk(self, items: list[dict[str, Any]], pending: list[int]) -> list[int]:
        """The items at `pending` in one transaction, tried up to 3 times without those whose condition failed: the
        positions written (none if the last try was cancelled too)."""
        for _ in range(3):
            if not pending:
                return []
            try:
                self._dynamodb.transact_write_items(TransactItems=[items[i] for i in pending])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                reasons = exc.response.get("CancellationReasons") or []
                failed = {
                    pending[n]
                    for n, reason in enumerate(reasons)
                    if n < len(pending) and reason.get("Code") == "ConditionalCheckFailed"
                }
                # Cancelled for another reason (a transaction on the same item at once): tried again.
                pending = [i for i in pending if i not in failed]
                continue
            return pending
        return []

    def _write_one(self, item: Mapping[str, Any]) -> bool:
        """One transaction item ({"Put": ...} or {"Update": ...}) as a plain conditional write: whether written."""
        ((kind, request),) = item.items()
        write = self._dynamodb.put_item if kind == "Put" else self._dynamodb.update_item
        try:
            write(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED:
                return False
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        except BotoCoreError as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        return True

    def forget(self, phones: Sequence[str], rank: int) -> None:
        """The phones' contacts are being deleted (the delete's `rank`): no contact is a repeat of what was before,
        and an older one is left to the sync side (the delete keeps it out)."""
        now = self._clock()
        requests = []
        for phone in dict.fromkeys(phones):
            item = {
                **self._stamp(_item_id(phone), uuid.uuid4().hex, now),
                "fingerprint": {"S": ""},
                "rank": {"N": str(rank)},
                "queued_rank": {"N": str(rank)},
                "queued": {"BOOL": True},
            }
            requests.append({"PutRequest": {"Item": item}})
        self._put(requests)

    def void(self) -> None:
        """Forget every record made until now (a delete by contact id: the phone it deletes is not known)."""
        self._put([{"PutRequest": {"Item": self._stamp(_VOID_ID, "", self._clock())}}])

    def _stamp(self, item_id: str, version: str, now: float | None = None) -> dict[str, Any]:
        now = self._clock() if now is None else now
        return {
            "id": {"S": item_id},
            "version": {"S": version},
            "at": {"N": str(int(now * 1000))},
            "expiration": {"N": str(int(now) + self._retention_s + 60)},
        }

    def _get(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        items: dict[str, dict[str, Any]] = {}
        try:
            for start in range(0, len(ids), _BATCH_GET):
                keys: list[dict[str, Any]] = [{"id": {"S": item_id}} for item_id in ids[start : start + _BATCH_GET]]
                for _ in range(3):
                    answer = self._dynamodb.batch_get_item(
                        RequestItems={self._table: {"Keys": keys, "ConsistentRead": True}}
                    )
                    for item in answer.get("Responses", {}).get(self._table, []):
                        items[item["id"]["S"]] = item
                    keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                    if not keys:
                        break
                if keys:
                    raise DeliveryLedgerUnavailable("unprocessed keys")
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc
        return items

    def _put(self, requests: list[dict[str, Any]]) -> None:
        try:
            for start in range(0, len(requests), _BATCH_WRITE):
                pending = requests[start : start + _BATCH_WRITE]
                for _ in range(3):
                    answer = self._dynamodb.batch_write_item(RequestItems={self._table: pending})
                    pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                    if not pending:
                        break
                if pending:
                    raise DeliveryLedgerUnavailable("unprocessed items")
        except (ClientError, BotoCoreError) as exc:
            raise DeliveryLedgerUnavailable(type(exc).__name__) from exc


def _condition(as_read: Latest | None) -> dict[str, Any]:
    """The condition that an entry is still as read (absent, of the format without versions, or of this version)."""
    if as_read is None:
        return {"ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"}}
    if not as_read.version:
        return {
            "ConditionExpression": "attribute_exists(#id) AND attribute_not_exists(#version)",
            "ExpressionAttributeNames": {"#id": "id", "#version": "version"},
        }
    return {
        "ConditionExpression": "#version = :read_version",
        "ExpressionAttributeNames": {"#version": "version"},
        "ExpressionAttributeValues": {":read_version": {"S": as_read.version}},
    }


def _used(names: Mapping[str, str], *expressions: str) -> dict[str, str]:
    """The attribute names the expressions use (DynamoDB refuses a name given but not used)."""
    return {key: name for key, name in names.items() if any(key in expression for expression in expressions)}


def _item_id(phone: str) -> str:
    return "recent#" + _digest(phone)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
