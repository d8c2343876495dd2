"""Refusal letters: a contact refused for its content, written to the DLQ with the reason, the source and its fields
as received (bounded), so that an operator can see it, correct it and send it again through validation
(`heymarket-bridge dlq redrive --set`). Most senders show the bridge's answer to nobody."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.domain.operations import REFUSED_AT_INGEST, DeadLetter, bounded_fields
from heymarket_bridge.domain.text import printable
from heymarket_bridge.ingest.failures import BufferUnavailable
from heymarket_bridge.ingest.ports import RefusalLetters
from heymarket_bridge.observability import emit_metric, logger


def refusal_letter(
    source: str,
    request_id: str,
    received_at: str,
    index: int,
    errors: Sequence[str],
    fields: Any,
    *,
    region: str,
) -> DeadLetter:
    """The refusal letter of submission `index`: why, from whom, and its fields as received (bounded); `region` is
    the DefaultCountry the submission was read in."""
    kept, cut = bounded_fields(fields) if isinstance(fields, Mapping) else ({}, False)
    reason = "; ".join(printable(error) for error in errors) or "refused"
    note = " (fields too large to keep whole were cut)" if cut else ""
    return DeadLetter(
        error=f"refused at ingest from {source}: {reason}{note}"[:1000],
        attempts=0,
        source=source,
        received_at=received_at,
        contact=None,
        correlation_id=request_id,
        operation_id=f"{request_id}#{index}",
        failed_at=received_at,
        kind=REFUSED_AT_INGEST,
        fields=kept,
        region=region,
    )


def write_letters(refusals: RefusalLetters | None, letters: Sequence[DeadLetter]) -> None:
    """Write the refusal letters to the DLQ; BufferUnavailable (503: the sender tries again) if any is not."""
    if not letters or refusals is None:
        return
    unsent = refusals.write(letters)
    written = len(letters) - len(unsent)
    if written:
        emit_metric("RefusalLettersWritten", value=written)
    if unsent:
        logger.error("Refusal letters not written to the DLQ", extra={"count": len(unsent)})
        raise BufferUnavailable(
            f"{len(unsent)} refused contact(s) could not be recorded for an operator; retry the request (the "
            "contacts already buffered are not buffered twice)"
        )
