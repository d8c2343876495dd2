"""The choice of write per contact (adapters/heymarket/contacts/writes.py), and what an answer says was cleared
(contacts/reconcile.py): pure functions, one table-driven case per behaviour Heymarket does not document.

Each behaviour is one the sandbox plays as a setting (tools/heymarket_sandbox/config.py: duplicate_create,
identifiers, update_omitted, update_custom, update_phone_held, opt_in_over_stop) or the contact state's knowledge of
a contact; shared/HEYMARKET_API.md lists them. No request is made: each case gives what a look-up (or the contact
state) showed and what the execution environment learned, and checks the write chosen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from heymarket_bridge.adapters.heymarket.answers import HeardContact
from heymarket_bridge.adapters.heymarket.contacts.consent import (
    HELD_IGNORED,
    HELD_NO_TIME,
    HELD_NOT_NEWER,
    HELD_OPTED_OUT,
    OptIns,
)
from heymarket_bridge.adapters.heymarket.contacts.reconcile import what_cleared
from heymarket_bridge.adapters.heymarket.contacts.writes import (
    BulkWrite,
    Learned,
    V1Update,
    WriteCase,
    choose_write,
    needs_search,
    uuid_of,
)
from heymarket_bridge.domain.contact import Contact
from heymarket_bridge.domain.failures import PermanentFailure
from heymarket_bridge.sync.model import Identity, KnownContact, Stored

PHONE = "14155550101"
UUID_A = "5f0c1e8e-4a8f-4c43-9d0e-2a3b4c5d6e7f"
UUID_B = "0b9e2f1a-6c7d-4e8f-9a0b-1c2d3e4f5a6b"
REFUSED = PermanentFailure("Heymarket refused the contact")


def heard(uuid: str | None = UUID_A, contact_id: int = 98765, **fields: Any) -> HeardContact:
    """A contact as a look-up shows it (a Contact object), holding PHONE."""
    return HeardContact(Identity(contact_id, uuid), PHONE, {"id": contact_id, "phone": PHONE, **fields})


def sent(**fields: Any) -> Contact:
    return Contact(phone=PHONE, **fields)


UNKNOWN = Learned()  # nothing seen yet: the default of every execution environment
KEEPS = Learned(omitted="keep", custom_map="merge")
KEEPS_REPLACES_CUSTOM = Learned(omitted="keep", custom_map="replace")


@dataclass(frozen=True)
class Row:
    behaviour: str
    case: WriteCase
    learned: Learned
    check: Callable[[object], bool]


def is_write(target: str | None, **item: Any) -> Callable[[object], bool]:
    """A bulk item for `target` (None: a create) holding these values; `absent=` the names it must leave out."""
    absent: tuple[str, ...] = item.pop("absent", ())

    def check(choice: object) -> bool:
        return (
            isinstance(choice, BulkWrite)
            and choice.target == target
            and choice.item.get("contact_id") == target
            and all(choice.item.get(name) == value for name, value in item.items())
            and not any(name in choice.item for name in absent)
        )

    return check


def is_v1(contact_id: int, **body: Any) -> Callable[[object], bool]:
    absent: tuple[str, ...] = body.pop("absent", ())

    def check(choice: object) -> bool:
        return (
            isinstance(choice, V1Update)
            and choice.contact_id == contact_id
            and all(choice.body.get(name) == value for name, value in body.items())
            and not any(name in choice.body for name in absent)
        )

    return check


def found(contact: Contact, holder: HeardContact | None, **case: Any) -> WriteCase:
    uuid = case.pop("uuid", holder.identity.uuid if holder is not None else None)
    return WriteCase(0, contact, looked_up=True, holder=holder, uuid=uuid, **case)


SNAPSHOT = Contact(phone=PHONE, first="Ann", avatar="https://example.com/ann.png")

ROWS = [
    # duplicate_create: what a create does for a phone Heymarket holds is not documented, so none is ever sent for one.
    Row("no contact holds the phone: a create", found(sent(first="Ann"), None), UNKNOWN, is_write(None, first="Ann")),
    Row(
        "a contact holds the phone: an update by its UUID, never a create",
        found(sent(first="Ann"), heard()),
        UNKNOWN,
        is_write(UUID_A, first="Ann"),
    ),
    # update_omitted: whether an update keeps the fields it leaves out.
    Row(
        "update_omitted not yet seen: the update carries the held values of the fields the sender left out",
        found(sent(last="Lee"), heard(first="Ann", email="ann@example.com")),
        UNKNOWN,
        is_write(UUID_A, first="Ann", last="Lee", email="ann@example.com"),
    ),
    Row(
        "update_omitted keep (seen): only what the sender sent",
        found(sent(last="Lee"), heard(first="Ann", email="ann@example.com")),
        KEEPS,
        is_write(UUID_A, last="Lee", absent=("first", "email")),
    ),
    Row(
        "update_omitted not yet seen: one update per chunk leaves a field out to learn it (a probe)",
        found(sent(last="Lee"), heard(first="Ann", avatar="https://example.com/ann.png"), probe_from=SNAPSHOT),
        UNKNOWN,
        lambda choice: (
            is_write(UUID_A, first="Ann", last="Lee", absent=("avatar",))(choice)
            and isinstance(choice, BulkWrite)
            and choice.sent is not None
            and choice.snapshot is not None
        ),
    ),
    Row(
        "no probe where the snapshot does not hold what would be left out (it could not be put back)",
        found(sent(last="Lee"), heard(first="Anna", avatar="https://example.com/new.png"), probe_from=SNAPSHOT),
        UNKNOWN,
        lambda choice: (
            is_write(UUID_A, first="Anna", last="Lee", avatar="https://example.com/new.png")(choice)
            and isinstance(choice, BulkWrite)
            and choice.sent is None
        ),
    ),
    # update_custom: whether a custom map sent replaces the stored one or merges into it.
    Row(
        "update_custom not known to merge: the custom map carries the held values the sender did not send",
        found(sent(custom={"plan": "gold"}), heard(custom={"city": "Oslo"})),
        KEEPS_REPLACES_CUSTOM,
        is_write(UUID_A, custom={"city": "Oslo", "plan": "gold"}),
    ),
    Row(
        "update_custom merge (seen): the custom map as sent",
        found(sent(custom={"plan": "gold"}), heard(custom={"city": "Oslo"})),
        KEEPS,
        is_write(UUID_A, custom={"plan": "gold"}),
    ),
    # identifiers: whether Contact objects carry the UUID v2 updates need.
    Row(
        "identifiers integer: the contact found is written with PUT /v1/contact/{id}, completed",
        found(sent(last="Lee"), heard(uuid=None, first="Ann")),
        UNKNOWN,
        is_v1(98765, phone=PHONE, first="Ann", last="Lee"),
    ),
    Row(
        "identifiers integer, the UUID learned from an earlier v1 answer: a v2 update by that UUID",
        found(sent(last="Lee"), heard(uuid=None, first="Ann"), uuid=UUID_B),
        UNKNOWN,
        is_write(UUID_B, first="Ann", last="Lee"),
    ),
    # Opt-out wins (opt_in_over_stop): an update completes an opt-out, never an opt-in.
    Row(
        "opted out in Heymarket: the update says the opt-out again (an update may clear what it leaves out)",
        found(sent(last="Lee"), heard(is_opted_out=True)),
        UNKNOWN,
        is_write(UUID_A, is_opted_out=True),
    ),
    Row(
        "opted in in Heymarket: the opt-in is never said (over a STOP texted since, it would undo it)",
        found(sent(last="Lee"), heard(is_opted_out=False)),
        UNKNOWN,
        is_write(UUID_A, last="Lee", absent=("is_opted_out",)),
    ),
    # A contact Heymarket refused (deleted or merged in its app, a create someone else made meanwhile).
    Row(
        "a refusal stands once a fresh look-up shows the same target",
        found(sent(first="Ann"), heard(), refused=(UUID_A, REFUSED)),
        UNKNOWN,
        lambda choice: choice is REFUSED,
    ),
    Row(
        "a refused create stands once a fresh look-up still shows no contact",
        found(sent(first="Ann"), None, refused=(None, REFUSED)),
        UNKNOWN,
        lambda choice: choice is REFUSED,
    ),
    Row(
        "a refusal is sent again as an update once the look-up shows another target (contact_id gone)",
        found(sent(first="Ann"), heard(), refused=(UUID_B, REFUSED)),
        UNKNOWN,
        is_write(UUID_A, first="Ann"),
    ),
    # Written by an identifier, with no look-up: its answer must show the phone (update_phone_held).
    Row(
        "known by UUID: an update without the phone, checked against the snapshot and the phone",
        WriteCase(0, sent(last="Lee"), looked_up=False, known=KnownContact(Identity(98765, UUID_A), SNAPSHOT)),
        KEEPS,
        lambda choice: (
            is_write(UUID_A, last="Lee", absent=("phone", "contact_channels"))(choice)
            and isinstance(choice, BulkWrite)
            and (choice.expects_phone, choice.snapshot, choice.known_id) == (PHONE, SNAPSHOT, 98765)
        ),
    ),
    Row(
        "known by integer id only: PUT /v1/contact/{id} of the fields sent",
        WriteCase(0, sent(last="Lee"), looked_up=False, known=KnownContact(Identity(98765, None), SNAPSHOT)),
        KEEPS,
        is_v1(98765, phone=PHONE, last="Lee", absent=("first",)),
    ),
    Row(
        "a contact_id update of the contact as read: completed from the read, its phone checked in the answer",
        WriteCase(0, sent(contact_id=UUID_B, last="Lee"), looked_up=False, holder=heard(uuid=UUID_B, first="Ann")),
        UNKNOWN,
        lambda choice: (
            is_write(UUID_B, first="Ann", last="Lee")(choice)
            and isinstance(choice, BulkWrite)
            and choice.expects_phone == PHONE
        ),
    ),
    Row(
        "a contact_id update not read (updates known to keep what they leave out): as sent",
        WriteCase(0, sent(contact_id=UUID_B, last="Lee"), looked_up=False, named_snapshot=SNAPSHOT),
        KEEPS,
        lambda choice: (
            is_write(UUID_B, last="Lee", absent=("first",))(choice)
            and isinstance(choice, BulkWrite)
            and choice.snapshot == SNAPSHOT
        ),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.behaviour for row in ROWS])
def test_the_write_chosen_for_each_undocumented_behaviour(row: Row) -> None:
    choice = choose_write(row.case, row.learned)

    assert row.check(choice), choice


@pytest.mark.parametrize(
    ("known", "learned", "reconsent", "searched"),
    [
        (None, KEEPS, False, True),  # never stored: only a look-up can tell create from update
        (KnownContact(Identity(1, UUID_A), SNAPSHOT), UNKNOWN, False, True),  # update_omitted not yet seen
        (KnownContact(Identity(1, UUID_A), SNAPSHOT), KEEPS, False, False),  # seen to keep: written by its UUID
        (KnownContact(Identity(1, UUID_A), SNAPSHOT, in_doubt=True), KEEPS, False, True),  # last write in doubt
        (KnownContact(Identity(1, UUID_A), None), KEEPS, False, True),  # no snapshot: could not be put back
        (KnownContact(Identity(1, UUID_A), SNAPSHOT), KEEPS, True, True),  # a re-consent: only over a fresh look-up
        (KnownContact(Identity(1, None), SNAPSHOT), KEEPS, False, True),  # integer id only: v1 answers no phone
    ],
)
def test_whether_a_known_contact_is_looked_up_first(
    known: KnownContact | None, learned: Learned, reconsent: bool, searched: bool
) -> None:
    assert needs_search(sent(first="Ann"), known, learned, reconsent=reconsent) is searched


def test_a_uuid_is_taken_from_the_contact_state_only_for_the_same_integer_id() -> None:
    known = KnownContact(Identity(98765, UUID_B))

    assert uuid_of(heard(uuid=None), known) == UUID_B
    assert uuid_of(heard(uuid=None, contact_id=11), known) is None
    assert uuid_of(heard(), known) == UUID_A


ANN = Contact(phone=PHONE, first="Ann")
ANN_OSLO = Contact(phone=PHONE, first="Ann", custom={"city": "Oslo"})
ANN_STOPPED = Contact(phone=PHONE, first="Ann", is_opted_out=True)


@pytest.mark.parametrize(
    ("behaviour", "snapshot", "update", "shown", "restore", "omitted", "custom_map"),
    [
        ("update_omitted clear", ANN, sent(last="Lee"), sent(last="Lee"), {"first": "Ann"}, "clear", None),
        ("update_omitted keep", ANN, sent(last="Lee"), sent(first="Ann", last="Lee"), {}, "keep", None),
        (
            "update_custom replace",
            ANN_OSLO,
            sent(custom={"plan": "gold"}),
            sent(first="Ann", custom={"plan": "gold"}),
            {"custom": {"city": "Oslo", "plan": "gold"}},
            "keep",
            "replace",
        ),
        (
            "update_custom merge",
            ANN_OSLO,
            sent(custom={"plan": "gold"}),
            sent(first="Ann", custom={"city": "Oslo", "plan": "gold"}),
            {},
            "keep",
            "merge",
        ),
        # An opt-out gone where the other fields left out were kept: the person texted START; it stands.
        ("opt-out gone, the rest kept", ANN_STOPPED, sent(last="Lee"), sent(first="Ann", last="Lee"), {}, "keep", None),
        (
            "opt-out gone with the rest: the update cleared it, written back",
            ANN_STOPPED,
            sent(last="Lee"),
            sent(last="Lee"),
            {"first": "Ann", "is_opted_out": True},
            "clear",
            None,
        ),
        (
            "opt-out gone, nothing else left out to tell: written back",
            Contact(phone=PHONE, is_opted_out=True),
            sent(last="Lee"),
            sent(last="Lee"),
            {"is_opted_out": True},
            None,
            None,
        ),
    ],
)
def test_what_an_update_cleared_and_what_it_shows_of_heymarkets_ways(
    behaviour: str,
    snapshot: Contact,
    update: Contact,
    shown: Contact,
    restore: dict[str, Any],
    omitted: str | None,
    custom_map: str | None,
) -> None:
    cleared = what_cleared(update, snapshot, shown)

    assert (cleared.restore, cleared.omitted, cleared.custom_map) == (restore, omitted, custom_map)


@pytest.mark.parametrize(
    ("held", "written", "reason"),
    [
        ({"is_opted_out": False}, False, None),  # nothing to opt back in: left out, the contact stays opted in
        ({"is_opted_out": True, "updated": "2026-11-23T08:00:00Z"}, True, None),  # consent newer: written
        ({"is_opted_out": True, "updated": "2026-11-23T09:30:00Z"}, False, HELD_NOT_NEWER),
        ({"is_opted_out": True}, False, HELD_NO_TIME),  # the Contact object does not say when it last changed
        ({}, False, HELD_OPTED_OUT),  # the answer does not say whether it is opted out: held as opted out
    ],
)
def test_a_re_consent_opt_in_is_written_only_over_an_opt_out_older_than_the_consent(
    held: dict[str, Any], written: bool, reason: str | None
) -> None:
    optins = OptIns([sent(is_opted_out=False)], ["2026-11-23T09:00:00Z"])

    contact = optins.decide(0, heard(**held))
    # Heymarket applied what was written: opted in where the opt-in was written, or where it held the contact so.
    opted_out = not written and held.get("is_opted_out") is not False
    [result] = optins.settled([Stored(Identity(98765, UUID_A), existed=True, opted_out=opted_out)])

    assert (contact.is_opted_out is False) is written
    assert isinstance(result, Stored)
    assert result.consent_held_back == reason


def test_an_opt_in_heymarket_ignored_is_reported_held_back() -> None:
    optins = OptIns([sent(is_opted_out=False)], ["2026-11-23T09:00:00Z"])
    optins.decide(0, heard(is_opted_out=True, updated="2026-11-23T08:00:00Z"))

    [result] = optins.settled([Stored(Identity(98765, UUID_A), existed=True, opted_out=True)])

    assert isinstance(result, Stored)
    assert result.consent_held_back == HELD_IGNORED
