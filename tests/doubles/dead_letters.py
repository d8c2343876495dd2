"""The DLQ in memory: stands in for heymarket_bridge.sync.ports.DeadLetterSink and
heymarket_bridge.ingest.ports.RefusalLetters (both `write(letters) -> indices not written`). With `refuse`, every
write fails."""

from __future__ import annotations

from collections.abc import Sequence

from heymarket_bridge.domain.operations import DeadLetter


class FakeDeadLetters:
    def __init__(self, refuse: bool = False) -> None:
        self.letters: list[DeadLetter] = []
        self.refuse = refuse

    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        if self.refuse:
            return list(range(len(letters)))
        self.letters.extend(letters)
        return []
