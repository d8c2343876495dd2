"""Deletes and the custom field list, the same in both API modes (v1 mode deletes with v2's endpoints).

What `DELETE /v2/contacts` answers for a UUID Heymarket does not hold is not documented (shared/HEYMARKET_API.md):
"ok" counts; a refusal (4xx) is split in halves, and a single refused id is settled with `GET /v2/contact/{uuid}`:
an id Heymarket does not hold is already deleted, the others keep their refusal. A contact a look-up gives by its
integer id only is deleted with `DELETE /v1/contact/{id}` (documented), one request each.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from heymarket_bridge.adapters.heymarket.answers import read_custom_fields, read_ok
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, chunked, fill_unset, refusal_failure
from heymarket_bridge.adapters.heymarket.contacts.search import PhoneLookup, read_by_uuid, search_phones
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import Deadline, GatewayFailure, TransientFailure
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.observability import logger, mask_phone
from heymarket_bridge.sync.model import Deleted, DeleteResult, NotDone


def list_custom_fields(client: HeymarketClient, deadline: Deadline) -> list[CustomField]:
    """The team's custom fields (`POST /v1/contact-fields`), retried. A refusal is transient: not the contacts'
    fault, they wait (redelivered) and are dead-lettered with it only if it lasts."""
    try:
        return client.retrying(
            lambda: client.read("POST", "/v1/contact-fields", {}, deadline, read_custom_fields), deadline
        )
    except Refused as refused:
        raise TransientFailure(
            f"Heymarket refused to list the custom fields: {refused.reason}", request_id=refused.request_id
        ) from refused


def send_deletes(client: HeymarketClient, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
    """Each target's result: the contacts deleted for it (by the UUID a sender named, or every contact holding its
    phone), or why not. Retried as a whole; each round settles only what is still pending."""
    results: list[DeleteResult | None] = [None] * len(targets)
    try:
        client.retrying(lambda: _delete_round(client, targets, results, deadline), deadline)
    except GatewayFailure as failure:
        fill_unset(results, NotDone(failure))
    return [result or NotDone(TransientFailure("not sent")) for result in results]


@dataclass
class _Targets:
    """The pending targets of one round, sorted by how each contact is deleted."""

    given: dict[str, list[int]] = field(default_factory=dict)  # UUIDs the senders named -> the targets they serve
    found: dict[str, list[int]] = field(default_factory=dict)  # UUIDs the look-up just found holding a phone
    integer_ids: dict[int, list[int]] = field(default_factory=dict)  # contacts the look-up gave by integer id only

    @classmethod
    def sort(
        cls,
        targets: Sequence[DeleteTarget],
        pending: list[int],
        lookup: PhoneLookup,
        results: list[DeleteResult | None],
    ) -> _Targets:
        """The pending targets sorted; one whose phone Heymarket refused to look up is settled not done."""
        sorted_targets = cls()
        for i in pending:
            target = targets[i]
            if target.contact_id is not None:
                sorted_targets.given.setdefault(target.contact_id, []).append(i)
            elif target.phone in lookup.refused:
                results[i] = NotDone(lookup.refused[target.phone])
            else:
                sorted_targets.add_holders(i, lookup, target.phone or "")
        return sorted_targets

    def add_holders(self, i: int, lookup: PhoneLookup, phone: str) -> None:
        for contact in lookup.holders(phone):
            if contact.identity.uuid is not None:
                self.found.setdefault(contact.identity.uuid, []).append(i)
            elif contact.identity.id is not None:
                self.integer_ids.setdefault(contact.identity.id, []).append(i)


def _delete_round(
    client: HeymarketClient, targets: Sequence[DeleteTarget], results: list[DeleteResult | None], deadline: Deadline
) -> None:
    """Look the phones up, then delete every UUID in bulk and every integer-only id with v1. Safe to repeat."""
    pending = [i for i, result in enumerate(results) if result is None]
    lookup = search_phones(client, [phone for i in pending if (phone := targets[i].phone) is not None], deadline)
    sorted_targets = _Targets.sort(targets, pending, lookup, results)
    pending = [i for i in pending if results[i] is None]
    tally = _Tally(counts={i: 0 for i in pending})
    given, found = sorted_targets.given, sorted_targets.found
    uuids = {uuid: [*given.get(uuid, []), *found.get(uuid, [])] for uuid in {**given, **found}}
    for chunk in chunked(list(uuids), client.max_batch):
        tally.settle(_delete_uuids(client, chunk, deadline, just_found=frozenset(found) - set(given)), uuids)
    integer_ids = sorted_targets.integer_ids
    tally.settle({contact_id: _delete_v1(client, contact_id, deadline) for contact_id in integer_ids}, integer_ids)
    for i in pending:
        results[i] = tally.result(i)
        phone = targets[i].phone
        if phone is not None and isinstance(results[i], Deleted) and tally.counts[i] == 0:
            logger.info("No contact holds the phone to delete; nothing to do", extra={"phone": mask_phone(phone)})


@dataclass
class _Tally:
    """What one round's deletes did for each target: contacts deleted, or the refusal."""

    counts: dict[int, int]
    refusals: dict[int, GatewayFailure] = field(default_factory=dict)

    def settle(self, outcomes: Mapping[Any, int | GatewayFailure], served: Mapping[Any, list[int]]) -> None:
        """Count each delete's outcome for the targets it served (a refusal wins over any count)."""
        for key, outcome in outcomes.items():
            for i in served[key]:
                if isinstance(outcome, GatewayFailure):
                    self.refusals[i] = outcome
                else:
                    self.counts[i] += outcome

    def result(self, i: int) -> DeleteResult:
        return NotDone(self.refusals[i]) if i in self.refusals else Deleted(self.counts[i])


def _delete_uuids(
    client: HeymarketClient, uuids: list[str], deadline: Deadline, *, just_found: frozenset[str]
) -> dict[str, int | GatewayFailure]:
    """`DELETE /v2/contacts` by UUID: 1 per deleted contact, 0 for one Heymarket no longer holds.

    Heymarket does not document its answer for an unknown UUID. A refused request is split in halves. A single id it
    refuses is, if a sender named it, looked up (`GET /v2/contact/{uuid}`): gone means deleted. An id the look-up
    found (`just_found`) holding the phone a moment ago is not gone: its refusal stands (a 404 then means the
    endpoint, not the contact, is missing: a configuration error).
    """
    body = {"contact_channels": [{"channel_type": "id", "channel_ids": uuids}]}
    try:
        client.read("DELETE", "/v2/contacts", body, deadline, read_ok, resource=True)
    except (Refused, NotFound) as refused:
        if len(uuids) > 1:
            middle = len(uuids) // 2
            return {
                **_delete_uuids(client, uuids[:middle], deadline, just_found=just_found),
                **_delete_uuids(client, uuids[middle:], deadline, just_found=just_found),
            }
        if uuids[0] not in just_found and not _holds(client, uuids[0], deadline):
            return {uuids[0]: 0}
        return {uuids[0]: refusal_failure(refused, "DELETE /v2/contacts")}
    return dict.fromkeys(uuids, 1)


def _holds(client: HeymarketClient, uuid: str, deadline: Deadline) -> bool:
    """Whether Heymarket still holds the contact with this UUID (`GET /v2/contact/{uuid}`): a 404 says no; any other
    refusal cannot tell, and is a transient failure."""
    try:
        read_by_uuid(client, uuid, deadline)
    except NotFound:
        return False
    except Refused as refused:
        raise TransientFailure(
            f"could not tell whether Heymarket still holds a contact to delete: {refused.reason}",
            request_id=refused.request_id,
        ) from refused
    return True


def _delete_v1(client: HeymarketClient, contact_id: int, deadline: Deadline) -> int | GatewayFailure:
    """`DELETE /v1/contact/{id}` for a contact the look-up just found, known by its integer id only."""
    try:
        client.read("DELETE", f"/v1/contact/{contact_id}", None, deadline, read_ok, resource=True)
    except (NotFound, Refused) as refused:
        return refusal_failure(refused, "DELETE /v1/contact/{id}")
    return 1
