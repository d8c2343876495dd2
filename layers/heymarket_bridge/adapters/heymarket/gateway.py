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
  `PUT /v1/contact/{id}?overwrite=false` (its answer carries the UUID; fields the v1 write does not document
  follow in one v2 update by that UUID) and `DELETE /v1/contact/{id}`: one request per existing contact.
- What `DELETE /v2/contacts` answers for an unknown UUID. "ok" counts; a refusal (4xx) is settled id by id with
  `GET /v2/contact/{uuid}`: an id Heymarket does not hold is already deleted, the others are deleted again.
- Answers of another shape (an HTML page from a proxy, an empty body, truncated JSON, items that are not
  objects): a transient failure, retried and finally dead-lettered with a reason that names the answer; a
  contact counts as stored only when an answer of the documented shape lists it.
- A 3xx, or a 404 from an endpoint that exists: the base URL is wrong. A configuration failure, not a refusal.

Batches larger than `max_batch` are sent in chunks; a chunk Heymarket refuses (400, 413: the maximum batch and
body size are not documented either) is split in halves until the refused contact is found.

Contacts the bridge stored before (`known`: identifiers from Heymarket's answers, and the contact as the last answer
showed it) are written to directly, with no search: by UUID in the bulk request (what the sender sent only, so that
a field changed in Heymarket's app since is left alone), or, known by integer id only, `PUT /v1/contact/{id}`. The
bulk answer shows the contact after the write: a field the update left out that the snapshot held and the answer no
longer shows means Heymarket cleared it, and it is written back at once from the snapshot. What was learned that way
(Heymarket clears what an update leaves out, or a custom map replaces the stored one) holds for the execution
environment: the contacts it would harm go through the search again, completed with the values just read. An opt-out
is restored only where the answer shows Heymarket cleared what the update left out (or shows nothing to tell):
never to undo a change made in Heymarket. A known identifier Heymarket refuses (deleted or merged in its app) sends
the contact through the search, stored by its phone.

A write by an identifier (the contact state's, or a sender's `contact_id`) is checked against its answer: the answer
must show the contact holding the phone sent (`_UpsertChunk._moved`). A contact whose number was changed in Heymarket's
app, or moved by a `contact_id` update, is no longer that phone's person: the contact is put back as the snapshot
showed it (the fields the write changed), and the phone is looked up and written again. A write by the contact
state's identifier leaves the phone out, so that it can never move a contact back to a number its person left.
A sender's `contact_id` update is never written onto another contact: its phone is looked up first (unless the named
contact as read holds it), and one another contact holds is refused (`_held_by_another`); one whose answer still
does not show the named contact holding the phone sent puts that contact back as read and is refused (`_put_back`).

Opt-out wins (Heymarket's help centre, "Opt-Out Management": only the contact can opt back in, by texting START, YES or
UNSTOP). An `is_opted_out: false` from a sender is left out of every write, on every path (look-up or none, by
`contact_id`, v1): a contact opted in stays so, a new one is created opted in (the field's documented default is
not given; left out, nothing can turn an opt-out into an opt-in), and one opted out stays opted out while its other
fields change. Costs no request. Nor is an opt-in ever completed or restored from a look-up or snapshot (`_complete`
fills only an opt-out). The one exception is re-consent (`upsert`'s `reconsent`): such a contact is always looked up
(one search per chunk, or `GET /v2/contact/{uuid}` for one named by `contact_id`), and the opt-in is written only
over an opt-out whose contact Heymarket last changed (`updated`) before the consent time. What Heymarket does with an
opt-in written over its opt-out is not documented: accepted; ignored (2xx, still opted out: reported held back);
refused (400 or a failed contact): sent again at once without the opt-in, so its other fields are not lost.

What could not be put back is never written by the contact state's identifier (`_unrepairable_by_id`): an opt-out
the snapshot does not hold, a field or custom value it does not hold. Those writes look their phone up first. A
`contact_id` update goes first, and a contact of the same batch for the phone it moves its contact away from waits
until it is written, then is looked up (`_UpsertChunk._moving_away`): in one request the two could land in any order.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final, TypeVar

from heymarket_bridge.adapters.heymarket.answers import (
    BulkAnswer,
    HeardContact,
    UnreadableAnswer,
    read_bulk_answer,
    read_contact,
    read_custom_fields,
    read_ok,
    read_search_answer,
    read_v1_batch_answer,
    read_write_answer,
)
from heymarket_bridge.adapters.heymarket.http import Answer, HeymarketHttp, NotFound, Refused, misconfigured
from heymarket_bridge.domain.contact import V1_FIELDS, Contact
from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import (
    ConfigurationFailure,
    Deadline,
    GatewayFailure,
    PermanentFailure,
    TransientFailure,
)
from heymarket_bridge.domain.operations import DeleteTarget
from heymarket_bridge.domain.phone import phone_digits
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import (
    Deleted,
    DeleteResult,
    Identity,
    KnownContact,
    NotDone,
    Stored,
    UpsertResult,
)

T = TypeVar("T")
# How many times one contact may be looked up again after Heymarket refused what was sent for it (a create of
# a phone someone created meanwhile, an update of a contact someone deleted meanwhile) before the refusal stands.
MAX_RESOLVES = 2
# Fields the v1 contact write (PUT /v1/contact/{id}) documents; others follow in a v2 update by UUID.
V1_WRITE_FIELDS = (*V1_FIELDS, "custom")

# Why an opt-in a sender asked for was not applied (Stored.consent_held_back).
HELD_OPTED_OUT: Final = "Heymarket holds the contact opted out: only the person can opt back in, by texting START"
HELD_NOT_SHOWN: Final = (
    "the opt-in was left out of the write, and Heymarket's answer does not show whether the contact is opted out"
)
HELD_NOT_NEWER: Final = "the consent is not newer than Heymarket's last change of the opted-out contact"
HELD_NO_TIME: Final = "Heymarket's contact does not show when it last changed: the consent cannot be shown newer"
HELD_REFUSED: Final = "Heymarket refused the opt-in written over its opt-out; the other fields were written"
HELD_IGNORED: Final = "Heymarket kept its opt-out over the opt-in written"


class _Gateway:
    """What both API modes share: deletes, custom fields, lookups, answers, and the base URL check."""

    def __init__(self, http: HeymarketHttp, *, max_batch: int) -> None:
        self._http = http
        self._max_batch = max_batch
        self._reached = False  # an answer of the documented shape came back: the base URL is right

    @property
    def requests_sent(self) -> int:
        return self._http.requests_sent

    # ------------------------------------------------------------------ custom fields

    def custom_fields(self, deadline: Deadline) -> list[CustomField]:
        try:
            return self._http.retrying(
                lambda: self._read("POST", "/v1/contact-fields", {}, deadline, read_custom_fields), deadline
            )
        except Refused as refused:
            # Not the contacts' fault: they wait (redelivered) and are dead-lettered with this only if it lasts.
            raise TransientFailure(
                f"Heymarket refused to list the custom fields: {refused.reason}", request_id=refused.request_id
            ) from refused

    # ------------------------------------------------------------------ deletes

    def delete(self, targets: Sequence[DeleteTarget], deadline: Deadline) -> list[DeleteResult]:
        results: list[DeleteResult | None] = [None] * len(targets)
        try:
            self._http.retrying(lambda: self._delete_round(targets, results, deadline), deadline)
        except GatewayFailure as failure:
            _fill(results, NotDone(failure))
        return [result or NotDone(TransientFailure("not sent")) for result in results]

    def _delete_round(
        self, targets: Sequence[DeleteTarget], results: list[DeleteResult | None], deadline: Deadline
    ) -> None:
        """Look the phones up, then delete every UUID in bulk and every integer-only id with v1. Safe to repeat."""
        pending = [i for i, result in enumerate(results) if result is None]
        phones = [targets[i].phone for i in pending if targets[i].phone is not None]
        lookup = self._search([p for p in phones if p is not None], deadline)
        given: dict[str, list[int]] = {}  # UUIDs the senders named -> the targets they serve
        found: dict[str, list[int]] = {}  # UUIDs the look-up just found holding a phone
        integer_ids: dict[int, list[int]] = {}
        for i in pending:
            target = targets[i]
            if target.contact_id is not None:
                given.setdefault(target.contact_id, []).append(i)
                continue
            if target.phone in lookup.refused:
                results[i] = NotDone(lookup.refused[target.phone])
                continue
            for contact in lookup.holders(target.phone or ""):
                if contact.identity.uuid is not None:
                    found.setdefault(contact.identity.uuid, []).append(i)
                elif contact.identity.id is not None:
                    integer_ids.setdefault(contact.identity.id, []).append(i)
        pending = [i for i in pending if results[i] is None]
        counts = {i: 0 for i in pending}
        refusals: dict[int, GatewayFailure] = {}

        def settle(outcomes: Mapping[Any, int | GatewayFailure], served: Mapping[Any, list[int]]) -> None:
            for key, outcome in outcomes.items():
                for i in served[key]:
                    if isinstance(outcome, GatewayFailure):
                        refusals[i] = outcome
                    else:
                        counts[i] += outcome

        uuids = {uuid: [*given.get(uuid, []), *found.get(uuid, [])] for uuid in {**given, **found}}
        for chunk in _chunks(list(uuids), self._max_batch):
            settle(self._delete_uuids(chunk, deadline, just_found=frozenset(found) - set(given)), uuids)
        settle({contact_id: self._delete_v1(contact_id, deadline) for contact_id in integer_ids}, integer_ids)
        for i in pending:
            results[i] = NotDone(refusals[i]) if i in refusals else Deleted(counts[i])
            if targets[i].phone is not None and i not in refusals and counts[i] == 0:
                logger.info(
                    "No contact holds the phone to delete; nothing to do", extra={"phone": mask_phone(targets[i].phone)}
                )

    def _delete_uuids(
        self, uuids: list[str], deadline: Deadline, *, just_found: frozenset[str]
    ) -> dict[str, int | GatewayFailure]:
        """`DELETE /v2/contacts` by UUID: 1 per deleted contact, 0 for one Heymarket no longer holds.

        Heymarket does not document its answer for an unknown UUID. A refused request is split in halves. A single
        id it refuses is, if a sender named it, looked up (`GET /v2/contact/{uuid}`): gone means deleted. An id the
        look-up found (`just_found`) holding the phone a moment ago is not gone: its refusal stands (a 404 then
        means the endpoint, not the contact, is missing: a configuration error).
        """
        body = {"contact_channels": [{"channel_type": "id", "channel_ids": uuids}]}
        try:
            self._read("DELETE", "/v2/contacts", body, deadline, read_ok, resource=True)
        except (Refused, NotFound) as refused:
            if len(uuids) > 1:
                middle = len(uuids) // 2
                return {
                    **self._delete_uuids(uuids[:middle], deadline, just_found=just_found),
                    **self._delete_uuids(uuids[middle:], deadline, just_found=just_found),
                }
            if uuids[0] not in just_found and not self._holds(uuids[0], deadline):
                return {uuids[0]: 0}
            return {uuids[0]: self._refusal(refused, "DELETE /v2/contacts")}
        return dict.fromkeys(uuids, 1)

    def _refusal(self, refused: Refused | NotFound, what: str) -> GatewayFailure:
        """What a refused write of a contact Heymarket holds means: a 404 says the endpoint is missing (the base URL
        or a moved endpoint, a configuration error), any other refusal is Heymarket's answer for the contact."""
        if isinstance(refused, NotFound):
            return misconfigured(
                f"Heymarket answered 404 to {what} for a contact it holds: the endpoint moved or HeymarketBaseUrl "
                "is wrong",
                "Heymarket answered 404 for a contact it holds: check HeymarketBaseUrl",
                request_id=refused.request_id,
                endpoint=what,
            )
        return PermanentFailure(f"Heymarket refused {what}: {refused.reason}", request_id=refused.request_id)

    def _holds(self, uuid: str, deadline: Deadline) -> bool:
        """Whether Heymarket still holds the contact with this UUID (`GET /v2/contact/{uuid}`): a 404 says no; any
        other refusal cannot tell, and is a transient failure."""
        try:
            self._read(
                "GET",
                f"/v2/contact/{uuid}",
                None,
                deadline,
                lambda data: read_contact(data, "the answer"),
                resource=True,
            )
        except NotFound:
            return False
        except Refused as refused:
            raise TransientFailure(
                f"could not tell whether Heymarket still holds a contact to delete: {refused.reason}",
                request_id=refused.request_id,
            ) from refused
        return True

    def _delete_v1(self, contact_id: int, deadline: Deadline) -> int | GatewayFailure:
        """`DELETE /v1/contact/{id}` for a contact the look-up just found, known by its integer id only."""
        try:
            self._read("DELETE", f"/v1/contact/{contact_id}", None, deadline, read_ok, resource=True)
        except (NotFound, Refused) as refused:
            return self._refusal(refused, "DELETE /v1/contact/{id}")
        return 1

    # ------------------------------------------------------------------ lookups

    def _search(self, phones: Sequence[str], deadline: Deadline) -> Lookup:
        """Every contact Heymarket holds for each phone (oldest first), one request per chunk of phones."""
        lookup = Lookup()
        for chunk in _chunks(list(dict.fromkeys(phones)), self._max_batch):
            self._search_chunk(chunk, deadline, lookup)
        for phone, contacts in lookup.found.items():
            contacts.sort(key=lambda c: c.identity.id or 0)
            if len(contacts) > 1:
                emit_metric("DuplicateContactsFound")
                logger.warning(
                    "Heymarket holds several contacts with one phone; the oldest is kept up to date",
                    extra={"phone": mask_phone(phone), "count": len(contacts)},
                )
        return lookup

    def _search_chunk(self, phones: list[str], deadline: Deadline, lookup: Lookup) -> None:
        body = {"contact_channels": [{"channel_type": "phone", "channel_ids": phones}]}
        try:
            contacts = self._read("POST", "/v2/contacts/search", body, deadline, read_search_answer)
        except Refused as refused:
            if len(phones) == 1:
                lookup.refused[phones[0]] = PermanentFailure(
                    f"Heymarket refused to look the phone up: {refused}", request_id=refused.request_id
                )
                return
            middle = len(phones) // 2
            self._search_chunk(phones[:middle], deadline, lookup)
            self._search_chunk(phones[middle:], deadline, lookup)
            return
        for contact in contacts:
            held = lookup.found.setdefault(contact.phone, []) if contact.phone in phones else None
            if held is not None and contact.identity not in [c.identity for c in held]:
                held.append(contact)

    # ------------------------------------------------------------------ for the segments adapter (issue 17)

    def request(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> tuple[T, str | None]:
        """One request as this gateway makes its own (`_exchange`: the base URL check, the answer read with `reader`,
        a refusal raised as `Refused`), for the tags and lists endpoints (adapters.heymarket.segments)."""
        return self._exchange(method, path, body, deadline, reader, resource=resource)

    def search(self, phones: Sequence[str], deadline: Deadline) -> Lookup:
        """Every contact Heymarket holds for each phone (`POST /v2/contacts/search`, retried), and the phones it
        refused to look up."""
        return self._http.retrying(lambda: self._search(phones, deadline), deadline)

    # ------------------------------------------------------------------ requests

    def _read(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> T:
        """One request, its answer read with `reader` (see `_exchange`)."""
        return self._exchange(method, path, body, deadline, reader, resource=resource)[0]

    def _exchange(
        self,
        method: str,
        path: str,
        body: Any,
        deadline: Deadline,
        reader: Callable[[Any], T],
        *,
        resource: bool = False,
    ) -> tuple[T, str | None]:
        """One request: its answer read with `reader`, and its X-Request-Id. An unreadable answer is a
        TransientFailure; a refusal (4xx) raises `Refused`.

        A 404 is NotFound only for a `resource` path (one naming a contact), and only once the base URL has been
        seen to work; any other 404 means the base URL is wrong: a ConfigurationFailure.
        """
        try:
            answer = self._http.call(method, path, body, deadline)
        except NotFound as missing:
            if resource and self._base_url_works(deadline):
                raise
            raise misconfigured(
                f"{missing.reason}: HeymarketBaseUrl is wrong or the endpoint moved",
                "Heymarket answered 404 for an endpoint it documents: check HeymarketBaseUrl",
                request_id=missing.request_id,
                url=self._http.base_url + path.split("?", 1)[0],
            ) from missing
        return self._parse(answer, method, path, reader), answer.request_id

    def _parse(self, answer: Answer, method: str, path: str, reader: Callable[[Any], T]) -> T:
        try:
            value = reader(answer.data)
        except UnreadableAnswer as exc:
            logger.warning(
                "Heymarket's answer is not of the documented shape",
                extra={
                    "method": method,
                    "path": path.split("?", 1)[0],
                    "problem": str(exc),
                    "heymarket_request_id": answer.request_id,
                },
            )
            raise TransientFailure(
                f"Heymarket's answer to {method} {path.split('?', 1)[0]} is not of the documented shape: {exc}",
                request_id=answer.request_id,
                outcome_unknown=True,  # it answered 2xx: the request was carried out, whatever it did
            ) from exc
        self._reached = True
        return value

    def _base_url_works(self, deadline: Deadline) -> bool:
        """Whether the base URL reaches Heymarket: an earlier documented answer, or `GET /v1/inboxes` answering."""
        if not self._reached:
            try:
                self._read("GET", "/v1/inboxes", None, deadline, _any_json_array_or_object)
            except (NotFound, Refused, ConfigurationFailure):
                return False
        return self._reached


@dataclass
class Lookup:
    """What a search found: the contacts holding each phone (oldest first), and phones Heymarket refused to look up."""

    found: dict[str, list[HeardContact]] = field(default_factory=dict)
    refused: dict[str, PermanentFailure] = field(default_factory=dict)

    def holders(self, phone: str) -> list[HeardContact]:
        return self.found.get(phone, [])


class V2Gateway(_Gateway):
    """Contacts are created and updated with `POST /v2/contacts` (the default, recommended mode)."""

    def __init__(self, http: HeymarketHttp, *, max_batch: int) -> None:
        super().__init__(http, max_batch=max_batch)
        # What this execution environment learned from answers to updates of known contacts (None: not yet seen).
        self.omitted: str | None = None  # "keep" or "clear": what an update does with the fields it leaves out
        self.custom_map: str | None = None  # "merge" or "replace": what an update does with the custom map it sends

    def upsert(
        self,
        contacts: Sequence[Contact],
        deadline: Deadline,
        known: Sequence[KnownContact | None] = (),
        reconsent: Sequence[str | None] = (),
    ) -> list[UpsertResult]:
        results: list[UpsertResult | None] = [None] * len(contacts)
        knowledge = list(known) or [None] * len(contacts)
        doubt: set[int] = set()
        seen: dict[int, list[HeardContact]] = {}
        prior: dict[int, HeardContact] = {}
        optins = _OptIns(contacts, reconsent)
        outgoing = optins.outgoing()
        # A contact_id update may move its contact away from a phone another contact of the batch is for: written
        # first, it has moved before the other is looked up (`_UpsertChunk._moving_away`).
        order = sorted(range(len(contacts)), key=lambda i: contacts[i].contact_id is None)
        for chunk in _chunks(order, self._max_batch):
            upserts = _UpsertChunk(self, outgoing, knowledge, chunk, results, optins)
            try:
                upserts.run(deadline)
            except ConfigurationFailure as failure:
                _fill(results, NotDone(failure))
                break
            except GatewayFailure as failure:
                for i in chunk:
                    if results[i] is None:
                        results[i] = NotDone(failure)
            finally:
                doubt |= upserts.doubt
                seen.update(upserts.seen)
                prior.update(upserts.prior)
        final = [
            r or NotDone(TransientFailure("the invocation ran out of time before the contact was sent"))
            for r in results
        ]
        final = self._opt_out_other_holders(contacts, final, deadline, seen)
        final = [_with_prior_consent(r, prior.get(i)) for i, r in enumerate(final)]
        return optins.settled(
            [NotDone(_doubtful(r.failure)) if i in doubt and isinstance(r, NotDone) else r for i, r in enumerate(final)]
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
        unseen = [i for i in opting_out if i not in seen]
        lookup = Lookup(found={contacts[i].phone: list(holders) for i, holders in seen.items()})
        try:
            if unseen:
                searched = self._http.retrying(
                    lambda: self._search([contacts[i].phone for i in unseen], deadline), deadline
                )
                lookup.found.update(searched.found)
                lookup.refused.update(searched.refused)
        except GatewayFailure as failure:
            return [NotDone(failure) if i in opting_out else r for i, r in enumerate(settled)]
        items: list[tuple[int, dict[str, Any]]] = []
        for i in opting_out:
            stored = settled[i]
            assert isinstance(stored, Stored)
            if contacts[i].phone in lookup.refused:
                settled[i] = NotDone(lookup.refused[contacts[i].phone])
                continue
            for holder in lookup.holders(contacts[i].phone):
                if _same_contact(holder.identity, stored.identity) or holder.fields.get("is_opted_out") is True:
                    continue
                if holder.identity.uuid is None:
                    settled[i] = NotDone(
                        PermanentFailure("another contact holding the phone has no UUID: it cannot be opted out")
                    )
                    continue
                update = _complete(Contact(phone=contacts[i].phone, is_opted_out=True), holder)
                items.append((i, replace(update, contact_id=holder.identity.uuid).to_heymarket()))
        for chunk in _chunks(items, self._max_batch):
            outcome = self._opt_out_chunk([item for _, item in chunk], deadline)
            for i, _ in chunk:
                if isinstance(outcome, GatewayFailure):
                    settled[i] = NotDone(outcome)
                elif contacts[i].phone in outcome:
                    settled[i] = NotDone(
                        TransientFailure("Heymarket did not opt out another contact holding the phone")
                    )
        reached = sum(1 for i, _ in items if isinstance(settled[i], Stored))
        if reached:
            emit_metric("DuplicatesOptedOut", value=reached)
            logger.warning(
                "An opt-out was written to every contact Heymarket holds for its phone", extra={"count": reached}
            )
        return settled

    def _opt_out_chunk(self, items: list[dict[str, Any]], deadline: Deadline) -> GatewayFailure | set[str]:
        """One bulk write of opt-outs to other holders: the phones of the items Heymarket failed, or the failure."""
        try:
            answer, _ = self._http.retrying(lambda: self._bulk(items, deadline), deadline)
        except Refused as refused:
            return PermanentFailure(
                f"Heymarket refused to opt out another contact holding the phone: {refused}",
                request_id=refused.request_id,
            )
        except GatewayFailure as failure:
            return failure
        return {phone_digits(item.sent.get("phone")) for item in answer.failed}

    def _bulk(self, items: list[dict[str, Any]], deadline: Deadline) -> tuple[BulkAnswer, str | None]:
        return self._exchange("POST", "/v2/contacts", {"contacts": items}, deadline, read_bulk_answer)

    def _put_v1(self, contact_id: int, body: dict[str, Any], deadline: Deadline) -> Identity:
        return self._read(
            "PUT", f"/v1/contact/{contact_id}?overwrite=false", body, deadline, read_write_answer, resource=True
        )


@dataclass(frozen=True)
class _Write:
    index: int
    item: dict[str, Any]
    existed: bool
    target: str | None  # the UUID updated, or None for a create
    snapshot: Contact | None = None  # a known contact written without a search: its answer is checked against this
    sent: Contact | None = None  # the contact as sent, when it is not the sender's (a probe: see `_probe`)
    # Written by an identifier, not found by a look-up of the phone: the phone its answer must show (`_moved`).
    expects_phone: str | None = None
    undo: bool = False  # puts back a contact a write meant for another phone changed: settles no contact
    known_id: int | None = None  # the integer id of the contact written by its identifier, when known


# Fields a probe may leave out of an update (see `_UpsertChunk._probe`), the least consequential first.
PROBE_FIELDS: Final = ("avatar", "display_name", "email", "last", "first")


class _UpsertChunk:
    """Stores one chunk of contacts: look the phones up (except known contacts), then one bulk write. Refused or
    unconfirmed contacts are looked up again: a refusal stands once a fresh lookup shows nothing changed (same target
    as before)."""

    def __init__(
        self,
        gateway: V2Gateway,
        contacts: list[Contact],
        known: Sequence[KnownContact | None],
        chunk: list[int],
        results: list[UpsertResult | None],
        optins: _OptIns,
    ) -> None:
        self._gateway = gateway
        self._contacts = contacts  # as sent: opt-ins left out (`_OptIns`); a re-consent's decided at each look-up
        self._optins = optins
        self._known = list(known)  # an entry is dropped when its contact turns out to hold another phone
        self._chunk = chunk
        self._results = results
        self._refused: dict[int, tuple[str | None, PermanentFailure]] = {}  # last target refused, and why
        self._probing = False  # a write of this chunk learns what updates do with what they leave out (`_probe`)
        self._probed: dict[int, Contact] = {}  # the probed contact, as its look-up showed it
        # Contacts a write of which had an unknown outcome (or cleared fields not yet written back) in this chunk:
        # however they end, they end in doubt (`doubtful`).
        self.doubt: set[int] = set()
        self._resolves: dict[int, int] = {}
        self._unbound: set[int] = set()  # the identifier written by holds another phone: stored by a look-up
        self.seen: dict[int, list[HeardContact]] = {}  # the contacts a look-up showed holding each contact's phone
        self.prior: dict[int, HeardContact] = {}  # the contact each write updates, as a look-up just showed it
        # `contact_id` updates: the named contact as read before the update (to put it back), and those Heymarket
        # holds no contact for (a 404: stored by their phone like any contact).
        self._named_reads: dict[int, HeardContact] = {}
        self._absent: set[int] = set()

    def run(self, deadline: Deadline) -> None:
        while self._pending():
            self._gateway._http.retrying(lambda: self._round(deadline), deadline)

    def _pending(self) -> list[int]:
        return [i for i in self._chunk if self._results[i] is None]

    def _round(self, deadline: Deadline) -> None:
        pending = self._pending()
        movers = self._movers(pending)
        for i in pending:
            if self._moving_away(i, movers, self._known_uuid(i)):
                self._unbound.add(i)  # its binding is the moving contact's: stored by a look-up once it moved
        by_phone = [i for i in pending if self._needs_search(i)]
        named = {i: self._named(i, deadline) for i in pending if i not in by_phone and self._reads_named(i)}
        self._named_reads.update((i, read) for i, read in named.items() if read is not None)
        # A contact_id update to a phone its contact does not hold (as read, or not read) has its phone looked up
        # too, in the same request: held by another contact, the update is refused (`_held_by_another`).
        by_id = [
            i
            for i in pending
            if i not in by_phone
            and self._contacts[i].contact_id is not None
            and (i not in named or getattr(named[i], "phone", self._contacts[i].phone) != self._contacts[i].phone)
        ]
        phones = list(dict.fromkeys(self._contacts[i].phone for i in (*by_phone, *by_id)))
        lookup = self._gateway._search(phones, deadline) if phones else Lookup()
        writes: list[_Write] = []
        by_v1: list[tuple[int, int, dict[str, Any], HeardContact | None]] = []
        deferred = False
        for i in pending:
            contact = self._contacts[i]
            if i in by_phone and self._moving_away(i, movers, _key(next(iter(lookup.holders(contact.phone)), None))):
                deferred = True  # looked up again in the next round, once the contact_id update has moved it
                continue
            if i not in by_phone:
                known = self._known[i]
                if contact.contact_id is not None and self._held_by_another(i, lookup, deadline):
                    continue
                if contact.contact_id is not None:  # an update of the contact the sender named
                    if i in named:
                        read = named[i]
                        if read is None:
                            continue  # Heymarket holds no such contact: stored by its phone in the next round
                        self.prior[i] = read
                        if i in self._optins.trying:
                            contact = self._contacts[i] = self._optins.decide(i, read)
                        kept = self._restorable(i) if self._named_snapshot(i) is not None else None
                        named_update = replace(_complete(contact, read, kept), contact_id=contact.contact_id)
                        writes.append(
                            _Write(
                                i,
                                named_update.to_heymarket(),
                                existed=True,
                                target=contact.contact_id,
                                expects_phone=contact.phone,
                            )
                        )
                    else:
                        snapshot = self._named_snapshot(i)
                        item = contact.to_heymarket()
                        writes.append(_Write(i, item, True, contact.contact_id, snapshot, expects_phone=contact.phone))
                elif known is not None and known.identity.uuid is not None:
                    # Without the phone: were the contact's number changed in Heymarket's app, the update could
                    # move it back to this one, onto the old number's next owner; its answer shows it (`_moved`).
                    item = _without_phone(replace(contact, contact_id=known.identity.uuid).to_heymarket())
                    target, known_id = known.identity.uuid, known.identity.id
                    writes.append(
                        _Write(i, item, True, target, known.snapshot, expects_phone=contact.phone, known_id=known_id)
                    )
                elif known is not None and known.identity.id is not None:
                    by_v1.append((i, known.identity.id, _v1_fields(contact), None))
                continue
            if contact.phone in lookup.refused:
                self._results[i] = NotDone(lookup.refused[contact.phone])
                continue
            self.seen[i] = lookup.holders(contact.phone)
            holder = next(iter(lookup.holders(contact.phone)), None)
            if contact.contact_id is not None and self._held_by_another(i, lookup, deadline):
                continue  # never the phone's other holder: the sender named a contact Heymarket holds
            if holder is not None:
                self.prior[i] = holder
            else:
                self.prior.pop(i, None)
            if i in self._optins.trying:
                contact = self._contacts[i] = self._optins.decide(i, holder)
            restore = self._restorable(i)
            if i in self._refused and self._refused[i][0] == _key(holder):
                self._results[i] = NotDone(self._refused[i][1])  # looked up again: nothing changed, the refusal stands
            elif holder is None:
                writes.append(_Write(i, replace(contact, contact_id=None).to_heymarket(), existed=False, target=None))
            elif (uuid := self._uuid_of(i, holder)) is not None and self._gateway.omitted == "keep":
                # Known to keep what it leaves out: only what the sender sent, the custom map completed unless a
                # custom map sent is known to merge (the opt-out read a moment ago is not said again, so a STOP
                # texted since the look-up stands).
                sent = contact if self._keeps(contact) else _with_held_custom(contact, holder)
                writes.append(_Write(i, replace(sent, contact_id=uuid).to_heymarket(), True, uuid))
            elif uuid is not None:
                completed = _complete(contact, holder, restore)
                probe = self._probe(i, holder, completed)
                if probe is not None:
                    held = self._probed[i]
                    item = replace(probe, contact_id=uuid).to_heymarket()
                    writes.append(_Write(i, item, True, uuid, snapshot=held, sent=probe))
                else:
                    writes.append(_Write(i, replace(completed, contact_id=uuid).to_heymarket(), True, uuid))
            else:
                assert holder.identity.id is not None  # read_contact requires it
                by_v1.append((i, holder.identity.id, _v1_body(contact, holder, restore), holder))
        unconfirmed = self._write(writes, deadline) + self._write_v1(by_v1, deadline)
        if unconfirmed:
            raise TransientFailure(f"Heymarket's answer did not confirm {len(unconfirmed)} of the contacts sent")
        if deferred and not writes and not by_v1:
            raise TransientFailure("a contact_id update this batch waits on was not written")

    def _held_by_another(self, i: int, lookup: Lookup, deadline: Deadline) -> bool:
        """Whether the phone of `contact_id` update `i` is held in Heymarket by a contact other than the one named
        (refused then, as a conflict for the operator: `_conflict`). Heymarket does not document what an update by
        `contact_id` does with a phone another contact holds (refuse it, give the named contact a duplicate, or write
        onto the holder): written, it could leave two people on one number or one person's name on another's
        contact. A contact_id Heymarket holds no contact for (a 404 when read) is stored by its phone instead."""
        contact = self._contacts[i]
        assert contact.contact_id is not None
        if i in self._absent:
            return False
        others = [h for h in lookup.holders(contact.phone) if not self._is_named(i, h, deadline)]
        if i in self._absent or not others:
            return False
        self._conflict(i, "the phone is held by another contact in Heymarket")
        return True

    def _is_named(self, i: int, holder: HeardContact, deadline: Deadline) -> bool:
        """Whether a contact a look-up found is the one update `i` names by `contact_id`: by UUID when the look-up
        gives it (undocumented), else by the integer id of the named contact as read (`GET /v2/contact/{uuid}`)."""
        contact_id = self._contacts[i].contact_id
        if holder.identity.uuid is not None:
            return holder.identity.uuid == contact_id
        if i not in self._named_reads:
            read = self._named(i, deadline)
            if read is None:
                self._absent.add(i)
                return False
            self._named_reads[i] = read
        return holder.identity.id is not None and holder.identity.id == self._named_reads[i].identity.id

    def _conflict(self, i: int, reason: str) -> None:
        """Refuse `contact_id` update `i` for a phone another contact holds: dead-lettered with the reason (for the
        operator to resolve in Heymarket's app or the sender), counted, never written onto the phone's holder."""
        contact = self._contacts[i]
        emit_metric("ContactIdPhoneConflict")
        logger.warning(
            "A contact_id update was refused: its phone is another contact's in Heymarket",
            extra={"phone": mask_phone(contact.phone), "reason": reason},
        )
        self._results[i] = NotDone(
            PermanentFailure(f"contact_id update refused: {reason}; nothing was written onto that contact")
        )

    def _movers(self, pending: Sequence[int]) -> dict[str, str]:
        """The contacts a pending `contact_id` update of this chunk writes (UUID -> the phone it writes them for)."""
        return {contact_id: self._contacts[j].phone for j in pending if (contact_id := self._contacts[j].contact_id)}

    def _moving_away(self, i: int, movers: Mapping[str, str], target: str | None) -> bool:
        """Whether contact `i` (not itself a `contact_id` update) would be written onto a contact that a pending
        `contact_id` update of the same chunk moves to another phone. Sent in one request, the two writes could land
        in either order, and the old phone's next owner (an opt-out) onto the person who left it: `i` waits for the
        move, then is looked up (`_round`)."""
        contact = self._contacts[i]
        return (
            contact.contact_id is None and target is not None and target in movers and movers[target] != contact.phone
        )

    def _known_uuid(self, i: int) -> str | None:
        """The UUID contact `i` would be written to without a look-up (the contact state's binding), if any."""
        known = self._known[i]
        return known.identity.uuid if known is not None and i not in self._unbound else None

    def _needs_search(self, i: int) -> bool:
        """Whether the contact is stored through a search of its phone, rather than by an identifier known."""
        if i in self._refused or i in self._unbound:
            # The identifier was refused (deleted or merged in Heymarket's app), or its contact holds another phone
            # now: store it by its phone.
            return True
        contact, known = self._contacts[i], self._known[i]
        if contact.contact_id is not None:
            return False
        if i in self._optins.trying:
            return True  # a re-consent is written only over what a look-up just showed
        if known is None or known.in_doubt:
            return True
        if _unrepairable_by_id(contact, known.snapshot):
            return True
        if known.identity.uuid is not None and known.snapshot is not None:
            # Only once this instance has seen that updates keep what they leave out (and merge a custom map sent):
            # before that, an update without a look-up could clear a STOP made in Heymarket's app since the
            # snapshot, which nothing could then tell apart from an opt-in (see `_probe`, which learns it).
            merges = contact.custom is None or self._gateway.custom_map == "merge"
            return self._gateway.omitted != "keep" or not merges
        # Known by its integer id only: the v1 write by that id needs the phone and answers only identifiers, so
        # nothing would show that the contact holds another phone now (`_moved`): looked up first. Otherwise
        # only once updates are known to keep what they leave out (and merge a custom map sent).
        return known.identity.uuid is None or not self._keeps(contact)

    def _keeps(self, contact: Contact) -> bool:
        """Whether this instance has seen that an update of `contact` keeps what it leaves out (and merges the custom
        map it sends, if it sends one)."""
        return self._gateway.omitted == "keep" and (contact.custom is None or self._gateway.custom_map == "merge")

    def _uuid_of(self, i: int, holder: HeardContact) -> str | None:
        """The UUID of the contact a look-up found: as the answer gives it, else as the contact state learned it
        for the same integer id (answers without UUIDs: a v1 update's answer gave it)."""
        known = self._known[i]
        if holder.identity.uuid is not None:
            return holder.identity.uuid
        if known is not None and known.identity.id is not None and known.identity.id == holder.identity.id:
            return known.identity.uuid
        return None

    def _probe(self, i: int, holder: HeardContact, completed: Contact) -> Contact | None:
        """The update to send instead of `completed` so that its answer shows what Heymarket does with what an update
        leaves out, while this instance does not know it yet; None when there is nothing to learn from this one.

        Left out: one field the look-up showed that the sender did not send (the least used first, never
        `is_opted_out` or tags), and the custom values the sender did not send. Only for a contact whose snapshot in
        the contact state holds the same values for what is left out: whatever happens to the answer, what the
        update cleared can be put back (at once from the look-up; after a lost answer, in a later round or
        invocation, from the look-up kept or the snapshot: `_restorable`). Its answer is checked against the look-up
        (`_checked`): what it cleared is written back at once, and the instance knows from then on. One per chunk.
        """
        known, contact = self._known[i], self._contacts[i]
        if self._probing or i in self._probed or known is None or known.snapshot is None or known.in_doubt:
            return None
        shown, kept, values = (
            _held(contact.phone, holder.fields).to_dict(),
            known.snapshot.to_dict(),
            completed.to_dict(),
        )
        sent = contact.to_dict()
        left_out = False
        if self._gateway.omitted is None:
            name = next(
                (n for n in PROBE_FIELDS if n in shown and n not in sent and kept.get(n) == shown[n]),
                None,
            )
            if name is not None:
                values.pop(name)
                left_out = True
        if self._gateway.custom_map is None and contact.custom:
            others = {k: v for k, v in (shown.get("custom") or {}).items() if k not in contact.custom}
            if others and all((kept.get("custom") or {}).get(k) == v for k, v in others.items()):
                values["custom"] = dict(contact.custom)
                left_out = True
        if not left_out:
            return None
        self._probing = True
        self._probed[i] = _held(contact.phone, holder.fields)
        return Contact.from_dict(values)

    def _named_snapshot(self, i: int) -> Contact | None:
        """The snapshot of the contact the sender named by `contact_id`, when the contact state knows that contact."""
        known = self._known[i]
        if known is None or known.identity.uuid != self._contacts[i].contact_id:
            return None
        return known.snapshot

    def _reads_named(self, i: int) -> bool:
        """Whether the contact the sender named by `contact_id` is read before its update, to complete it like any
        update (`_complete`): unless this instance has seen that updates keep what they leave out (and merge a
        custom map sent). A snapshot alone is not enough: it cannot tell a STOP texted to Heymarket since."""
        contact = self._contacts[i]
        if contact.contact_id is None:
            return False
        if i in self._optins.trying:
            return True  # a re-consent is written only over what a look-up just showed
        merges = contact.custom is None or self._gateway.custom_map == "merge"
        return self._gateway.omitted != "keep" or not merges

    def _named(self, i: int, deadline: Deadline) -> HeardContact | None:
        """The contact the sender named (`GET /v2/contact/{uuid}`), or None when Heymarket holds none by that id (a
        404, or the id refused): the contact is then stored by its phone, like an update Heymarket refuses."""
        contact_id = self._contacts[i].contact_id
        assert contact_id is not None
        try:
            return self._gateway._read(
                "GET",
                f"/v2/contact/{contact_id}",  # a UUID (heymarket_bridge.domain.contact checks it)
                None,
                deadline,
                lambda data: read_contact(data, "the answer"),
                resource=True,
            )
        except (NotFound, Refused) as missing:
            self._absent.add(i)
            self._refuse(
                i, contact_id, PermanentFailure(f"Heymarket holds no contact by the contact_id sent: {missing}")
            )
            return None

    def _restorable(self, i: int) -> Contact | None:
        """The values to restore fields from that a fresh look-up shows empty: the look-up of this chunk's probe (its
        answer may have been lost after it landed), or the snapshot when a write's outcome was unknown (it may have
        cleared what it left out, or a write back of what an update cleared may have failed)."""
        if i in self._probed:
            return self._probed[i]
        known = self._known[i]
        if known is None or not known.in_doubt or self._gateway.omitted == "keep":
            return None  # once updates are known to keep what they leave out, none of ours cleared anything
        return known.snapshot

    def _write(self, writes: list[_Write], deadline: Deadline) -> list[int]:
        """Send the writes in one request (halves on a refusal); settle each; return the unconfirmed ones."""
        if not writes:
            return []
        try:
            answer, request_id = self._gateway._bulk([w.item for w in writes], deadline)
        except TransientFailure as failure:
            if failure.outcome_unknown:
                self.doubt.update(w.index for w in writes)
                self._hold_creates(writes, failure)
            raise
        except Refused as refused:
            if len(writes) > 1:
                middle = len(writes) // 2
                return self._write(writes[:middle], deadline) + self._write(writes[middle:], deadline)
            if not self._opt_in_refused(writes[0].index, writes[0].item):
                self._refuse(
                    writes[0].index, writes[0].target, PermanentFailure(refused.reason, request_id=refused.request_id)
                )
            return []
        stored, failed, untied = _match(writes, answer)
        unconfirmed: list[int] = []
        repairs: list[_Write] = []
        for write in writes:
            if write.undo:
                if write.index not in stored:
                    logger.warning(
                        "Could not put back a contact a write meant for another phone changed",
                        extra={"error": failed.get(write.index, "not confirmed")},
                    )
                continue
            if write.index in failed:
                if self._opt_in_refused(write.index, write.item):
                    continue
                self._refuse(write.index, write.target, PermanentFailure(failed[write.index], request_id=request_id))
            elif write.index in stored:
                heard = stored[write.index]
                by_contact_id = self._contacts[write.index].contact_id is not None
                if by_contact_id and self._elsewhere(write, heard):
                    repairs.extend(self._put_back(write, heard))
                    continue
                if write.expects_phone is not None and heard.phone != write.expects_phone:
                    repairs.extend(self._moved(write, heard))
                    continue
                repair = self._checked(write, heard) if write.snapshot is not None else None
                if repair is not None:
                    repairs.append(repair)
                else:
                    held = _held(self._contacts[write.index].phone, heard.fields)
                    opted_out = _opted_out(heard.fields, write.item)
                    self._results[write.index] = Stored(
                        heard.identity, request_id, existed=write.existed, opted_out=opted_out, held=held
                    )
            elif untied:
                # A failure Heymarket does not tie to a contact: an unconfirmed contact may be the one it means.
                self._refuse(write.index, write.target, PermanentFailure(untied[0], request_id=request_id))
            else:
                unconfirmed.append(write.index)
        return unconfirmed + self._write(repairs, deadline)

    def _checked(self, write: _Write, heard: HeardContact) -> _Write | None:
        """The write that puts back what an update of a known contact cleared, or None when nothing was.

        Compares the answer with the snapshot for the fields the update left out, learns from it what Heymarket does
        with them (`V2Gateway.omitted`, `custom_map`), and logs what it puts back.
        """
        assert write.snapshot is not None
        assert write.target is not None
        contact = write.sent or self._contacts[write.index]
        if self._gateway.omitted == "keep" and (contact.custom is None or self._gateway.custom_map == "merge"):
            # Known to keep what it leaves out: a field the answer no longer shows was cleared in Heymarket's app,
            # by a person, since the snapshot; it is left as they left it.
            return None
        shown = _held(contact.phone, heard.fields)
        cleared = _cleared(contact, write.snapshot, shown)
        if cleared.omitted is not None and self._gateway.omitted is None:
            self._gateway.omitted = cleared.omitted
        if cleared.custom_map is not None and self._gateway.custom_map is None:
            self._gateway.custom_map = cleared.custom_map
        if not cleared.restore:
            return None
        self.doubt.add(write.index)  # until the write back is confirmed
        emit_metric("ClearedFieldsRestored")
        logger.warning(
            "Heymarket's answer shows fields the update left out cleared; writing them back from the last answer",
            extra={"phone": mask_phone(contact.phone), "fields": sorted(cleared.restore)},
        )
        repaired = Contact.from_dict({**contact.to_dict(), **cleared.restore, "contact_id": write.target})
        return _Write(write.index, repaired.to_heymarket(), existed=True, target=write.target)

    def _elsewhere(self, write: _Write, heard: HeardContact) -> bool:
        """Whether the answer to a `contact_id` update does not show the named contact holding the phone sent: another
        phone (undocumented: Heymarket may keep the number and answer 2xx), or another contact (one matched by phone,
        a UUID other than the one named)."""
        if write.expects_phone is not None and heard.phone != write.expects_phone:
            return True
        return heard.identity.uuid is not None and write.target is not None and heard.identity.uuid != write.target

    def _put_back(self, write: _Write, heard: HeardContact) -> list[_Write]:
        """Refuse a `contact_id` update whose answer does not show the named contact holding the phone sent, and put
        the named contact back as it was read before the update (when the answer is that contact's). A contact the
        answer shows that is not the one named cannot be told from its own person's since: left as Heymarket holds it,
        and named in the log and the letter."""
        i = write.index
        other = heard.identity.uuid is not None and write.target is not None and heard.identity.uuid != write.target
        self._conflict(
            i,
            "Heymarket wrote the update onto another contact (the phone is held by another contact in Heymarket)"
            if other
            else "Heymarket's answer does not show the phone sent (the phone is held by another contact in Heymarket)",
        )
        read = self._named_reads.get(i)
        before = _held(read.phone, read.fields) if read is not None else self._named_snapshot(i)
        if other or before is None or write.target is None:
            return []
        # The fields the update completed from the read hold what was read: only the sender's can need putting back.
        undo = _undo(i, self._contacts[i], before, write.target, _held(heard.phone, heard.fields))
        return [undo] if undo is not None else []

    def _moved(self, write: _Write, heard: HeardContact) -> list[_Write]:
        """A write by an identifier whose answer shows its contact holding another phone (`heard.phone`) than the one
        written for: the person of that contact moved (a number corrected in Heymarket's app, a `contact_id`
        update). The identifier is dropped and the phone looked up and written again in the next round; a contact
        the contact state bound (not one the sender named) gets back what this write changed (`_undo`)."""
        i = write.index
        contact = self._contacts[i]
        emit_metric("ContactPhoneMoved")
        logger.warning(
            "Heymarket's answer shows the contact written by its id holding another phone; the phone is looked up "
            "and written again",
            extra={"phone": mask_phone(contact.phone), "held_phone": mask_phone(heard.phone)},
        )
        self._unbound.add(i)
        if contact.contact_id is not None or write.snapshot is None or write.target is None:
            return []
        self._known[i] = None
        undo = _undo(i, write.sent or contact, write.snapshot, write.target, _held(heard.phone, heard.fields))
        return [replace(undo, known_id=write.known_id)] if undo is not None else []

    def _write_v1(
        self, updates: list[tuple[int, int, dict[str, Any], HeardContact | None]], deadline: Deadline
    ) -> list[int]:
        """Existing contacts known by their integer id only: `PUT /v1/contact/{id}`, then v2 for the rest.

        Each update is (index, integer id, v1 body, the contact a look-up just found, or None for a contact known
        from an earlier answer and written without a search).
        """
        follow: list[_Write] = []
        for i, contact_id, body, holder in updates:
            contact = self._contacts[i]
            try:
                identity = self._gateway._put_v1(contact_id, body, deadline)
            except TransientFailure as failure:
                if failure.outcome_unknown:
                    self.doubt.add(i)
                raise
            except NotFound as missing:
                if holder is not None:
                    # The look-up found this contact a moment ago: the endpoint, not the contact, is missing.
                    raise self._gateway._refusal(missing, "PUT /v1/contact/{id}") from missing
                # Known from an earlier answer: deleted or merged in Heymarket's app since; stored by its phone.
                self._refuse(
                    i, f"id:{contact_id}", PermanentFailure("the contact Heymarket held for the phone is gone")
                )
                continue
            except Refused as refused:
                if not self._opt_in_refused(i, body):
                    self._refuse(i, f"id:{contact_id}", PermanentFailure(refused.reason, request_id=refused.request_id))
                continue
            known = self._known[i]
            restore = self._restorable(i)
            completed = _complete(contact, holder, restore) if holder is not None else contact
            # Lists are not a contact field (written with the lists endpoints once the contact is stored).
            rest = sorted(k for k in contact.to_dict() if k not in (*V1_WRITE_FIELDS, "contact_id", "lists"))
            if not rest:
                self._results[i] = Stored(
                    Identity(contact_id, identity.uuid), existed=True, opted_out=completed.is_opted_out
                )
            elif identity.uuid is not None:
                # Completed like any update (`_complete`): a v2 update that replaced the whole contact would otherwise
                # clear what the v1 write just kept. Without a look-up, its answer is checked against the snapshot.
                item = replace(completed, contact_id=identity.uuid).to_heymarket()
                snapshot = known.snapshot if holder is None and known is not None else None
                follow.append(_Write(i, item, existed=True, target=identity.uuid, snapshot=snapshot))
            else:
                self._results[i] = NotDone(
                    PermanentFailure(
                        f"Heymarket gave no UUID for the contact, and its v1 update does not take {', '.join(rest)}"
                    )
                )
        return self._write(follow, deadline)

    def _hold_creates(self, writes: list[_Write], failure: TransientFailure) -> None:
        """Creates whose request may still be taking effect are not sent again in this invocation: a look-up made
        now could miss a create still in flight, and where Heymarket makes a second contact for a phone it holds,
        sending it again would. The message is redelivered; by then the look-up shows whether the create landed."""
        for write in writes:
            if write.target is None:
                self._results[write.index] = NotDone(
                    TransientFailure(
                        f"the create may still be taking effect ({failure.reason}); it is looked up again on the "
                        "next receive before anything is sent",
                        request_id=failure.request_id,
                    )
                )

    def _opt_in_refused(self, index: int, sent: Mapping[str, Any]) -> bool:
        """Whether a refused write carried a re-consent's opt-in: then the contact is sent again without it (in the
        next round, after a fresh look-up), so that Heymarket's refusal of the opt-in costs none of its other fields."""
        if sent.get("is_opted_out") is not False:
            return False
        self._contacts[index] = self._optins.refused(index)
        return True

    def _refuse(self, index: int, target: str | None, failure: PermanentFailure) -> None:
        self._resolves[index] = self._resolves.get(index, 0) + 1
        if self._resolves[index] > MAX_RESOLVES:
            self._results[index] = NotDone(failure)
        else:
            self._refused[index] = (target, failure)


def _match(writes: list[_Write], answer: BulkAnswer) -> tuple[dict[int, HeardContact], dict[int, str], list[str]]:
    """Tie the answer's contacts and failures to the writes: by UUID for updates, else by the integer id of a contact
    written by its identifier (answers without UUIDs), else by phone (the phone a write without one was for)."""
    by_uuid = {w.item["contact_id"]: w.index for w in writes if w.item.get("contact_id")}
    by_id = {w.known_id: w.index for w in writes if w.known_id is not None}
    by_phone: dict[str, list[int]] = {}
    for w in writes:
        by_phone.setdefault(_phone_of(w.item) or w.expects_phone or "", []).append(w.index)
    failed: dict[int, str] = {}
    untied: list[str] = []
    for item in answer.failed:
        index = by_uuid.get(str(item.sent.get("contact_id") or "")) if item.sent.get("contact_id") else None
        if index is None:
            candidates = by_phone.get(_phone_of(item.sent), [])
            index = next((c for c in candidates if c not in failed), None)
        if index is None:
            untied.append(item.error)
        else:
            failed[index] = item.error
    stored: dict[int, HeardContact] = {}
    for contact in answer.stored:
        index = by_uuid.get(contact.identity.uuid or "") if contact.identity.uuid else None
        if index is None and contact.identity.id is not None:
            index = by_id.get(contact.identity.id)
        if index is None:
            candidates = by_phone.get(contact.phone, [])
            index = next((c for c in candidates if c not in stored and c not in failed), None)
        if index is not None and index not in failed:
            stored[index] = contact
    return stored, failed, untied


class V1Gateway(_Gateway):
    """Contacts go to the legacy `POST /v1/batch/contacts?overwrite=...`, which matches existing contacts by phone.

    The v1 batch answers "ok", or the array of contacts it did not store, without a reason. Contacts with fields it
    does not document (custom fields, tags, ...) are refused rather than stored without them. Deletes are v2's.
    """

    def __init__(self, http: HeymarketHttp, *, max_batch: int, overwrite: bool) -> None:
        super().__init__(http, max_batch=max_batch)
        self._overwrite = overwrite
        self._optins = _OptIns([], [])  # the opt-ins of the upsert call under way

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
        optins = _OptIns(contacts, reconsent)
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
        for chunk in _chunks(sendable, self._max_batch):
            try:
                self._http.retrying(partial(self._send, contacts, chunk, results, deadline), deadline)
            except ConfigurationFailure as failure:
                _fill(results, NotDone(failure))
                break
            except GatewayFailure as failure:
                for i in chunk:
                    if results[i] is None:
                        results[i] = NotDone(failure)
        return optins.settled(
            [
                r or NotDone(TransientFailure("the invocation ran out of time before the contact was sent"))
                for r in results
            ]
        )

    def _send(
        self, contacts: Sequence[Contact], chunk: list[int], results: list[UpsertResult | None], deadline: Deadline
    ) -> None:
        """Look the chunk's phones up, then one batch write. The look-up lets an overwrite carry the held values of
        the fields the sender left out (see `_complete`): the v1 batch's overwrite is not documented to keep them."""
        pending = [i for i in chunk if results[i] is None]
        if not pending:
            return
        looked = [i for i in pending if self._overwrite or i in self._optins.trying]
        lookup = self._search([contacts[i].phone for i in looked], deadline) if looked else Lookup()
        bodies: dict[int, dict[str, Any]] = {}
        for i in pending:
            if contacts[i].phone in lookup.refused:
                results[i] = NotDone(lookup.refused[contacts[i].phone])
                continue
            holder = next(iter(lookup.holders(contacts[i].phone)), None)
            if i in self._optins.trying:
                contact = self._optins.decide(i, holder)
            else:
                contact = contacts[i]
                self._optins.note(i, holder, looked=i in looked)
            bodies[i] = (_complete(contact, holder) if holder is not None else contact).to_heymarket_v1()
        self._send_batch(bodies, results, deadline)

    def _send_batch(
        self, bodies: Mapping[int, dict[str, Any]], results: list[UpsertResult | None], deadline: Deadline
    ) -> None:
        pending = list(bodies)
        if not pending:
            return
        path = f"/v1/batch/contacts?overwrite={'true' if self._overwrite else 'false'}"
        try:
            failed = self._read("POST", path, [bodies[i] for i in pending], deadline, read_v1_batch_answer)
        except Refused as refused:
            if len(pending) == 1:
                if bodies[pending[0]].get("is_opted_out") is False:
                    self._send_batch({pending[0]: self._without_refused_opt_in(pending[0], bodies)}, results, deadline)
                    return
                results[pending[0]] = NotDone(PermanentFailure(refused.reason, request_id=refused.request_id))
                return
            middle = len(pending) // 2
            self._send_batch({i: bodies[i] for i in pending[:middle]}, results, deadline)
            self._send_batch({i: bodies[i] for i in pending[middle:]}, results, deadline)
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

    def _without_refused_opt_in(self, i: int, bodies: Mapping[int, dict[str, Any]]) -> dict[str, Any]:
        """The body of a write whose re-consent opt-in Heymarket refused, without it: the opt-out the look-up showed
        said again (an overwrite may clear what it leaves out)."""
        self._optins.refused(i)
        return {**bodies[i], "is_opted_out": True}


class _OptIns:
    """The opt-ins (`is_opted_out: false`) asked for in one upsert call, and what became of them.

    Left out of every write (`outgoing`), except those with a re-consent time (`trying`): each look-up of such a
    contact decides (`decide`) whether its opt-in is written; a refusal of it (`refused`) leaves it out from then on.
    `settled` puts the outcome on each result, and logs and counts what was held back.
    """

    def __init__(self, contacts: Sequence[Contact], reconsent: Sequence[str | None]) -> None:
        self._contacts = list(contacts)
        self._asked = {i for i, contact in enumerate(contacts) if contact.is_opted_out is False}
        self._times = {i: at for i, at in enumerate(reconsent) if at is not None and i in self._asked}
        self.trying = set(self._times)
        self._written: set[int] = set()
        self._reasons: dict[int, str] = {}

    def outgoing(self) -> list[Contact]:
        return [c if i in self.trying else _without_opt_in(c) for i, c in enumerate(self._contacts)]

    def decide(self, i: int, holder: HeardContact | None) -> Contact:
        """The contact to write, a look-up having just shown `holder` (None: no contact holds the phone)."""
        self._written.discard(i)
        self._reasons.pop(i, None)
        state = holder.fields.get("is_opted_out") if holder is not None else False
        if state is False:
            return _without_opt_in(self._contacts[i])  # nothing to opt back in (a new contact is opted in)
        reason = HELD_OPTED_OUT if state is not True else self._too_old(i, holder)
        if reason is not None:
            self._reasons[i] = reason
            return _without_opt_in(self._contacts[i])
        self._written.add(i)
        return self._contacts[i]

    def _too_old(self, i: int, holder: HeardContact | None) -> str | None:
        """Why the consent time does not show a consent newer than the opt-out (None: it does). The opt-out dates
        from Heymarket's last change of the contact (`updated`, documented in the Contact object) or earlier."""
        changed = _instant(holder.fields.get("updated")) if holder is not None else None
        consented = _instant(self._times[i])
        if changed is None or consented is None:
            return HELD_NO_TIME
        return None if consented > changed else HELD_NOT_NEWER

    def note(self, i: int, holder: HeardContact | None, *, looked: bool) -> None:
        """What is known of an opt-in left out of a write without a decision (v1 mode): a look-up showed `holder`, or
        there was none (`looked` false) and nothing will show how the contact ends."""
        if i not in self._asked or i in self.trying:
            return
        if not looked:
            self._reasons[i] = HELD_NOT_SHOWN
        elif holder is not None and holder.fields.get("is_opted_out") is not False:
            self._reasons[i] = HELD_OPTED_OUT

    def refused(self, i: int) -> Contact:
        """Heymarket refused the opt-in written: the contact without it, and no opt-in for it again in this call."""
        self.trying.discard(i)
        self._written.discard(i)
        self._reasons[i] = HELD_REFUSED
        return _without_opt_in(self._contacts[i])

    def settled(self, results: list[UpsertResult]) -> list[UpsertResult]:
        """The results, each stored contact that asked for an opt-in saying whether it was held back."""
        settled: list[UpsertResult] = []
        for i, result in enumerate(results):
            if i in self._asked and isinstance(result, Stored) and result.opted_out is not False:
                reason = self._reasons.get(i)
                if reason is None and result.opted_out is True:
                    reason = HELD_IGNORED if i in self._written else HELD_OPTED_OUT
                if reason is None and i not in self._written and result.existed:
                    reason = HELD_NOT_SHOWN
                if reason is not None:
                    emit_metric("OptInsHeldBack")
                    logger.warning(
                        "Opt-in held back: the contact stays as Heymarket holds it; its other fields were written",
                        extra={"phone": mask_phone(self._contacts[i].phone), "reason": reason},
                    )
                    result = replace(result, consent_held_back=reason)
            settled.append(result)
        return settled


def _without_opt_in(contact: Contact) -> Contact:
    return replace(contact, is_opted_out=None) if contact.is_opted_out is False else contact


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time as an aware datetime (UTC when it names no offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _key(holder: HeardContact | None) -> str | None:
    """What a write targets: the holder's UUID, 'id:<n>' when only its integer id is known, None for a create."""
    if holder is None:
        return None
    return holder.identity.uuid or f"id:{holder.identity.id}"


def _complete(contact: Contact, holder: HeardContact, restore: Contact | None = None) -> Contact:
    """An update of `holder` that leaves nothing the sender did not send to chance.

    Heymarket does not document whether an update keeps the fields it leaves out, nor whether a custom map sent
    replaces the stored one or merges into it. The search that found `holder` just read its values, so the update
    carries them for every field the sender left out, and the stored custom values merged with the new ones:
    the contact ends the same whichever way Heymarket behaves (and an opt-out is never reverted by an update that
    left `is_opted_out` out). Empty and null values are never sent. `restore` (the values a probe's look-up showed,
    or the snapshot of a contact whose last write had an unknown outcome) fills what the look-up shows empty: what a
    write that left it out may have cleared. Of `is_opted_out`, only an opt-out is filled (never an opt-in).
    """
    held = _held(contact.phone, holder.fields).to_dict()
    if restore is not None:
        kept = restore.to_dict()
        held = {**{k: v for k, v in kept.items() if k != "custom"}, **held}
        if kept.get("custom"):
            held["custom"] = {**kept["custom"], **(held.get("custom") or {})}
    values = contact.to_dict()
    for field_name in ("first", "last", "email", "avatar", "display_name", "assignee_id", "tags"):
        if field_name not in values and field_name in held:
            values[field_name] = held[field_name]
    if "is_opted_out" not in values and held.get("is_opted_out") is True:
        # An opt-out is said again (an update may clear what it leaves out); an opt-in never is: said over a STOP
        # texted since the look-up, it would undo it.
        values["is_opted_out"] = True
    merged = {**(held.get("custom") or {}), **(contact.custom or {})}
    if merged:
        values["custom"] = merged
    return Contact.from_dict(values)


def _with_held_custom(contact: Contact, holder: HeardContact) -> Contact:
    """`contact` with the custom values `holder` holds and the sender did not send (a custom map sent may replace the
    stored one)."""
    held = _held(contact.phone, holder.fields).custom or {}
    merged = {**held, **(contact.custom or {})}
    return replace(contact, custom=merged) if merged else contact


def _held(phone: str, fields: Mapping[str, Any]) -> Contact:
    """A Contact object from an answer as the contact values it shows: its non-empty writable fields (a display
    name only if it is one of its own, not the one Heymarket derives from first and last; an assignee only if
    assigned; tags only if given in a form that names them)."""
    values: dict[str, Any] = {"phone": phone}
    for field_name in ("first", "last", "email", "avatar"):
        value = fields.get(field_name)
        if isinstance(value, str) and value.strip():
            values[field_name] = value
    first, last = fields.get("first"), fields.get("last")
    derived = " ".join(part for part in (first, last) if isinstance(part, str) and part)
    name = fields.get("display_name")
    if isinstance(name, str) and name.strip() and name != derived:
        values["display_name"] = name
    if isinstance(fields.get("is_opted_out"), bool):
        values["is_opted_out"] = fields["is_opted_out"]
    assigned = fields.get("assigned_user_id")
    if isinstance(assigned, int) and not isinstance(assigned, bool) and assigned > 0:
        values["assignee_id"] = assigned
    if isinstance(fields.get("custom"), Mapping):
        custom = {str(k): _text(v) for k, v in fields["custom"].items() if v not in (None, "")}
        if custom:
            values["custom"] = custom
    tags = _tag_ids(fields.get("tags"))
    if tags:
        values["tags"] = tags
    return Contact.from_dict(values)


def _opted_out(answered: Mapping[str, Any], sent: Mapping[str, Any]) -> bool | None:
    """Whether a stored contact is opted out: as the answer's Contact object says, else as sent (None: unknown)."""
    for values in (answered, sent):
        if isinstance(values.get("is_opted_out"), bool):
            return bool(values["is_opted_out"])
    return None


@dataclass(frozen=True)
class _Cleared:
    """What an update of a known contact cleared: the values to write back, and what it shows of Heymarket's ways."""

    restore: dict[str, Any]
    omitted: str | None  # "keep" or "clear", when the answer shows it
    custom_map: str | None  # "merge" or "replace", when the answer shows it


def _cleared(sent: Contact, snapshot: Contact, shown: Contact) -> _Cleared:
    """Compare the answer to an update (`shown`) with the contact as last stored (`snapshot`), for what `sent` left
    out: a field the snapshot held that the answer no longer shows was cleared by the update.

    An opt-out the answer no longer shows is written back only where the answer shows the update cleared what it
    left out, or shows nothing that could tell (no other field left out held a value): where the other fields left
    out were kept, a cleared opt-out is a change made in Heymarket (the person texted START), not the update's doing.
    """
    values, before, after = sent.to_dict(), snapshot.to_dict(), shown.to_dict()
    restore: dict[str, Any] = {}
    kept = False
    for name in ("first", "last", "display_name", "email", "avatar", "assignee_id", "tags"):
        if name in values or name not in before:
            continue
        if name in after:
            kept = True
        else:
            restore[name] = before[name]
    custom_map: str | None = None
    held_custom, shown_custom = before.get("custom") or {}, after.get("custom") or {}
    others = [key for key in held_custom if key not in (sent.custom or {})]
    if others:
        lost = [key for key in others if key not in shown_custom]
        if sent.custom is not None:
            custom_map = "replace" if lost else "merge"
        elif lost:
            pass  # the custom map left out was cleared with the rest
        else:
            kept = True
        if lost:
            restore["custom"] = {**{key: held_custom[key] for key in lost}, **(sent.custom or {})}
    cleared_others = any(name != "custom" for name in restore) or ("custom" in restore and sent.custom is None)
    opt_out_gone = before.get("is_opted_out") is True and after.get("is_opted_out") is not True
    if "is_opted_out" not in values and opt_out_gone and (cleared_others or not kept):
        restore["is_opted_out"] = True
    omitted = "clear" if cleared_others else ("keep" if kept else None)
    return _Cleared(restore, omitted, custom_map)


def _undo(index: int, sent: Contact, snapshot: Contact, target: str, shown: Contact) -> _Write | None:
    """The write that puts back, on a contact found holding another phone, what a write meant for `sent.phone`
    changed: each field sent that the answer (`shown`) still holds as sent, as the snapshot (the contact as the bridge
    last stored it) held it; a field the answer shows otherwise was written since by someone else (another write of
    the same request), and is left alone. An opt-out is put back if the snapshot held one, never an opt-in (a STOP
    texted since the snapshot cannot be told apart); a field the snapshot did not hold cannot be cleared (an update
    never sends empty values), and stays as written."""
    before, values, after = snapshot.to_dict(), sent.to_dict(), shown.to_dict()
    restore: dict[str, Any] = {}
    for name, value in values.items():
        if name in ("phone", "contact_id", "lists") or (name != "custom" and after.get(name, value) != value):
            continue
        if name == "is_opted_out":
            if before.get(name) is True and value is not True:
                restore[name] = True
        elif name == "custom":
            kept = {key: before["custom"][key] for key in value if key in (before.get("custom") or {})}
            if kept:
                restore["custom"] = kept
        elif name in before and before[name] != value:
            restore[name] = before[name]
    if not restore:
        return None
    item = _without_phone(Contact.from_dict({**restore, "phone": sent.phone}).to_heymarket())
    return _Write(index, {**item, "contact_id": target}, existed=True, target=target, undo=True)


def _unrepairable_by_id(contact: Contact, snapshot: Contact | None) -> bool:
    """Whether a write of `contact` by the identifier the contact state bound to its phone could not be put back
    (`_undo`) were that contact found holding another phone (its person moved): an opt-out the snapshot does not
    hold (undoing it would write an opt-in onto a person, which the consent rules forbid, and would text them
    meanwhile), a field or custom value the snapshot does not hold (an update never sends empty values, so it could
    not be cleared), or no snapshot at all. Such a write goes through a look-up of its phone instead: the next
    owner of a recycled number never gets the previous owner's contact."""
    if snapshot is None:
        return True
    values, before = contact.to_dict(), snapshot.to_dict()
    if values.get("is_opted_out") is True and before.get("is_opted_out") is not True:
        return True
    for name, value in values.items():
        if name in ("phone", "contact_id", "lists", "is_opted_out") or value == before.get(name):
            continue
        if name == "custom":
            if not set(value) <= set(before.get("custom") or {}):
                return True
        elif name not in before:
            return True
    return False


def _without_phone(item: dict[str, Any]) -> dict[str, Any]:
    """An update by `contact_id` that leaves the contact's phone as Heymarket holds it."""
    return {name: value for name, value in item.items() if name not in ("phone", "contact_channels")}


def _v1_fields(contact: Contact) -> dict[str, Any]:
    """The v1 write of a known contact: the documented v1 fields the sender sent (updates keep what they leave out)."""
    body = {k: v for k, v in contact.to_dict().items() if k in V1_WRITE_FIELDS}
    body["phone"] = contact.phone
    return body


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _tag_ids(tags: Any) -> list[int]:
    """Tag ids of a Contact object's `tags`, if they are given in a form that names them (ids, or objects with
    `tag_id` or `id`); the read form is not documented, so anything else is left alone."""
    if not isinstance(tags, list):
        return []
    ids: list[int] = []
    for tag in tags:
        value = tag.get("tag_id", tag.get("id")) if isinstance(tag, Mapping) else tag
        if isinstance(value, bool) or not isinstance(value, int):
            return []
        ids.append(value)
    return ids


def _v1_body(contact: Contact, holder: HeardContact, restore: Contact | None = None) -> dict[str, Any]:
    """The v1 write: the documented v1 fields, completed from what Heymarket holds (see `_complete`; a v1 write
    always overwrites the names)."""
    body = {k: v for k, v in _complete(contact, holder, restore).to_dict().items() if k in V1_WRITE_FIELDS}
    body["phone"] = contact.phone
    return body


def _doubtful(failure: GatewayFailure) -> GatewayFailure:
    """The failure of a contact a write of which had an unknown outcome earlier: marked so (a copy, the failure may
    serve other contacts), whatever failed last."""
    if failure.outcome_unknown:
        return failure
    marked = copy.copy(failure)
    marked.outcome_unknown = True
    return marked


def _phone_of(contact: Mapping[str, Any]) -> str:
    phone = contact.get("phone")
    if not phone:
        for channel in contact.get("contact_channels") or []:
            if isinstance(channel, Mapping) and channel.get("channel_type") == "phone":
                phone = channel.get("channel_id")
                break
    return phone_digits(phone)


def _with_prior_consent(result: UpsertResult, prior: HeardContact | None) -> UpsertResult:
    """A stored result with whether the contact it updated was opted out before, as its look-up showed."""
    if not isinstance(result, Stored) or prior is None or not _same_contact(prior.identity, result.identity):
        return result
    before = prior.fields.get("is_opted_out")
    return replace(result, opted_out_before=before) if isinstance(before, bool) else result


def _same_contact(a: Identity, b: Identity) -> bool:
    """Whether two identities name one contact (by UUID, else by integer id)."""
    return (a.uuid is not None and a.uuid == b.uuid) or (a.id is not None and a.id == b.id)


def _chunks(items: list[T], size: int) -> list[list[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _fill(results: list[Any], value: Any) -> None:
    for i, result in enumerate(results):
        if result is None:
            results[i] = value


def _any_json_array_or_object(data: Any) -> Any:
    if not isinstance(data, list | dict):
        raise UnreadableAnswer("the answer is not JSON of the documented kind")
    return data
