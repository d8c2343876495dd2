"""The bridge's JSON answer to a webhook, read one way for every command that shows it: `import`, `local`, `demo`.

The format is the README's "Answers" (written by heymarket_bridge.ingest.service: `IngestOutcome.to_dict` and
`Rejection.to_dict`): `{"accepted": N, "rejected": [...], "duplicate": true?}`, or `{"error": {"code", "message"}}`.
An entry of `rejected` marked `"accepted": true` is not a rejection: that contact was queued, without the optional
fields it `dropped` or with a value to check, and its `warnings` say what (its `errors` only say why a field was
dropped). `accepted` counts those contacts too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ContactNote:
    """One entry of `rejected`: the contact's position (and in a delete, its list) and what the answer says of it."""

    index: int | None
    texts: tuple[str, ...]
    field: str | None = None

    def line(self) -> str:
        """`#2: phone is not a valid number; email is not a valid address`."""
        return f"#{self.index}: " + "; ".join(self.texts)


@dataclass(frozen=True)
class Answer:
    """What an answer says: contacts accepted (None when it does not say), refused, accepted with a warning."""

    accepted: int | None
    rejected: tuple[ContactNote, ...] = ()
    warnings: tuple[ContactNote, ...] = ()
    duplicate: bool = False
    error: str | None = None  # "code: message" when the request was refused as a whole


def read_answer(reply: Any) -> Answer | None:
    """The answer in `reply` (the body as bytes or text, or already parsed); None when it is not a JSON object."""
    if isinstance(reply, bytes | str):
        try:
            reply = json.loads(reply)
        except ValueError:
            return None
    if not isinstance(reply, Mapping):
        return None
    rejected, warnings = _notes(reply.get("rejected") or [])
    error = reply.get("error")
    accepted = reply.get("accepted")
    return Answer(
        accepted=accepted if isinstance(accepted, int) and not isinstance(accepted, bool) else None,
        rejected=tuple(rejected),
        warnings=tuple(warnings),
        duplicate=reply.get("duplicate") is True,
        error=f"{error.get('code')}: {error.get('message')}" if isinstance(error, Mapping) else None,
    )


def _notes(items: Any) -> tuple[list[ContactNote], list[ContactNote]]:
    """(rejected, accepted with a warning) from an answer's `rejected` list; items that are not objects are left out."""
    rejected: list[ContactNote] = []
    warnings: list[ContactNote] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, Mapping):
            continue
        index = item.get("index") if isinstance(item.get("index"), int) else None
        field = item.get("field") if isinstance(item.get("field"), str) else None
        if item.get("accepted") is True:
            texts = _texts(item.get("warnings")) or _texts(item.get("errors")) or ("accepted with a warning",)
            warnings.append(ContactNote(index, texts, field))
        else:
            rejected.append(ContactNote(index, _texts(item.get("errors")) or ("rejected",), field))
    return rejected, warnings


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(str(text) for text in value) if isinstance(value, list) else ()
