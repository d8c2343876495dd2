"""A delivery's contacts for one phone, merged into the one contact queued for it, and what makes two contacts the
same (their fingerprint). Pure."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence

from heymarket_bridge.domain.operations import ContactOperation, consent_of


def one_per_phone(accepted: Sequence[tuple[int, ContactOperation]]) -> list[tuple[int, ContactOperation]]:
    """The delivery's operations with each phone's merged into one, each at the place and with the index of the
    phone's last submission.

    A phone's operations are merged in the order of their own event times (`occurred_at`; one without is as new as
    its delivery, `received_at`), ties in the delivery's order, as heymarket_bridge.sync.state.rules orders operations
    across batches (`operation_rank`): later values win field by field, custom values key by key. A sender may put
    an older change after a newer one in one delivery (Salesforce: "messages may be delivered out of order"), and
    the newer change must still win.
    """
    by_phone: dict[str, list[tuple[int, ContactOperation]]] = {}
    for index, operation in accepted:
        by_phone.setdefault(operation.contact.phone, []).append((index, operation))
    merged: list[tuple[int, ContactOperation]] = []
    for parts in by_phone.values():
        # heymarket_bridge.ingest.planning writes both times as ISO 8601 UTC texts with milliseconds, an event time
        # never after the receipt: as texts they order as heymarket_bridge.sync.state.rules.operation_ms does
        # (without loading that module).
        ordered = sorted(parts, key=lambda part: (part[1].occurred_at or part[1].received_at, part[0]))
        operation = ordered[0][1]
        for _, later in ordered[1:]:
            # The merged operation is as new as the newest event time its parts give (ISO 8601 UTC texts order).
            times = [t for t in (operation.occurred_at, later.occurred_at) if t is not None]
            operation = dataclasses.replace(
                later,
                contact=operation.contact.merged_with(later.contact),
                occurred_at=max(times) if times else None,
                consent=consent_of([operation, later])[1],
            )
        merged.append((parts[-1][0], operation))
    return sorted(merged, key=lambda part: part[0])


def contact_fingerprint(operation: ContactOperation) -> str:
    """What a contact says, by whom: equal only for the same source sending the same values."""
    content = json.dumps(operation.contact.to_dict(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{operation.source}\n{content}".encode("utf-8", "surrogatepass")).hexdigest()
