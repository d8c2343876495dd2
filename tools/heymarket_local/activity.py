"""What `heymarket-bridge local` shows: one readable line per webhook and per sync batch.

A webhook line comes from the API's answer (`ApiExchange`): time, source, status, contacts accepted, and each
rejection or refusal with its reason. A batch line comes from the event source (`BatchResult`) and the sync
function's own "Batch synced" log record of that invocation, when it logs one (`BatchSummaries` captures it from
the invocation's thread): contacts delivered, retried and dead-lettered, and the Heymarket requests it took. The
raw JSON logs go to a file; these lines are what a person reads.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, Final

from heymarket_local.answers import ContactNote, read_answer
from heymarket_local.api import ApiExchange
from heymarket_local.poller import BatchResult

BATCH_SUMMARY_MESSAGE: Final = "Batch synced"
# The counters of the sync function's "Batch synced" record (heymarket_bridge.app.sync._record_metrics).
_SUMMARY_FIELDS: Final = (
    "delivered",
    "rejected",
    "retried",
    "dead_lettered",
    "waiting",
    "deleted",
    "heymarket_requests",
)
MAX_REASONS: Final = 3


def _clock(epoch_s: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch_s))


def source_of(exchange: ApiExchange) -> str:
    """The `{source}` path parameter, or the name in a per-source route (`/webhooks/hubspot`); else the path."""
    name = exchange.path_parameters.get("source") or exchange.path.split("?", 1)[0].rpartition("/webhooks/")[2]
    return name if name and "/" not in name else exchange.path


def webhook_line(exchange: ApiExchange) -> str:
    """`12:00:01  webhook  shopify     202  1 accepted, 1 rejected: #1 phone is not a valid number`; a contact queued
    with a warning (answers.py) is counted as accepted and its warning shown, never as a rejection."""
    source = source_of(exchange)
    status = exchange.status
    try:
        reply = json.loads(exchange.body)
    except ValueError:
        reply = None
    answer = read_answer(reply)
    detail: str
    if exchange.error is not None:
        detail = f"{reply.get('message') if isinstance(reply, dict) else 'failed'}: {exchange.error}"
    elif answer is not None and answer.accepted is not None:
        detail = f"{answer.accepted} accepted"
        if answer.warnings:
            detail += f" ({len(answer.warnings)} with a warning: {_notes(answer.warnings)})"
        if answer.rejected:
            detail += f", {len(answer.rejected)} rejected: {_notes(answer.rejected)}"
        if answer.duplicate:
            detail += " (a repeated delivery: nothing queued again)"
    elif answer is not None and answer.error is not None:
        detail = f"refused: {answer.error}"
    elif isinstance(reply, dict) and isinstance(reply.get("message"), str):
        detail = reply["message"]
    elif 200 <= status < 300:
        detail = "accepted (answered in the source's own format)"
    else:
        detail = "refused: " + exchange.body.decode("utf-8", "replace")[:200].replace("\n", " ")
    return f"{_clock(exchange.at)}  webhook  {source:<10}  {status}  {detail}"


def _notes(notes: tuple[ContactNote, ...]) -> str:
    shown = "; ".join(f"#{note.index} " + "; ".join(note.texts) for note in notes[:MAX_REASONS])
    return shown + (f" (+{len(notes) - MAX_REASONS} more)" if len(notes) > MAX_REASONS else "")


def batch_line(result: BatchResult, summary: Mapping[str, Any] | None, at: float | None = None) -> str:
    """`12:00:03  sync     batch of 10  10 delivered, 0 retried, 0 dead-lettered, 1 Heymarket request`."""
    moment = _clock(time.time() if at is None else at)
    size = len(result.records)
    head = f"{moment}  sync     batch of {size:<3}"
    if result.error is not None:
        return f"{head}  failed, all {size} will be received again: {result.error}"
    retried = len(result.failed_message_ids)
    if summary is None:
        return f"{head}  {size - retried} settled, {retried} left for another receive"
    parts = [f"{summary.get('delivered', 0)} delivered"]
    if summary.get("deleted"):
        parts.append(f"{summary['deleted']} deleted")
    if summary.get("rejected"):
        # "rejected" counts every contact refused for good: by Heymarket, or by the bridge itself (a tag name or a
        # custom-field title the account lacks, a field v1 mode cannot send); each is a dead letter.
        parts.append(f"{summary['rejected']} refused (dead letters with the reason)")
    parts.append(f"{retried} retried")
    if summary.get("waiting"):
        parts.append(
            f"{summary['waiting']} put back to wait (Heymarket unavailable or a configuration fix: "
            "HeymarketUnavailableAlarm, HeymarketConfigurationAlarm)"
        )
    parts.append(f"{summary.get('dead_lettered', 0)} dead-lettered")
    requests = summary.get("heymarket_requests")
    if isinstance(requests, int):
        parts.append(f"{requests} Heymarket request" + ("" if requests == 1 else "s"))
    return f"{head}  " + ", ".join(parts)


class BatchSummaries(logging.Handler):
    """Keeps the last "Batch synced" record of each thread, for the batch line of the invocation that thread ran."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self._by_thread: dict[int, dict[str, Any]] = {}
        self._lock_summaries = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() != BATCH_SUMMARY_MESSAGE:
            return
        summary = {name: getattr(record, name) for name in _SUMMARY_FIELDS if hasattr(record, name)}
        with self._lock_summaries:
            self._by_thread[record.thread or 0] = summary

    def take(self) -> dict[str, Any] | None:
        """The summary the current thread's invocation logged, if any (forgotten once taken)."""
        with self._lock_summaries:
            return self._by_thread.pop(threading.get_ident(), None)


class BatchTotals(logging.Handler):
    """Adds up the sync function's "Batch synced" records (every invocation's): its own counts of contacts retried,
    waiting for a configuration fix, dead-lettered, and of the Heymarket requests it made; and the configuration
    errors it reported."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.invocations = 0
        self.totals: dict[str, int] = dict.fromkeys(_SUMMARY_FIELDS, 0)
        self.configuration_errors: list[str] = []
        self._lock_totals = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() != BATCH_SUMMARY_MESSAGE:
            return
        with self._lock_totals:
            self.invocations += 1
            for name in _SUMMARY_FIELDS:
                value = getattr(record, name, 0)
                if isinstance(value, int) and not isinstance(value, bool):
                    self.totals[name] += value
            error = getattr(record, "configuration_error", None)
            if isinstance(error, str) and error and error not in self.configuration_errors:
                self.configuration_errors.append(error)
