"""The Heymarket gateway: the `HeymarketPort` on Heymarket's documented endpoints, correct whatever it leaves open.

What Heymarket does not document, and what the gateway does about it (shared/HEYMARKET_API.md):

- What a v2 create does for a phone it already holds (refuse it, update the existing contact, or create a SECOND
  contact with that phone). The gateway never creates blindly: it looks the chunk's phones up first
  (`POST /v2/contacts/search`, one request per chunk) and sends a create only for a phone no contact holds, an
  update (`contact_id`) for one that exists. Every retry looks the phones up again, so a create whose answer was
  lost becomes an update, not a second contact. A create refused anyway (another writer created the phone
  meanwhile) is looked up and sent again as an update. New or existing, a chunk of 100 costs 2 requests.
- Whether answers carry a contact's UUID next to its integer id. v2 updates and deletes need the UUID; where the
  search gives only the integer id, the documented v1 endpoints by integer id are used instead of guessing:
  `PUT /v1/contact/{id}?overwrite=false` and `DELETE /v1/contact/{id}`: one request per existing contact.
- What `DELETE /v2/contacts` answers for an unknown UUID (`deletes.py`).
- Answers of another shape, a 3xx, or a 404 from an endpoint that exists (`client.py`).

Batches larger than `max_batch` are sent in chunks (`chunk.py`). Contacts the bridge stored before (`known`) are
written to directly, with no search, once it is known (`Learned`: `omitted`, `custom_map`) that updates keep what
they leave out: learned by this execution environment, or by the stack (`learning.StackLearning`, read on the first
batch); the choice of each write is `writes.choose_write`.

Opt-out wins (Heymarket's help centre, "Opt-Out Management"; `consent.py`): an opt-in is left out of every write
unless a re-consent allows it; and an opt-out stored is written to every other contact Heymarket holds for the phone
(`_opt_out_other_holders`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from heymarket_bridge.adapters.heymarket.answers import HeardContact
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, chunked, fill_unset
from heymarket_bridge.adapters.heymarket.contacts.chunk import UpsertChunk, send_bulk
from heymarket_bridge.adapters.heymarket.contacts.consent import OptIns
from heymarket_bridge.adapters.heymarket.contacts.learning import DEFAULT_REFRESH_S, DEFAULT_REVERIFY_S, StackLearning
from heymarket_bridge.adapters.heymarket.contacts.reconcile import doubtful, with_prior_consent
from heymarket_bridge.adapters.heymarket.contacts.search import PhoneLookup, search_phones
from heymarket_bridge.adapters.heymarket.contacts.writes import NOT_SENT, Learned, complete_update, same_contact
from heymarket_bridge.adapters.heymarket.failures import Refused
from heymarket_bridge.adapters.heymarket.http import HeymarketHttp
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.e164 import phone_digits
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.observability import emit_metric, logger
from heymarket_bridge.sync.model import DeleteResult, KnownContact, NotDone, Stored, UpsertResult

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import LearnedBehaviourPort


class V2Gateway:
    """Contacts are created and updated with `POST /v2/contacts` (the default, recommended mode)."""

    def __init__(
        self,
        http: HeymarketHttp,
        *,
        max_batch: int,
        behaviour: LearnedBehaviourPort | None = None,
        refresh_s: float = DEFAULT_REFRESH_S,
        reverify_s: float = DEFAULT_REVERIFY_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        """`behaviour`: where the stack keeps what it learned of Heymarket (None: this execution environment learns
        alone); read again at most every `refresh_s` seconds of `clock`; a fact that updates keep what they leave out
        trusted for `reverify_s` seconds after it was last verified (`StackLearning.reverify`)."""
        self.client = HeymarketClient(http, max_batch=max_batch)  # shared with the tags and lists adapter
        self.learned = Learned()  # what this execution environment knows of Heymarket's undocumented behaviours
        self.stack = StackLearning(
            self.learned,
            behaviour,
            refresh_s=refresh_s,
            reverify_s=reverify_s,
            clock=clock,
            wall_clock_ms=wall_clock_ms,
        )

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    @property
    def omitted(self) -> str | None:
        """ "keep" or "clear": what an update does with the fields it leaves out (None: not yet seen)."""
        return self.learned.omitted

    @omitted.setter
    def omitted(self, value: str | None) -> None:
        self.learned.omitted = value

    @property
    def custom_map(self) -> str | None:
        """ "merge" or "replace": what an update does with the custom map it sends (None: not yet seen)."""
        return self.learned.custom_map

    @custom_map.setter
    def custom_map(self, value: str | None) -> None:
        self.learned.custom_map = value

    def custom_fields(self, deadline: Deadline) -> list[CustomField]:
        # Imported on the first batch that names a custom field by title or deletes (contacts.deletes holds both
        # reads): a batch of plain upserts never loads it.
        from heymarket_bridge.adapters.heymarket.contacts.deletes import list_custom_fields

        return list_custom_fields(self.client, deadline)

    def delete(self, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
        from heymarket_bridge.adapters.heymarket.contacts.deletes import send_deletes

        return send_deletes(self.client, targets, deadline)

    def search(self, phones: Sequence[str], deadline: Deadline) -> PhoneLookup:
        """Every contact Heymarket holds for each phone (`POST /v2/contacts/search`, retried), and the phones it
        refused to look up."""
        return self.client.retrying(lambda: search_phones(self.client, phones, deadline), deadline)

    def upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None] = (),
        reconsent: Sequence[str | None] = (),
    ) -> list[UpsertResult]:
        self.stack.refresh()
        self.stack.reverify()
        try:
            return self._upsert(contacts, deadline, known, reconsent)
        finally:
            self.stack.flush()

    def _upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None],
        reconsent: Sequence[str | None],
    ) -> list[UpsertResult]:
        results: list[UpsertResult | None] = [None] * len(contacts)
        knowledge = list(known) or [None] * len(contacts)
        doubt: set[int] = set()
        seen: dict[int, list[HeardContact]] = {}
        prior: dict[int, HeardContact] = {}
        optins = OptIns(contacts, reconsent)
        outgoing = optins.outgoing()
        # A contact_id update may move its contact away from a phone another contact of the batch is for: written
        # first, it has moved before the other is looked up (`UpsertChunk._moving_away`).
        order = sorted(range(len(contacts)), key=lambda i: contacts[i].contact_id is None)
        for chunk in chunked(order, self.client.max_batch):
            upserts = UpsertChunk(self.client, self.learned, outgoing, knowledge, chunk, results, optins)
            try:
                upserts.run(deadline)
            except ConfigurationFailure as failure:
                fill_unset(results, NotDone(failure))
                break
            except GatewayFailure as failure:
                for i in chunk:
                    if results[i] is None:
                        results[i] = NotDone(failure)
            finally:
                doubt |= upserts.doubt
                seen.update(upserts.seen)
                prior.update(upserts.prior)
        final = [r or NotDone(TransientFailure(NOT_SENT)) for r in results]
        final = self._opt_out_other_holders(contacts, final, deadline, seen)
        final = [with_prior_consent(r, prior.get(i)) for i, r in enumerate(final)]
        return optins.settled(
            [NotDone(doubtful(r.failure)) if i in doubt and isinstance(r, NotDone) else r for i, r in enumerate(final)]
        )

    def _opt_out_other_holders(
        self,
        contacts: Sequence[Contact],
        results: list[UpsertResult],
        deadline: Deadline,
        seen: Mapping[int, list[HeardContact]],
    ) -> list[UpsertResult]:
        """The results once every other contact Heymarket holds for the phone of each opt-out stored is opted out too.

        An opt-out is about the number, not one of its contacts: a duplicate (made in Heymarket's app, the README's
        DuplicateContactsFound case) left opted in could still be texted. The holders are the ones the write's look-up
        showed (`seen`: every opt-out is looked up before it is written); a phone not looked up costs one search per
        chunk of 100. Then one update per chunk of duplicates found, each completed with the fields the look-up
        showed (an update may clear what it leaves out): nothing more where a phone has one contact. A contact whose
        duplicates could not be opted out is not done: its message is sent again (transient) or dead-lettered with
        Heymarket's refusal, and its own opt-out is sent again with it.
        """
        opting_out = [i for i, c in enumerate(contacts) if c.is_opted_out is True and isinstance(results[i], Stored)]
        if not opting_out:
            return results
        settled = list(results)
        try:
            lookup = self._holders(contacts, [i for i in opting_out if i not in seen], seen, deadline)
        except GatewayFailure as failure:
            return [NotDone(failure) if i in opting_out else r for i, r in enumerate(settled)]
        items = self._other_holders(contacts, opting_out, settled, lookup)
        for chunk in chunked(items, self.client.max_batch):
            self._opt_out_chunk(chunk, contacts, settled, deadline)
        reached = sum(1 for i, _ in items if isinstance(settled[i], Stored))
        if reached:
            emit_metric("DuplicatesOptedOut", value=reached)
            logger.warning(
                "An opt-out was written to every contact Heymarket holds for its phone", extra={"count": reached}
            )
        return settled

    def _holders(
        self, contacts: Sequence[Contact], unseen: list[int], seen: Mapping[int, list[HeardContact]], deadline: Deadline
    ) -> PhoneLookup:
        """The contacts holding each opt-out's phone: as the write's look-up showed them, else searched (retried)."""
        lookup = PhoneLookup(found={contacts[i].phone: list(holders) for i, holders in seen.items()})
        if unseen:
            searched = self.search([contacts[i].phone for i in unseen], deadline)
            lookup.found.update(searched.found)
            lookup.refused.update(searched.refused)
        return lookup

    @staticmethod
    def _other_holders(
        contacts: Sequence[Contact], opting_out: list[int], settled: list[UpsertResult], lookup: PhoneLookup
    ) -> list[tuple[int, dict[str, Any]]]:
        """The opt-out updates of the other contacts holding each opt-out's phone (contact index, bulk item); a
        contact whose phone Heymarket refused to look up, or whose other holder has no UUID, is settled not done."""
        items: list[tuple[int, dict[str, Any]]] = []
        for i in opting_out:
            stored = settled[i]
            assert isinstance(stored, Stored)
            if contacts[i].phone in lookup.refused:
                settled[i] = NotDone(lookup.refused[contacts[i].phone])
                continue
            for holder in lookup.holders(contacts[i].phone):
                if same_contact(holder.identity, stored.identity) or holder.fields.get("is_opted_out") is True:
                    continue
                if holder.identity.uuid is None:
                    settled[i] = NotDone(
                        PermanentFailure("another contact holding the phone has no UUID: it cannot be opted out")
                    )
                    continue
                update = complete_update(Contact(phone=contacts[i].phone, is_opted_out=True), holder)
                items.append((i, replace(update, contact_id=holder.identity.uuid).to_heymarket()))
        return items

    def _opt_out_chunk(
        self,
        chunk: list[tuple[int, dict[str, Any]]],
        contacts: Sequence[Contact],
        settled: list[UpsertResult],
        deadline: Deadline,
    ) -> None:
        """One bulk write of opt-outs to other holders (contact index, item); a contact whose item Heymarket failed,
        or all of them when the write failed, settled not done."""
        items = [item for _, item in chunk]
        try:
            answer, _ = self.client.retrying(lambda: send_bulk(self.client, items, deadline), deadline)
        except Refused as refused:
            failure: GatewayFailure = PermanentFailure(
                f"Heymarket refused to opt out another contact holding the phone: {refused}",
                request_id=refused.request_id,
            )
        except GatewayFailure as failed:
            failure = failed
        else:
            phones = {phone_digits(item.sent.get("phone")) for item in answer.failed}
            for i, _ in chunk:
                if contacts[i].phone in phones:
                    settled[i] = NotDone(
                        TransientFailure("Heymarket did not opt out another contact holding the phone")
                    )
            return
        for i, _ in chunk:
            settled[i] = NotDone(failure)
