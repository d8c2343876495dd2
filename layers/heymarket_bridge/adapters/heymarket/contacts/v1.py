"""The legacy API mode: contacts go to `POST /v1/batch/contacts?overwrite=...`, which matches existing contacts by
phone (shared/HEYMARKET_API.md). Deletes and custom fields are the same as in v2 mode (`deletes.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from heymarket_bridge.adapters.heymarket.answers import read_v1_batch_answer
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, chunked, fill_unset
from heymarket_bridge.adapters.heymarket.contacts.consent import OptIns
from heymarket_bridge.adapters.heymarket.contacts.deletes import list_custom_fields, send_deletes
from heymarket_bridge.adapters.heymarket.contacts.search import PhoneLookup, search_phones
from heymarket_bridge.adapters.heymarket.contacts.writes import NOT_SENT, complete_update
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
from heymarket_bridge.sync.model import DeleteResult, Identity, KnownContact, NotDone, Stored, UpsertResult


class V1Gateway:
    """Contacts go to the legacy `POST /v1/batch/contacts?overwrite=...`, which matches existing contacts by phone.

    The v1 batch answers "ok", or the array of contacts it did not store, without a reason. Contacts with fields it
    does not document (custom fields, tags, ...) are refused rather than stored without them. Deletes are v2's.
    """

    def __init__(self, http: HeymarketHttp, *, max_batch: int, overwrite: bool) -> None:
        self.client = HeymarketClient(http, max_batch=max_batch)  # shared with the tags and lists adapter
        self._overwrite = overwrite
        self._optins = OptIns([], [])  # the opt-ins of the upsert call under way

    @property
    def requests_sent(self) -> int:
        return self.client.requests_sent

    def custom_fields(self, deadline: Deadline) -> list[CustomField]:
        return list_custom_fields(self.client, deadline)

    def delete(self, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
        return send_deletes(self.client, targets, deadline)

    def upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None] = (),
        reconsent: Sequence[str | None] = (),
    ) -> list[UpsertResult]:
        """`known` is not used: the v1 batch endpoint matches contacts by phone, with no search before it (except
        with overwrite, and for a re-consent: see `_send`)."""
        results: list[UpsertResult | None] = [None] * len(contacts)
        optins = OptIns(contacts, reconsent)
        self._optins = optins
        contacts = optins.outgoing()
        sendable: list[int] = []
        for i, contact in enumerate(contacts):
            extra = contact.fields_v1_cannot_send()
            if extra:
                results[i] = NotDone(
                    PermanentFailure(
                        f"HeymarketApiMode is v1, and Heymarket's v1 batch endpoint does not take {', '.join(extra)}: "
                        "switch to v2 mode, then redrive this message"
                    )
                )
            else:
                sendable.append(i)
        for chunk in chunked(sendable, self.client.max_batch):
            try:
                self.client.retrying(partial(self._send, contacts, chunk, results, deadline), deadline)
            except ConfigurationFailure as failure:
                fill_unset(results, NotDone(failure))
                break
            except GatewayFailure as failure:
                for i in chunk:
                    if results[i] is None:
                        results[i] = NotDone(failure)
        return optins.settled([r or NotDone(TransientFailure(NOT_SENT)) for r in results])

    def _send(
        self, contacts: Sequence[Contact], chunk: list[int], results: list[UpsertResult | None], deadline: Deadline
    ) -> None:
        """Look the chunk's phones up, then one batch write. The look-up lets an overwrite carry the held values of
        the fields the sender left out (`complete_update`): the v1 batch's overwrite is not documented to keep them."""
        pending = [i for i in chunk if results[i] is None]
        if not pending:
            return
        looked = [i for i in pending if self._overwrite or i in self._optins.trying]
        lookup = search_phones(self.client, [contacts[i].phone for i in looked], deadline) if looked else PhoneLookup()
        bodies: dict[int, dict[str, Any]] = {}
        for i in pending:
            if contacts[i].phone in lookup.refused:
                results[i] = NotDone(lookup.refused[contacts[i].phone])
                continue
            holder = lookup.first(contacts[i].phone)
            if i in self._optins.trying:
                contact = self._optins.decide(i, holder)
            else:
                contact = contacts[i]
                self._optins.note(i, holder, looked=i in looked)
            bodies[i] = (complete_update(contact, holder) if holder is not None else contact).to_heymarket_v1()
        self._send_batch(bodies, results, deadline)

    def _send_batch(
        self, bodies: Mapping[int, dict[str, Any]], results: list[UpsertResult | None], deadline: Deadline
    ) -> None:
        pending = list(bodies)
        if not pending:
            return
        path = f"/v1/batch/contacts?overwrite={'true' if self._overwrite else 'false'}"
        try:
            failed = self.client.read("POST", path, [bodies[i] for i in pending], deadline, read_v1_batch_answer)
        except Refused as refused:
            self._refused_batch(bodies, refused, results, deadline)
            return
        refused_phones = [phone_digits(item.get("phone")) for item in failed]
        if "" in refused_phones:
            raise TransientFailure("Heymarket's v1 batch answer lists a failed contact without a phone")
        again = {
            i: self._without_refused_opt_in(i, bodies)
            for i in pending
            if phone_digits(bodies[i].get("phone")) in refused_phones and bodies[i].get("is_opted_out") is False
        }
        for i in pending:
            if i in again:
                continue
            if phone_digits(bodies[i].get("phone")) in refused_phones:
                results[i] = NotDone(
                    PermanentFailure("Heymarket's v1 batch endpoint did not store the contact (it gives no reason)")
                )
            else:
                results[i] = Stored(Identity(), existed=False)
        self._send_batch(again, results, deadline)

    def _refused_batch(
        self,
        bodies: Mapping[int, dict[str, Any]],
        refused: Refused,
        results: list[UpsertResult | None],
        deadline: Deadline,
    ) -> None:
        """A batch Heymarket refused: split in halves until the refused contact is alone; alone, sent again without a
        re-consent's opt-in if it carried one, else refused."""
        pending = list(bodies)
        if len(pending) > 1:
            middle = len(pending) // 2
            self._send_batch({i: bodies[i] for i in pending[:middle]}, results, deadline)
            self._send_batch({i: bodies[i] for i in pending[middle:]}, results, deadline)
        elif bodies[pending[0]].get("is_opted_out") is False:
            self._send_batch({pending[0]: self._without_refused_opt_in(pending[0], bodies)}, results, deadline)
        else:
            results[pending[0]] = NotDone(PermanentFailure(refused.reason, request_id=refused.request_id))

    def _without_refused_opt_in(self, i: int, bodies: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
        """The body of a write whose re-consent opt-in Heymarket refused, without it: the opt-out the look-up showed
        said again (an overwrite may clear what it leaves out)."""
        self._optins.refused(i)
        return {**bodies[i], "is_opted_out": True}
