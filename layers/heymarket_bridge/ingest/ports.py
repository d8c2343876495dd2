"""Everything the ingest use case needs from outside, declared once: the queue, the delivery ledger, the DLQ's
refusal letters, the record of each phone's newest contact, the webhook secrets, and the failures they report
(the secret store's, shared with the sync function, are in heymarket_bridge.domain.failures).

The adapters in heymarket_bridge.adapters.aws implement these (SqsBatchSender, SqsDeadLetters,
DynamoDbDeliveryLedger, DynamoDbRecentContacts, JsonSecretStore) and raise these failures; the use case imports
nothing of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from heymarket_bridge.domain.operations import DeadLetter, OutgoingMessage
from heymarket_bridge.ingest.notices import FetchNotice
from heymarket_bridge.ingest.repeats import Latest, PhoneClaim
from heymarket_bridge.ingest.sources.common import SourceCredentials


class MessageQueue(Protocol):
    def send(self, messages: Sequence[OutgoingMessage]) -> list[int]:
        """Send; return the indexes of messages NOT in the queue."""
        ...


class DeliveryLedger(Protocol):
    def once(self, key: str, content: str, work: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """(result, first time): work() run for the first delivery with this key, replayed for the others.

        Raises DeliveryLedgerBusy, DeliveryKeyConflict (same key, other content) or DeliveryLedgerUnavailable.
        """
        ...


class RefusalLetters(Protocol):
    def write(self, letters: Sequence[DeadLetter]) -> list[int]:
        """Write the letters to the DLQ; return the indexes of those NOT written."""
        ...


class RecentContacts(Protocol):
    """What the ingest side knows of the newest contact of each phone (heymarket_bridge.ingest.repeats). Every method
    raises DeliveryLedgerUnavailable when the store cannot be reached."""

    def seen(self, phones: Sequence[str]) -> Mapping[str, Latest]:
        """What is known of each phone (absent: nothing)."""
        ...

    def claim(self, claims: Sequence[PhoneClaim]) -> list[str | None]:
        """Write each claim if its phone's entry is still as it read it: the version written for each, None for one
        whose entry changed meanwhile."""
        ...

    def confirm(self, versions: Mapping[str, str]) -> int:
        """The contents claimed with these versions (by phone) are in the queue; how many entries were still theirs."""
        ...

    def forget(self, phones: Sequence[str], rank: int) -> None:
        """The phones' contacts are being deleted by an operation of this rank."""
        ...

    def void(self) -> None:
        """Forget every record made until now."""
        ...


# The webhook-secrets secret as a JSON object of source name to secret; raises SecretUnavailable.
WebhookSecrets = Callable[[], Mapping[str, Any]]


class VendorRecords(Protocol):
    """A vendor's API the fetch function reads the records of id-only notifications from (Meta's Graph API, Acuity's
    API), implemented in heymarket_bridge.adapters.vendors."""

    @property
    def requests_sent(self) -> int:
        """Requests made since the adapter was built (the bench's requests per lead)."""
        ...

    def fetch(self, notice: FetchNotice, credentials: SourceCredentials) -> Mapping[str, Any]:
        """The record `notice` names, as the vendor's documented JSON object. Raises FetchTransient (retry later),
        FetchGone (it cannot be fetched, ever), FetchRefused (the credentials are missing or refused)."""
        ...


# Put fetch messages back on the fetch queue, delayed by the given seconds (0-900), as new messages (their receive count
# starts again); returns the indexes of those NOT sent.
FetchRequeue = Callable[[Sequence[str], int], list[int]]


class Counters(Protocol):
    """Counters shared by every execution (heymarket_bridge.ingest.limits): contacts per minute per source or token."""

    def add(self, key: str, count: int, limit: int, expires_at: int) -> bool:
        """Add `count` to counter `key` unless the sum would pass `limit`: True when added. The counter may be
        forgotten after `expires_at` (epoch seconds). Raises CountersUnavailable."""
        ...


# The contact queue's ApproximateNumberOfMessages; raises QueueDepthUnavailable.
QueueDepth = Callable[[], int]
