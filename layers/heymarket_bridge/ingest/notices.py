"""Id-only notifications: what a sender that does not send the record (Meta Lead Ads, Acuity Scheduling) tells the
bridge, queued at once on the fetch queue (LeadFetchQueue) as one `FetchNotice` per record, and fetched outside the
webhook's answer path by the fetch function (heymarket_bridge.ingest.fetch).

A notice is a small JSON object: the source, the record's id at its vendor, what the notification said besides (ids
only, never a person's data), when it was received, the request id, and the bookkeeping of its retries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, field, replace
from typing import Any

from heymarket_bridge.domain.failures import MalformedMessage
from heymarket_bridge.domain.records import record

# The `kind` of a letter the fetch function writes to LeadFetchDeadLetterQueue.
FETCH_LETTER_KIND = "fetch_failed"

# A record id at its vendor: Graph ids and Acuity ids are digits; anything longer is no id of theirs.
MAX_RECORD_ID = 64


@record
class FetchNotice:
    """One record to fetch: `source` (the source's name), `record_id` (Meta's leadgen_id, Acuity's appointment id),
    `details` (the notification's other ids and its time, as strings: Meta's page_id, form_id, created_time; Acuity's
    action, calendarID, appointmentTypeID), `received_at` (ISO 8601, when the notification arrived), `correlation_id`
    (its request id), `attempts` (transient failures so far) and `waiting_since` (ISO 8601, when the vendor first
    refused the bridge's credentials for it; "" while it has not)."""

    source: str
    record_id: str
    received_at: str
    correlation_id: str = ""
    details: Mapping[str, str] = field(default_factory=dict)
    attempts: int = 0
    waiting_since: str = ""

    def to_json(self) -> str:
        return json.dumps({"fetch": asdict(self)}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FetchNotice:
        """The notice a fetch queue message carries; MalformedMessage for anything else.

        A fetch letter (`{"kind": "fetch_failed", "message": <the notice's message>, ...}`, what the fetch function
        writes to LeadFetchDeadLetterQueue) moved back onto LeadFetchQueue (SQS's redrive: `aws sqs
        start-message-move-task --source-arn <the fetch DLQ's ARN>`) is read as its notice, fetched again from the
        start: its attempts and its wait for credentials begin anew."""
        raw = _json_object(text)
        if raw.get("kind") == FETCH_LETTER_KIND and isinstance(raw.get("message"), str):
            return replace(cls.from_json(raw["message"]), attempts=0, waiting_since="")
        body = raw.get("fetch")
        if not isinstance(body, dict):
            raise MalformedMessage('the fetch message has no "fetch" object')
        return cls._read(body)

    @classmethod
    def _read(cls, body: Mapping[str, Any]) -> FetchNotice:
        texts = ("source", "record_id", "received_at", "correlation_id", "waiting_since")
        if not all(isinstance(body.get(name, ""), str) for name in texts) or not body.get("record_id"):
            raise MalformedMessage("the fetch message has no source or record_id, or a field that is not text")
        details = body.get("details") or {}
        attempts = body.get("attempts", 0)
        if not isinstance(details, dict) or not isinstance(attempts, int) or isinstance(attempts, bool):
            raise MalformedMessage("the fetch message's details or attempts are malformed")
        return cls(
            source=body["source"],
            record_id=body["record_id"],
            received_at=body.get("received_at", ""),
            correlation_id=body.get("correlation_id", ""),
            details={str(k): str(v) for k, v in details.items()},
            attempts=attempts,
            waiting_since=body.get("waiting_since", ""),
        )

    def retried(self) -> FetchNotice:
        return replace(self, attempts=self.attempts + 1)

    def waiting(self, since: str) -> FetchNotice:
        return replace(self, waiting_since=self.waiting_since or since)


def _json_object(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise MalformedMessage("the fetch message is not JSON") from exc
    if not isinstance(raw, dict):
        raise MalformedMessage('the fetch message has no "fetch" object')
    return raw


def record_id(value: Any) -> str | None:
    """A vendor's record id as sent (a JSON number or a string of digits), as text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        value = str(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return value.strip() if len(value.strip()) <= MAX_RECORD_ID else None
    return None
