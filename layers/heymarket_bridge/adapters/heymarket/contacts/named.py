"""Updates a sender names by `contact_id`: the named contact as read (`GET /v2/contact/{uuid}`), and whether the
phone sent is held by another contact.

Heymarket does not document what an update by `contact_id` does with a phone another contact holds (refuse it, give
the named contact a duplicate, or write onto the holder; shared/HEYMARKET_API.md): written, it could leave two
people on one number or one person's name on another's contact. The chunk runner refuses such an update instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from heymarket_bridge.adapters.heymarket.answers import HeardContact
from heymarket_bridge.adapters.heymarket.client import HeymarketClient
from heymarket_bridge.adapters.heymarket.contacts.reconcile import undo_write
from heymarket_bridge.adapters.heymarket.contacts.search import PhoneLookup, read_by_uuid
from heymarket_bridge.adapters.heymarket.contacts.writes import BulkWrite, shown_values
from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import Deadline, PermanentFailure
from heymarket_bridge.observability import emit_metric, logger, mask_phone
from heymarket_bridge.sync.model import KnownContact, NotDone

# What the runner does with a `contact_id` Heymarket holds no contact for: (index, the id, the refusal).
Refuse = Callable[[int, str, PermanentFailure], None]


class NamedContacts:
    """The contacts named by `contact_id` in one chunk (indexes into the call's contacts), as read."""

    def __init__(
        self,
        client: HeymarketClient,
        contacts: Sequence[Contact],
        known: Sequence[KnownContact | None],
        refuse: Refuse,
    ) -> None:
        self._client = client
        self._contacts = contacts  # the runner's list: read as it is at each call
        self._known = known
        self._refuse = refuse
        self.reads: dict[int, HeardContact] = {}  # the named contact as read before the update (to put it back)
        self.absent: set[int] = set()  # Heymarket holds no contact by the id (a 404): stored by their phone

    def read(self, i: int, deadline: Deadline) -> HeardContact | None:
        """The contact the sender named (`GET /v2/contact/{uuid}`), or None when Heymarket holds none by that id (a
        404, or the id refused): the contact is then stored by its phone, like an update Heymarket refuses."""
        contact_id = self._contacts[i].contact_id
        assert contact_id is not None  # a UUID (heymarket_bridge.domain.contact checks it)
        try:
            return read_by_uuid(self._client, contact_id, deadline)
        except (NotFound, Refused) as missing:
            self.absent.add(i)
            self._refuse(
                i, contact_id, PermanentFailure(f"Heymarket holds no contact by the contact_id sent: {missing}")
            )
            return None

    def read_all(self, indexes: list[int], deadline: Deadline) -> dict[int, HeardContact | None]:
        """The named contacts of these updates, as read (None: Heymarket holds none by that id), kept in `reads`."""
        named = {i: self.read(i, deadline) for i in indexes}
        self.reads.update((i, read) for i, read in named.items() if read is not None)
        return named

    def held_by_another(self, i: int, lookup: PhoneLookup, deadline: Deadline) -> bool:
        """Whether the phone of `contact_id` update `i` is held in Heymarket by a contact other than the one named. A
        contact_id Heymarket holds no contact for (a 404 when read) is stored by its phone instead: False."""
        if i in self.absent:
            return False
        others = [h for h in lookup.holders(self._contacts[i].phone) if not self._is_named(i, h, deadline)]
        return i not in self.absent and bool(others)

    def _is_named(self, i: int, holder: HeardContact, deadline: Deadline) -> bool:
        """Whether a contact a look-up found is the one update `i` names by `contact_id`: by UUID when the look-up
        gives it (undocumented), else by the integer id of the named contact as read (`GET /v2/contact/{uuid}`)."""
        if holder.identity.uuid is not None:
            return holder.identity.uuid == self._contacts[i].contact_id
        if i not in self.reads:
            read = self.read(i, deadline)
            if read is None:
                self.absent.add(i)
                return False
            self.reads[i] = read
        return holder.identity.id is not None and holder.identity.id == self.reads[i].identity.id

    def snapshot(self, i: int) -> Contact | None:
        """The snapshot of the contact the sender named by `contact_id`, when the contact state knows that contact."""
        known = self._known[i]
        if known is None or known.identity.uuid != self._contacts[i].contact_id:
            return None
        return known.snapshot

    def conflict(self, i: int, reason: str) -> NotDone:
        """The refusal of `contact_id` update `i` for a phone another contact holds: dead-lettered with the reason (for
        the operator to resolve in Heymarket's app or the sender), counted, never written onto the phone's holder."""
        emit_metric("ContactIdPhoneConflict")
        logger.warning(
            "A contact_id update was refused: its phone is another contact's in Heymarket",
            extra={"phone": mask_phone(self._contacts[i].phone), "reason": reason},
        )
        return NotDone(PermanentFailure(f"contact_id update refused: {reason}; nothing was written onto that contact"))

    def put_back(self, write: BulkWrite, heard: HeardContact) -> tuple[NotDone, list[BulkWrite]]:
        """The refusal of a `contact_id` update whose answer does not show the named contact holding the phone sent,
        and the write that puts the named contact back as it was read before the update (when the answer is that
        contact's). A contact the answer shows that is not the one named cannot be told from its own person's since:
        left as Heymarket holds it, and named in the log and the letter."""
        i = write.index
        other = onto_another(write, heard)
        refused = self.conflict(
            i,
            "Heymarket wrote the update onto another contact (the phone is held by another contact in Heymarket)"
            if other
            else "Heymarket's answer does not show the phone sent (the phone is held by another contact in Heymarket)",
        )
        read = self.reads.get(i)
        before = shown_values(read.phone, read.fields) if read is not None else self.snapshot(i)
        if other or before is None or write.target is None:
            return refused, []
        # The fields the update completed from the read hold what was read: only the sender's can need putting back.
        undo = undo_write(i, self._contacts[i], before, write.target, shown_values(heard.phone, heard.fields))
        return refused, [undo] if undo is not None else []


def elsewhere(write: BulkWrite, heard: HeardContact) -> bool:
    """Whether the answer to a `contact_id` update does not show the named contact holding the phone sent: another
    phone (undocumented: Heymarket may keep the number and answer 2xx), or another contact (one matched by phone, a
    UUID other than the one named)."""
    if write.expects_phone is not None and heard.phone != write.expects_phone:
        return True
    return onto_another(write, heard)


def onto_another(write: BulkWrite, heard: HeardContact) -> bool:
    """Whether the answer shows a contact other than the one the write named (by UUID)."""
    return heard.identity.uuid is not None and write.target is not None and heard.identity.uuid != write.target
