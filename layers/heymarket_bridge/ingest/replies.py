"""What the ingest side answers a sender about its contacts: the accepted count, and each contact refused, or
queued without some fields or with a warning. Also what the delivery ledger keeps and replays (`to_dict`,
`from_dict`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heymarket_bridge.domain.contact import DroppedField
from heymarket_bridge.domain.text import printable


@dataclass
class Rejection:
    """A submission refused (`errors`), or a contact queued without the optional fields it `dropped` (`errors` says
    why each was dropped) or with values it should check (`notes`: a phone read as an international number).

    Every text is made `printable`: a lone surrogate a sender put in a value never reaches a log line, the answer or
    the delivery table's saved answers.
    """

    index: int
    errors: list[str]
    field: str | None = None  # in a delete request: the list ("contact_ids" or "phones") `index` points into
    dropped: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        self.errors = [printable(error) for error in self.errors]
        self.notes = [printable(note) for note in self.notes]

    @property
    def accepted(self) -> bool:
        return bool(self.dropped or self.notes)

    def to_dict(self) -> dict[str, Any]:
        where: dict[str, Any] = {"field": self.field} if self.field is not None else {}
        body = {**where, "index": self.index, "errors": self.errors}
        if self.accepted:
            body["accepted"] = True
            if self.dropped:
                body["dropped"] = self.dropped
            body["warnings"] = [f"{error}: the contact was queued without it" for error in self.errors] + self.notes
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rejection:
        errors = list(data["errors"])
        notes = list(data.get("warnings", []))[len(errors) :] if data.get("accepted") else []
        return cls(int(data["index"]), errors, data.get("field"), list(data.get("dropped", [])), notes)


@dataclass
class IngestOutcome:
    """What a webhook came to: contacts accepted (queued), those rejected and why, and whether it was a repeat."""

    accepted: int = 0
    rejected: list[Rejection] = dataclasses.field(default_factory=list)
    duplicate: bool = False  # nothing was queued: every contact was already in the queue

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"accepted": self.accepted, "rejected": [r.to_dict() for r in self.rejected]}
        if self.duplicate:
            body["duplicate"] = True
        return body

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], duplicate: bool) -> IngestOutcome:
        rejected = [Rejection.from_dict(r) for r in data.get("rejected", [])]
        return cls(int(data.get("accepted", 0)), rejected, duplicate or bool(data.get("duplicate")))


def queued_with(index: int, dropped: Sequence[DroppedField], warnings: Sequence[str]) -> Rejection:
    fields = list(dict.fromkeys(item.field for item in dropped))
    return Rejection(index, [item.error for item in dropped], dropped=fields, notes=list(warnings))
