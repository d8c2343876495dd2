"""One chunk of an upsert: look the phones up (except known contacts), choose each contact's write (`writes.py`),
send them in one bulk request, reconcile the answer (`reconcile.py`), and go round again for what is left.

Refused or unconfirmed contacts are looked up again: a refusal stands once a fresh look-up shows nothing changed, or
after `MAX_RESOLVES` look-ups. A chunk Heymarket refuses (400, 413: the largest batch and body are not documented,
shared/HEYMARKET_API.md) is split in halves until the refused contact is alone. A write by an identifier is checked
against its answer: it must show the contact holding the phone sent; otherwise what the write changed is put back
(`reconcile.undo_write`) and the phone is looked up and written again. A `contact_id` update goes first; a contact of
the same chunk for the phone it moves its contact away from waits for it, then is looked up (`_moving_away`).
Collaborators: the client, what the execution environment learned (`Learned`), the call's opt-ins; never a gateway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from heymarket_bridge.adapters.heymarket.answers import BulkAnswer, HeardContact, read_bulk_answer, read_write_answer
from heymarket_bridge.adapters.heymarket.client import HeymarketClient, refusal_failure
from heymarket_bridge.adapters.heymarket.contacts.consent import OptIns
from heymarket_bridge.adapters.heymarket.contacts.named import NamedContacts, elsewhere
from heymarket_bridge.adapters.heymarket.contacts.reconcile import (
    creates_on_hold,
    match_answer,
    opted_out_of,
    repair,
    undo_write,
)
from heymarket_bridge.adapters.heymarket.contacts.search import PhoneLookup, search_phones
from heymarket_bridge.adapters.heymarket.contacts.writes import (
    V1_WRITE_FIELDS,
    BulkWrite,
    Choice,
    Learned,
    V1Update,
    WriteCase,
    choose_write,
    complete_update,
    needs_search,
    reads_named,
    shown_values,
    target_key,
    uuid_of,
)
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline, PermanentFailure, TransientFailure
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import Identity, KnownContact, NotDone, Stored, UpsertResult

# How many times one contact may be looked up again after Heymarket refused what was sent for it (a create of
# a phone someone created meanwhile, an update of a contact someone deleted meanwhile) before the refusal stands.
MAX_RESOLVES: Final = 2


class _Defer:
    """A contact that waits for a `contact_id` update of its chunk (`_moving_away`)."""


_DEFER: Final = _Defer()


def send_bulk(
    client: HeymarketClient, items: list[dict[str, Any]], deadline: Deadline
) -> tuple[BulkAnswer, str | None]:
    """`POST /v2/contacts` with these contact items: the answer read, and its X-Request-Id."""
    return client.exchange("POST", "/v2/contacts", {"contacts": items}, deadline, read_bulk_answer)


class UpsertChunk:
    """Stores one chunk of contacts (indexes into the call's `contacts`), settling `results` in place."""

    def __init__(
        self,
        client: HeymarketClient,
        learned: Learned,
        contacts: list[Contact],
        known: Sequence[KnownContact | None],
        chunk: list[int],
        results: list[UpsertResult | None],
        optins: OptIns,
    ) -> None:
        self._client = client
        self._learned = learned
        self._contacts = contacts  # as sent: opt-ins left out (`OptIns`); a re-consent's decided at each look-up
        self._optins = optins
        self._known = list(known)  # an entry is dropped when its contact turns out to hold another phone
        self._chunk = chunk
        self._results = results
        self._refused: dict[int, tuple[str | None, PermanentFailure]] = {}  # last target refused, and why
        self._probing = False  # a write of this chunk learns what updates do with what they leave out
        self._probed: dict[int, Contact] = {}  # the probed contact, as its look-up showed it
        # Contacts a write of which had an unknown outcome (or cleared fields not yet written back) in this chunk:
        # however they end, they end in doubt (`reconcile.doubtful`).
        self.doubt: set[int] = set()
        self._resolves: dict[int, int] = {}
        self._unbound: set[int] = set()  # the identifier written by holds another phone: stored by a look-up
        self.seen: dict[int, list[HeardContact]] = {}  # the contacts a look-up showed holding each contact's phone
        self.prior: dict[int, HeardContact] = {}  # the contact each write updates, as a look-up just showed it
        self._named = NamedContacts(client, self._contacts, self._known, self._refuse)  # `contact_id` updates

    def run(self, deadline: Deadline) -> None:
        while self._pending():
            self._client.retrying(lambda: self._round(deadline), deadline)

    def _pending(self) -> list[int]:
        return [i for i in self._chunk if self._results[i] is None]

    def _round(self, deadline: Deadline) -> None:
        pending = self._pending()
        movers = self._movers(pending)
        # A binding to a contact a contact_id update moves is that contact's: stored by a look-up once it moved.
        self._unbound.update(i for i in pending if self._moving_away(i, movers, self._known_uuid(i)))
        by_phone = [i for i in pending if self._needs_search(i)]
        named = self._named.read_all([i for i in pending if i not in by_phone and self._reads_named(i)], deadline)
        lookup = self._look_up(pending, by_phone, named, deadline)
        writes: list[BulkWrite] = []
        by_v1: list[V1Update] = []
        deferred = False
        for i in pending:
            if i in by_phone:
                choice = self._found_choice(i, lookup, movers, deadline)
            else:
                choice = self._identified_choice(i, named, lookup, deadline)
            deferred = self._take(i, choice, writes, by_v1) or deferred
        unconfirmed = self._write(writes, deadline) + self._write_v1(by_v1, deadline)
        if unconfirmed:
            raise TransientFailure(f"Heymarket's answer did not confirm {len(unconfirmed)} of the contacts sent")
        if deferred and not writes and not by_v1:
            raise TransientFailure("a contact_id update this batch waits on was not written")

    def _look_up(
        self, pending: list[int], by_phone: list[int], named: Mapping[int, HeardContact | None], deadline: Deadline
    ) -> PhoneLookup:
        """One search for the phones stored by a look-up, and for those of `contact_id` updates to a phone their
        contact does not hold (as read, or not read): held by another contact, the update is refused
        (`_held_by_another`)."""

        def moves_phone(i: int) -> bool:
            read = named.get(i)
            return i not in named or (read is not None and read.phone != self._contacts[i].phone)

        by_id = [
            i for i in pending if i not in by_phone and self._contacts[i].contact_id is not None and moves_phone(i)
        ]
        phones = list(dict.fromkeys(self._contacts[i].phone for i in (*by_phone, *by_id)))
        return search_phones(self._client, phones, deadline) if phones else PhoneLookup()

    def _take(self, i: int, choice: Choice | _Defer | None, writes: list[BulkWrite], by_v1: list[V1Update]) -> bool:
        """File contact `i`'s choice with the writes of the round; whether it waits for the next round."""
        if isinstance(choice, _Defer):
            return True  # looked up again in the next round, once the contact_id update has moved it
        if isinstance(choice, BulkWrite):
            writes.append(choice)
            if choice.sent is not None and choice.snapshot is not None:  # a probe (`writes.probe_update`)
                self._probing, self._probed[i] = True, choice.snapshot
        elif isinstance(choice, V1Update):
            by_v1.append(choice)
        elif isinstance(choice, PermanentFailure):
            self._results[i] = NotDone(choice)
        return False

    def _found_choice(
        self, i: int, lookup: PhoneLookup, movers: Mapping[str, str], deadline: Deadline
    ) -> Choice | _Defer | None:
        """The write of contact `i`, stored through the look-up of its phone (None: settled otherwise, `_DEFER`)."""
        contact = self._contacts[i]
        holder = lookup.first(contact.phone)
        if self._moving_away(i, movers, target_key(holder)):
            return _DEFER
        if contact.phone in lookup.refused:
            return lookup.refused[contact.phone]
        self.seen[i] = lookup.holders(contact.phone)
        if contact.contact_id is not None and self._held_by_another(i, lookup, deadline):
            return None  # never the phone's other holder: the sender named a contact Heymarket holds
        if holder is not None:
            self.prior[i] = holder
        else:
            self.prior.pop(i, None)
        if i in self._optins.trying:
            contact = self._contacts[i] = self._optins.decide(i, holder)
        known = self._known[i]
        probe_from = None
        if not (self._probing or i in self._probed or known is None or known.in_doubt):
            probe_from = known.snapshot
        case = WriteCase(
            i,
            contact,
            looked_up=True,
            holder=holder,
            known=known,
            uuid=uuid_of(holder, known) if holder is not None else None,
            restore=self._restorable(i),
            refused=self._refused.get(i),
            probe_from=probe_from,
        )
        return choose_write(case, self._learned)

    def _identified_choice(
        self, i: int, named: Mapping[int, HeardContact | None], lookup: PhoneLookup, deadline: Deadline
    ) -> Choice | None:
        """The write of contact `i` by an identifier: the sender's `contact_id`, else the contact state's binding."""
        contact = self._contacts[i]
        if contact.contact_id is None:
            known = self._known[i]
            if known is None or (known.identity.uuid is None and known.identity.id is None):
                return None
            return choose_write(WriteCase(i, contact, looked_up=False, known=known), self._learned)
        if self._held_by_another(i, lookup, deadline):
            return None
        snapshot = self._named.snapshot(i)
        if i not in named:  # an update of the contact the sender named, as sent
            return choose_write(WriteCase(i, contact, looked_up=False, named_snapshot=snapshot), self._learned)
        read = named[i]
        if read is None:
            return None  # Heymarket holds no such contact: stored by its phone in the next round
        self.prior[i] = read
        if i in self._optins.trying:
            contact = self._contacts[i] = self._optins.decide(i, read)
        case = WriteCase(i, contact, False, holder=read, restore=self._restorable(i), named_snapshot=snapshot)
        return choose_write(case, self._learned)

    def _held_by_another(self, i: int, lookup: PhoneLookup, deadline: Deadline) -> bool:
        """Whether `contact_id` update `i` is refused: its phone is held by another contact (`NamedContacts`)."""
        if not self._named.held_by_another(i, lookup, deadline):
            return False
        self._results[i] = self._named.conflict(i, "the phone is held by another contact in Heymarket")
        return True

    def _movers(self, pending: Sequence[int]) -> dict[str, str]:
        """The contacts a pending `contact_id` update of this chunk writes (UUID -> the phone it writes them for)."""
        return {contact_id: self._contacts[j].phone for j in pending if (contact_id := self._contacts[j].contact_id)}

    def _moving_away(self, i: int, movers: Mapping[str, str], target: str | None) -> bool:
        """Whether contact `i` (not itself a `contact_id` update) would be written onto a contact that a pending
        `contact_id` update of the same chunk moves to another phone. Sent in one request, the two writes could land
        in either order, and the old phone's next owner (an opt-out) onto the person who left it: `i` waits for the
        move, then is looked up (`_round`)."""
        contact = self._contacts[i]
        return contact.contact_id is None and target is not None and movers.get(target, contact.phone) != contact.phone

    def _known_uuid(self, i: int) -> str | None:
        """The UUID contact `i` would be written to without a look-up (the contact state's binding), if any."""
        known = self._known[i]
        return known.identity.uuid if known is not None and i not in self._unbound else None

    def _needs_search(self, i: int) -> bool:
        """Whether the contact is stored through a search of its phone, rather than by an identifier known: always
        once the identifier was refused (deleted or merged in Heymarket's app) or holds another phone now."""
        if i in self._refused or i in self._unbound:
            return True
        contact = self._contacts[i]
        if contact.contact_id is not None:
            return False
        return needs_search(contact, self._known[i], self._learned, reconsent=i in self._optins.trying)

    def _reads_named(self, i: int) -> bool:
        return reads_named(self._contacts[i], self._learned, reconsent=i in self._optins.trying)

    def _restorable(self, i: int) -> Contact | None:
        """The values to restore fields from that a fresh look-up shows empty: the look-up of this chunk's probe (its
        answer may have been lost after it landed), or the snapshot when a write's outcome was unknown (it may have
        cleared what it left out, or a write back of what an update cleared may have failed)."""
        if i in self._probed:
            return self._probed[i]
        known = self._known[i]
        if known is None or not known.in_doubt or self._learned.omitted == "keep":
            return None  # once updates are known to keep what they leave out, none of ours cleared anything
        return known.snapshot

    def _write(self, writes: list[BulkWrite], deadline: Deadline) -> list[int]:
        """Send the writes in one request (halves on a refusal); settle each; return the unconfirmed ones."""
        if not writes:
            return []
        try:
            answer, request_id = send_bulk(self._client, [w.item for w in writes], deadline)
        except TransientFailure as failure:
            if failure.outcome_unknown:
                self.doubt.update(w.index for w in writes)
                # Creates whose request may still be taking effect are not sent again in this invocation (see
                # `reconcile.creates_on_hold`): the message is redelivered, and looked up again first.
                for index, held in creates_on_hold(writes, failure).items():
                    self._results[index] = held
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
        stored, failed, untied = match_answer(writes, answer)
        unconfirmed: list[int] = []
        repairs: list[BulkWrite] = []
        for write in writes:
            follow = self._settle(write, stored, failed, untied, request_id)
            if follow is None:
                unconfirmed.append(write.index)
            else:
                repairs.extend(follow)
        return unconfirmed + self._write(repairs, deadline)

    def _settle(
        self,
        write: BulkWrite,
        stored: Mapping[int, HeardContact],
        failed: Mapping[int, str],
        untied: list[str],
        request_id: str | None,
    ) -> list[BulkWrite] | None:
        """Settle one write by the answer (`reconcile.match_answer`); the writes that must follow, or None when the
        answer did not confirm it."""
        if write.undo:
            if write.index not in stored:
                logger.warning(
                    "Could not put back a contact a write meant for another phone changed",
                    extra={"error": failed.get(write.index, "not confirmed")},
                )
        elif write.index in failed:
            if not self._opt_in_refused(write.index, write.item):
                self._refuse(write.index, write.target, PermanentFailure(failed[write.index], request_id=request_id))
        elif write.index in stored:
            return self._stored(write, stored[write.index], request_id)
        elif untied:
            # A failure Heymarket does not tie to a contact: an unconfirmed contact may be the one it means.
            self._refuse(write.index, write.target, PermanentFailure(untied[0], request_id=request_id))
        else:
            return None
        return []

    def _stored(self, write: BulkWrite, heard: HeardContact, request_id: str | None) -> list[BulkWrite]:
        """Settle a write the answer shows stored as `heard`; the writes that must follow (put back, write back)."""
        if self._contacts[write.index].contact_id is not None and elsewhere(write, heard):
            self._results[write.index], undo = self._named.put_back(write, heard)
            return undo
        if write.expects_phone is not None and heard.phone != write.expects_phone:
            return self._moved(write, heard)
        follow = self._checked(write, heard) if write.snapshot is not None else None
        if follow is not None:
            return [follow]
        held = shown_values(self._contacts[write.index].phone, heard.fields)
        opted_out = opted_out_of(heard.fields, write.item)
        self._results[write.index] = Stored(
            heard.identity, request_id, existed=write.existed, opted_out=opted_out, held=held
        )
        return []

    def _checked(self, write: BulkWrite, heard: HeardContact) -> BulkWrite | None:
        """The write that puts back what an update of a known contact cleared (`reconcile.repair`), or None."""
        contact = write.sent or self._contacts[write.index]
        follow, cleared = repair(write, contact, heard, self._learned)
        if follow is None or cleared is None:
            return None
        self.doubt.add(write.index)  # until the write back is confirmed
        emit_metric("ClearedFieldsRestored")
        logger.warning(
            "Heymarket's answer shows fields the update left out cleared; writing them back from the last answer",
            extra={"phone": mask_phone(contact.phone), "fields": sorted(cleared.restore)},
        )
        return follow

    def _moved(self, write: BulkWrite, heard: HeardContact) -> list[BulkWrite]:
        """A write by an identifier whose answer shows its contact holding another phone (`heard.phone`) than the one
        written for: the person of that contact moved (a number corrected in Heymarket's app, a `contact_id`
        update). The identifier is dropped and the phone looked up and written again in the next round; a contact
        the contact state bound (not one the sender named) gets back what this write changed (`undo_write`)."""
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
        undo = undo_write(
            i, write.sent or contact, write.snapshot, write.target, shown_values(heard.phone, heard.fields)
        )
        return [replace(undo, known_id=write.known_id)] if undo is not None else []

    def _write_v1(self, updates: list[V1Update], deadline: Deadline) -> list[int]:
        """Existing contacts known by their integer id only: `PUT /v1/contact/{id}`, then v2 for the rest."""
        follow = [write for update in updates if (write := self._put_v1(update, deadline)) is not None]
        return self._write(follow, deadline)

    def _put_v1(self, update: V1Update, deadline: Deadline) -> BulkWrite | None:
        """One `PUT /v1/contact/{id}?overwrite=false`; the v2 update by UUID of the fields v1 does not take, if any."""
        i, contact_id, holder = update.index, update.contact_id, update.holder
        contact = self._contacts[i]
        path = f"/v1/contact/{contact_id}?overwrite=false"
        try:
            identity = self._client.read("PUT", path, update.body, deadline, read_write_answer, resource=True)
        except TransientFailure as failure:
            if failure.outcome_unknown:
                self.doubt.add(i)
            raise
        except NotFound as missing:
            if holder is not None:
                # The look-up found this contact a moment ago: the endpoint, not the contact, is missing.
                raise refusal_failure(missing, "PUT /v1/contact/{id}") from missing
            # Known from an earlier answer: deleted or merged in Heymarket's app since; stored by its phone.
            self._refuse(i, f"id:{contact_id}", PermanentFailure("the contact Heymarket held for the phone is gone"))
            return None
        except Refused as refused:
            if not self._opt_in_refused(i, update.body):
                self._refuse(i, f"id:{contact_id}", PermanentFailure(refused.reason, request_id=refused.request_id))
            return None
        known = self._known[i]
        completed = complete_update(contact, holder, self._restorable(i)) if holder is not None else contact
        # Lists are not a contact field (written with the lists endpoints once the contact is stored).
        rest = sorted(k for k in contact.to_dict() if k not in (*V1_WRITE_FIELDS, "contact_id", "lists"))
        if not rest:
            self._results[i] = Stored(
                Identity(contact_id, identity.uuid), existed=True, opted_out=completed.is_opted_out
            )
            return None
        if identity.uuid is None:
            self._results[i] = NotDone(
                PermanentFailure(
                    f"Heymarket gave no UUID for the contact, and its v1 update does not take {', '.join(rest)}"
                )
            )
            return None
        # Completed like any update (`complete_update`): a v2 update that replaced the whole contact would otherwise
        # clear what the v1 write just kept. Without a look-up, its answer is checked against the snapshot.
        item = replace(completed, contact_id=identity.uuid).to_heymarket()
        snapshot = known.snapshot if holder is None and known is not None else None
        return BulkWrite(i, item, existed=True, target=identity.uuid, snapshot=snapshot)

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
