"""The consent record (heymarket_bridge.sync.ports.ConsentLog) in the stack's ConsentRecordTable (DynamoDB).

Items, under the key (`phone`: E.164 digits, `entry`):
- a change: `entry` = "<recorded_at>#<source>#<event id>", every field of heymarket_bridge.domain.consent.ConsentChange,
  written once (a conditional put) and never changed;
- what is on record for a phone and source: `entry` = "latest#<source>", its last change's `opted_out`, `action`
  and `change` (the entry of that change). A change equal to it (the same state, done the same way) is not written
  again.

A change and its phone's latest are written together (TransactWriteItems), so that neither is ever written without
the other; the change only if its entry does not exist yet (write-once: a retry never rewrites it).

Retention: a state still relied on keeps its proof. A change and the latest item are written without an expiry:
while a change is the latest on record for its phone and source, it is never deleted. When a newer change
replaces it, the replaced change gets its expiry (TTL attribute `expires`): `retention_days` after it stopped being
the latest, i.e. after the last day the bridge relied on it (DynamoDB deletes expired items within a few days,
never before). Items written by an earlier version carry an expiry from when they were written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from heymarket_bridge.domain.consent import ConsentAction, ConsentChange
from heymarket_bridge.domain.failures import ConsentRecordUnavailable
from heymarket_bridge.sync.consent_record import TURNED_OVER

# The TCPA's limitation period is 4 years (47 U.S.C. 1658's default for federal claims); a year of margin.
DEFAULT_RETENTION_DAYS = 1827
LATEST = "latest#"
KIND_CHANGE = "change"
KIND_LATEST = "latest"
_BATCH_GET = 100
# The fields of a change, in the order the export writes them.
FIELDS = (
    "phone",
    "source",
    "delivery_id",
    "event_id",
    "field",
    "value",
    "opted_out",
    "occurred_at",
    "received_at",
    "recorded_at",
    "action",
    "reason",
)


class DynamoDbConsentLog:
    """Writes the consent changes that change what is on record for their phone and source (see the module)."""

    def __init__(
        self,
        table_name: str,
        dynamodb_client: Any,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table_name
        self._dynamodb = dynamodb_client
        self._retention_s = max(1, retention_days) * 86_400
        self._clock = clock

    def record(self, changes: Sequence[ConsentChange]) -> int:
        """Write the changes that differ from what is on record (in order: a batch's later change of the same phone
        and source is compared with its earlier one); the number written. Raises ConsentRecordUnavailable."""
        keys = {(change.phone, change.source) for change in changes}
        try:
            on_record = self._latest(sorted(keys))
            written = 0
            for change in changes:
                state = (change.opted_out, change.action.value)
                known = on_record.get((change.phone, change.source))
                # A change that turned over Heymarket's state (an opt-in after a STOP, an opt-out after a START) is
                # one, whatever the record of its source says.
                if known is not None and known[:2] == state and change.reason not in TURNED_OVER:
                    continue
                entry = self._write(change)
                if known is not None and known[2] is not None and known[2] != entry:
                    self._expire(change.phone, known[2])
                on_record[(change.phone, change.source)] = (*state, entry)
                written += 1
        except (ClientError, BotoCoreError) as exc:
            raise ConsentRecordUnavailable(type(exc).__name__) from exc
        return written

    def _latest(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[bool, str, str | None]]:
        """What is on record per phone and source: (opted_out, action, the entry of the change, if known)."""
        found: dict[tuple[str, str], tuple[bool, str, str | None]] = {}
        for start in range(0, len(keys), _BATCH_GET):
            pending: list[dict[str, Any]] = [
                {"phone": {"S": phone}, "entry": {"S": LATEST + source}} for phone, source in keys[start : start + 100]
            ]
            for _ in range(3):
                answer = self._dynamodb.batch_get_item(
                    RequestItems={self._table: {"Keys": pending, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self._table, []):
                    key = (item["phone"]["S"], item["entry"]["S"].removeprefix(LATEST))
                    found[key] = (
                        bool(item.get("opted_out", {}).get("BOOL")),
                        str(item.get("action", {}).get("S")),
                        item.get("change", {}).get("S"),
                    )
                pending = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not pending:
                    break
            if pending:
                raise ConsentRecordUnavailable("unprocessed keys")
        return found

    def _write(self, change: ConsentChange) -> str:
        """Write the change (once) and make it the latest for its phone and source; its entry."""
        entry = f"{change.recorded_at}#{change.source}#{change.event_id or change.delivery_id}"
        item = {**_item(change), "entry": {"S": entry}, "kind": {"S": KIND_CHANGE}}
        latest = {
            "phone": {"S": change.phone},
            "entry": {"S": LATEST + change.source},
            "kind": {"S": KIND_LATEST},
            "opted_out": {"BOOL": change.opted_out},
            "action": {"S": change.action.value},
            "recorded_at": {"S": change.recorded_at},
            "change": {"S": entry},
        }
        try:
            self._dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            # A change is written once: a retry of this call never rewrites it.
                            "ConditionExpression": "attribute_not_exists(#entry)",
                            "ExpressionAttributeNames": {"#entry": "entry"},
                        }
                    },
                    {"Put": {"TableName": self._table, "Item": latest}},
                ]
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "TransactionCanceledException" and _already_written(exc):
                return entry
            raise
        return entry

    def _expire(self, phone: str, entry: str) -> None:
        """Start the retention of a change no longer the latest: it expires `retention_days` from now. Only its
        `expires` is set, and only on a change that exists (one already deleted is not made again)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"phone": {"S": phone}, "entry": {"S": entry}},
                UpdateExpression="SET #expires = :expires",
                ConditionExpression="attribute_exists(#entry) AND #kind = :change",
                ExpressionAttributeNames={"#expires": "expires", "#entry": "entry", "#kind": "kind"},
                ExpressionAttributeValues={
                    ":expires": {"N": str(int(self._clock()) + self._retention_s)},
                    ":change": {"S": KIND_CHANGE},
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise


def _already_written(exc: ClientError) -> bool:
    """A transaction cancelled only because its change is already written (the same change recorded before)."""
    reasons = exc.response.get("CancellationReasons") or []
    codes = [str(reason.get("Code", "None")) for reason in reasons]
    return bool(codes) and codes[0] == "ConditionalCheckFailed" and all(code == "None" for code in codes[1:])


def _item(change: ConsentChange) -> dict[str, Any]:
    item: dict[str, Any] = {}
    for name, value in change.to_dict().items():
        if value is None:
            continue
        item[name] = {"BOOL": value} if isinstance(value, bool) else {"S": str(value)}
    return item


def read_changes(dynamodb_client: Any, table_name: str, phone: str | None = None) -> Iterator[dict[str, Any]]:
    """The changes on record, as ConsentChange.to_dict() shapes: one phone's (E.164 digits) in the order recorded,
    or every phone's (a Scan: phone by phone, each in the order recorded). Raises ConsentRecordUnavailable."""
    try:
        if phone is not None:
            pages = dynamodb_client.get_paginator("query").paginate(
                TableName=table_name,
                KeyConditionExpression="#phone = :phone",
                ExpressionAttributeNames={"#phone": "phone"},
                ExpressionAttributeValues={":phone": {"S": phone}},
                ConsistentRead=True,
            )
            for page in pages:
                yield from _changes(page.get("Items", []))
            return
        by_phone: dict[str, list[dict[str, Any]]] = {}
        for page in dynamodb_client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
            for item in page.get("Items", []):
                by_phone.setdefault(item["phone"]["S"], []).append(item)
        for number in sorted(by_phone):
            yield from _changes(sorted(by_phone[number], key=lambda item: item["entry"]["S"]))
    except (ClientError, BotoCoreError) as exc:
        raise ConsentRecordUnavailable(type(exc).__name__) from exc


def _changes(items: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        if item.get("kind", {}).get("S") != KIND_CHANGE:
            continue
        row: dict[str, Any] = {}
        for name in FIELDS:
            value = item.get(name)
            row[name] = None if value is None else value.get("BOOL", value.get("S"))
        row["action"] = ConsentAction(row["action"]).value if row.get("action") else None
        yield row
