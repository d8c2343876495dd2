"""moto's DynamoDB transactions at the cost of the items they write, for the local stack, the tests and benchmarks.

moto 5 backs a transaction up by deep-copying the whole table once for every item of the TransactWriteItems call,
so that it can put the table back if the transaction is cancelled: 100 items on a table of 10,000 copy a million
items. With the contact state table (one transaction to take the leases of a batch, one to give them back) a
10,000-contact run took gigabytes of memory and minutes. `item_scoped_transactions` backs up only the items a
transaction writes, and puts those back when it is cancelled: the same all-or-nothing answers, at the cost of the
transaction's own items, one transaction at a time (moto does not serialise them). Applied once per process;
DynamoDB itself needs nothing of the sort.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Final

_TRANSACTIONS: Final = threading.RLock()
_SUCCEEDED: dict[str, None] = {}  # ClientRequestTokens of transactions that succeeded, oldest first
_TOKENS_KEPT: Final = 10_000


def item_scoped_transactions() -> None:
    """Make moto's TransactWriteItems back up the items it writes instead of whole tables (once per process)."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    if getattr(backend, "_heymarket_bridge_item_scoped", False):
        return
    original = backend.transact_write_items
    setattr(models, "copy", _TablesShared(Table))  # noqa: B010 - the module moto copies tables with, replaced

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        # moto checks a transaction's conditions and writes its items without a lock: under the local stack's
        # threaded server two transactions claiming one item could both succeed (1 pair in 300 in a review).
        # DynamoDB serialises them; so does this.
        with _TRANSACTIONS:
            backups = _backups(self, transact_items)
            try:
                original(self, transact_items)
            except Exception:
                _restore(self, backups)
                raise

    backend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    backend._heymarket_bridge_item_scoped = True  # type: ignore[attr-defined]
    _idempotent_transactions()
    _atomic_item_writes(backend)


def _atomic_item_writes(backend: Any) -> None:
    """moto checks a PutItem's or UpdateItem's condition and writes the item without a lock: two threads claiming one
    item (the ingest side's newest contact of a phone) could both succeed. DynamoDB serialises writes of an item;
    so does this, with the transactions' lock."""
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(backend, name)

        def locked(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _TRANSACTIONS:
                return _original(self, *args, **kwargs)

        setattr(backend, name, locked)


def _idempotent_transactions() -> None:
    """DynamoDB makes TransactWriteItems idempotent by its ClientRequestToken (botocore fills one in and sends it
    again when it retries a call whose answer timed out): a repeat of a call that succeeded succeeds without writing
    again, for 10 minutes. moto ignores the token, so a retried claim or release of the contact state met its own
    first attempt's writes as a failed condition. This answers a repeated token as DynamoDB does."""
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.transact_write_items

    def transact_write_items(self: Any) -> Any:
        token = self.body.get("ClientRequestToken")
        with _TRANSACTIONS:
            if token and token in _SUCCEEDED:
                return _empty_answer()
            answer = original(self)
            if token:
                _SUCCEEDED[token] = None
                while len(_SUCCEEDED) > _TOKENS_KEPT:
                    _SUCCEEDED.pop(next(iter(_SUCCEEDED)))
            return answer

    DynamoHandler.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _empty_answer() -> Any:
    from moto.core.responses import ActionResult

    return ActionResult({"ConsumedCapacity": [], "ItemCollectionMetrics": {}})


class _TablesShared:
    """The `copy` module as moto.dynamodb.models sees it, except that a table is not copied (its transaction keeps
    the items it writes instead); every other value is copied as before."""

    def __init__(self, table_type: type) -> None:
        self._table_type = table_type

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        if isinstance(value, self._table_type):
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _backups(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], Any]]:
    """(table, key, a copy of the item or None) for each item the transaction names."""
    backups: list[tuple[str, dict[str, Any], Any]] = []
    for transact_item in transact_items:
        try:
            _, operation = next(iter(transact_item.items()))
            table_name = operation["TableName"]
            table = backend.get_table(table_name)
            key = operation.get("Key")
            if key is None:
                names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
                key = {name: operation["Item"][name] for name in names}
            backups.append((table_name, key, copy.deepcopy(backend.get_item(table_name, key))))
        except Exception:  # noqa: BLE001, S112 - an item moto cannot name is refused by the transaction itself
            continue
    return backups


def _restore(backend: Any, backups: list[tuple[str, dict[str, Any], Any]]) -> None:
    for table_name, key, item in reversed(backups):
        if item is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, item.to_json()["Attributes"])
