"""The phone look-up: `POST /v2/contacts/search`, one request per chunk of phones, and the read of one contact by
UUID (`GET /v2/contact/{uuid}`).

Whether the search answer carries a contact's UUID next to its integer id is not documented (shared/HEYMARKET_API.md):
`HeardContact.identity` holds what it gave. A chunk Heymarket refuses is split in halves until the refused phone is
alone; that phone's refusal is kept in `PhoneLookup.refused` (permanent), the others are looked up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from heymarket_bridge.adapters.heymarket.answers import HeardContact, read_contact_object, read_search_answer
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, chunked
from heymarket_bridge.adapters.heymarket.failures import Refused
from heymarket_bridge.domain.failures import Deadline, PermanentFailure
from heymarket_bridge.observability import emit_metric, logger, mask_phone


@dataclass
class PhoneLookup:
    """What a search found: the contacts holding each phone (oldest first), and phones Heymarket refused to look up."""

    found: dict[str, list[HeardContact]] = field(default_factory=dict)
    refused: dict[str, PermanentFailure] = field(default_factory=dict)

    def holders(self, phone: str) -> list[HeardContact]:
        return self.found.get(phone, [])

    def first(self, phone: str) -> HeardContact | None:
        """The oldest contact holding `phone` (the one the bridge keeps up to date), or None."""
        return next(iter(self.holders(phone)), None)


def search_phones(client: HeymarketClient, phones: Sequence[str], deadline: Deadline) -> PhoneLookup:
    """Every contact Heymarket holds for each phone (oldest first), one request per chunk of phones. Not retried:
    the caller's round is (`HeymarketClient.retrying`)."""
    lookup = PhoneLookup()
    for chunk in chunked(list(dict.fromkeys(phones)), client.max_batch):
        _search_chunk(client, chunk, deadline, lookup)
    for phone, contacts in lookup.found.items():
        contacts.sort(key=lambda c: c.identity.id or 0)
        if len(contacts) > 1:
            emit_metric("DuplicateContactsFound")
            logger.warning(
                "Heymarket holds several contacts with one phone; the oldest is kept up to date",
                extra={"phone": mask_phone(phone), "count": len(contacts)},
            )
    return lookup


def _search_chunk(client: HeymarketClient, phones: list[str], deadline: Deadline, lookup: PhoneLookup) -> None:
    body = {"contact_channels": [{"channel_type": "phone", "channel_ids": phones}]}
    try:
        contacts = client.read("POST", "/v2/contacts/search", body, deadline, read_search_answer)
    except Refused as refused:
        if len(phones) == 1:
            lookup.refused[phones[0]] = PermanentFailure(
                f"Heymarket refused to look the phone up: {refused}", request_id=refused.request_id
            )
            return
        middle = len(phones) // 2
        _search_chunk(client, phones[:middle], deadline, lookup)
        _search_chunk(client, phones[middle:], deadline, lookup)
        return
    for contact in contacts:
        held = lookup.found.setdefault(contact.phone, []) if contact.phone in phones else None
        if held is not None and contact.identity not in [c.identity for c in held]:
            held.append(contact)


def read_by_uuid(client: HeymarketClient, uuid: str, deadline: Deadline) -> HeardContact:
    """The contact Heymarket holds by this UUID (`GET /v2/contact/{uuid}`). Raises `NotFound` (no such contact, the
    base URL seen to work) or `Refused`."""
    return client.read(
        "GET",
        f"/v2/contact/{uuid}",
        None,
        deadline,
        lambda data: read_contact_object(data, "the answer"),
        resource=True,
    )
