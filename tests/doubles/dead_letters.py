"""The DLQ in memory: stands in for heymarket_bridge.sync.ports.DeadLetterSink and
heymarket_bridge.ingest.ports.RefusalLetters (both `write(letters) -> indices not written`)."""

from __future__ import annotations

from collections.abc import Sequence

from heymarket_bridge.domain.operations import DeadLetter


class FakeDeadLetters:
    """Keeps each letter written; with `refuse`, every write fails (all indices come back)."""

    def __init__(self, refuse: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        if self.refuse:
            return list(range(len(letters)))
        self.letters.extend(letters)
        return []


class SerializingDeadLetters:
    """Keeps each letter as the DLQ would hold it: written to JSON and read back."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        self.letters.extend(DeadLetter.from_json(letter.to_json()) for letter in letters)
        return []
