"""The delivery table's newest contact per phone, in memory: stands in for
heymarket_bridge.ingest.ports.RecentContacts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from heymarket_bridge.ingest.repeats import Latest, PhoneClaim


@dataclass
class FakeRecent:
    """The newest contact of each phone, in memory, written only if unchanged since read (as the delivery table)."""

    latest: dict[str, Latest] = field(default_factory=dict)

    def seen(self, phones: Sequence[str]) -> dict[str, Latest]:
        return {phone: self.latest[phone] for phone in phones if phone in self.latest}

    def claim(self, claims: Sequence[PhoneClaim]) -> list[str | None]:
        versions: list[str | None] = []
        for claim in claims:
            if self.latest.get(claim.phone) != claim.as_read:
                versions.append(None)
                continue
            version = f"v{len(self.latest)}-{claim.rank}"
            if claim.repeat and claim.as_read is not None:
                self.latest[claim.phone] = replace(claim.as_read, rank=claim.rank, version=version)
            else:
                self.latest[claim.phone] = Latest(claim.fingerprint, claim.rank, claim.rank, False, version)
            versions.append(version)
        return versions

    def confirm(self, versions: Mapping[str, str]) -> int:
        confirmed = 0
        for phone, version in versions.items():
            entry = self.latest.get(phone)
            if entry is not None and entry.version == version:
                self.latest[phone] = replace(entry, queued=True, version=version + "q")
                confirmed += 1
        return confirmed

    def forget(self, phones: Sequence[str], rank: int) -> None:
        for phone in phones:
            self.latest[phone] = Latest("", rank, rank, True, f"gone-{rank}")

    def void(self) -> None:
        self.latest.clear()
