"""What the stack learns of Heymarket's undocumented behaviours (`learning.StackLearning`): learned once per stack,
from a probe that works when senders send every field, and unlearned for the whole stack on a contradiction.

The sync use case over the V2 gateway and the wire-level Heymarket double, with a contact state and the stack's
learned facts shared between harnesses, each playing one execution environment of the stack."""

from __future__ import annotations

import pytest

from tests.doubles.heymarket_double import HeymarketDouble
from tests.doubles.state_double import InMemoryContactState, InMemoryLearnedBehaviour
from tests.unit.sync.harness import ANN, BOB, Harness, upsert
from tests.unit.sync.state.guarding import CONTACTS, SEARCH, at, bulk_items, held

EVERY_FIELD = {"first": "Ann", "email": "ann@example.com"}


def stack(omitted: str = "keep") -> tuple[Harness, Harness, InMemoryLearnedBehaviour]:
    """Two execution environments of one stack: one contact state, one Heymarket, one record of what was learned."""
    heymarket, state, behaviour = (
        HeymarketDouble(update_omitted=omitted),
        InMemoryContactState(),
        InMemoryLearnedBehaviour(),
    )
    return (
        Harness(heymarket=heymarket, state=state, behaviour=behaviour),
        Harness(heymarket=heymarket, state=state, behaviour=behaviour),
        behaviour,
    )


def created(h: Harness, *phones: str) -> None:
    """Contacts the bridge created, from a sender that sends every field."""
    for phone in phones:
        h.process(upsert(phone, received_at=at(1), first="Ann", last="Lee", email=f"{phone}@example.com"))
    h.heymarket.log.clear()


@pytest.mark.parametrize("omitted", ["keep", "clear"])
def test_a_sender_that_sends_every_field_still_teaches_the_first_update_what_heymarket_does(omitted: str) -> None:
    # Given contacts the bridge created, and a sender (a CRM workflow) that sends every field every time
    a, _, behaviour = stack(omitted)
    created(a, ANN, BOB)

    # When the first change arrives, only its last name changed
    a.process(upsert(ANN, received_at=at(2), first="Ann", last="Ray", email=f"{ANN}@example.com"))
    first = a.heymarket.routes()
    a.heymarket.log.clear()
    a.process(upsert(BOB, received_at=at(2), first="Ann", last="Ray", email=f"{BOB}@example.com"))

    # Then it was looked up and left a field it sent unchanged out (the probe: never the opt-out), and what the answer
    # showed is the stack's: where updates keep what they leave out, the next change is one request
    probe = bulk_items(a)[0] if omitted == "clear" else None
    assert first == ([SEARCH, CONTACTS] if omitted == "keep" else [SEARCH, CONTACTS, CONTACTS])
    assert behaviour.facts["omitted"].value == omitted
    assert "email" in behaviour.facts["omitted"].evidence
    assert ANN not in behaviour.facts["omitted"].evidence
    assert a.heymarket.routes() == ([CONTACTS] if omitted == "keep" else [SEARCH, CONTACTS])
    assert probe is None or "email" in probe  # (clear: the update of BOB is completed, nothing left out)
    for phone in (ANN, BOB):
        assert held(a, phone) == [{"phone": phone, "first": "Ann", "last": "Ray", "email": f"{phone}@example.com"}]


def test_a_second_execution_environment_starts_from_what_the_first_learned() -> None:
    a, b, _ = stack()
    created(a, ANN, BOB)
    a.process(upsert(ANN, received_at=at(2), last="Ray"))  # the first execution environment probes and learns
    a.heymarket.log.clear()

    b.process(upsert(BOB, received_at=at(2), last="Ray"))

    # Its first write of a known contact is one request: no look-up, no probe of its own
    assert b.heymarket.routes() == [CONTACTS]
    assert held(b, BOB) == [{"phone": BOB, "first": "Ann", "last": "Ray", "email": f"{BOB}@example.com"}]


def test_an_answer_that_contradicts_what_the_stack_learned_unlearns_it_for_every_execution_environment() -> None:
    # Given a stack that learned Heymarket's updates keep what they leave out, and a Heymarket that now clears it
    a, b, behaviour = stack()
    created(a, ANN, BOB, "15105552222")
    a.process(upsert(ANN, received_at=at(2), last="Ray"))
    b.process(upsert(ANN, received_at=at(3), last="Roy"))  # b has read the stack's facts
    a.heymarket.update_omitted = "clear"
    a.heymarket.log.clear()

    # When one execution environment writes a known contact without a look-up, and the answer shows the fields it
    # left out gone
    a.process(upsert(BOB, received_at=at(4), last="Ray"))
    contradicted = a.heymarket.routes()
    a.heymarket.log.clear()
    b.clock.now += 301  # the other execution environment reads the stack's facts again (at most every 5 minutes)
    b.process(upsert("15105552222", received_at=at(4), last="Ray"))

    # Then what it cleared is written back at once, the fact is unlearned for the stack with the evidence, and the
    # other execution environment looks its known contacts up again
    assert contradicted == [CONTACTS, CONTACTS]
    assert held(a, BOB) == [{"phone": BOB, "first": "Ann", "last": "Ray", "email": f"{BOB}@example.com"}]
    assert "omitted" not in behaviour.facts or behaviour.facts["omitted"].value == "clear"
    assert behaviour.contradicted["omitted"][0] == "keep"
    assert "email" in behaviour.contradicted["omitted"][1]
    assert b.heymarket.routes()[0] == SEARCH
    assert held(b, "15105552222")[0]["email"] == "15105552222@example.com"


def test_a_stack_whose_table_cannot_be_read_learns_in_each_execution_environment_and_loses_nothing() -> None:
    a, _, behaviour = stack()
    behaviour.unavailable = True
    created(a, ANN, BOB)

    a.process(upsert(ANN, received_at=at(2), last="Ray"))
    a.heymarket.log.clear()
    a.process(upsert(BOB, received_at=at(2), last="Ray"))

    assert a.heymarket.routes() == [CONTACTS]  # learned in this execution environment all the same
    assert behaviour.facts == {}


def test_a_sender_that_sends_every_custom_value_teaches_whether_a_custom_map_sent_replaces_and_loses_none() -> None:
    # Given a contact created with two custom values, by a sender that sends both every time (the double replaces the
    # custom map an update sends)
    a, _, behaviour = stack()
    a.process(upsert(ANN, received_at=at(1), first="Ann", custom={"7": "x", "8": "y"}))
    a.heymarket.log.clear()

    # When one of them changes
    a.process(upsert(ANN, received_at=at(2), first="Ann", custom={"7": "x", "8": "z"}))

    # Then the probe sent the changed value alone, learned that the map sent replaces, and wrote the other back
    assert bulk_items(a)[0]["custom"] == {"8": "z"}
    assert behaviour.facts["custom_map"].value == "replace"
    assert held(a) == [{"phone": ANN, "first": "Ann", "custom": {"7": "x", "8": "z"}}]


def every_field(phone: str, minute: int) -> dict[str, object]:
    return {"received_at": at(minute), "first": "Ann", "last": f"Lee{minute}", "email": f"{phone}@example.com"}


def test_a_stop_texted_in_heymarket_survives_updates_that_begin_to_clear_once_the_fact_is_due_again() -> None:
    # Given (the reviewer's scenario) three posts of every field for one phone: the stack learned that updates keep
    # what they leave out, and the sender leaves out nothing that could show otherwise
    a, _, behaviour = stack()
    for minute in (1, 2, 3):
        a.process(upsert(ANN, **every_field(ANN, minute)))
    assert behaviour.facts["omitted"].value == "keep"
    # When Heymarket begins clearing what updates leave out, the person texts STOP, and the next post arrives once
    # the fact is due to be verified again
    a.heymarket.update_omitted = "clear"
    a.heymarket.holding(ANN)[0].fields["is_opted_out"] = True
    a.clock.now += 601
    a.heymarket.log.clear()
    a.process(upsert(ANN, **every_field(ANN, 4)))

    # Then the write was looked up first: the STOP stands, and the probe unlearned the fact for the stack
    assert a.heymarket.routes()[0] == SEARCH
    assert a.heymarket.holding(ANN)[0].fields["is_opted_out"] is True
    assert behaviour.contradicted["omitted"][0] == "keep"


def test_one_left_out_field_gone_from_an_answer_is_a_contradiction() -> None:
    # Given a stack that learned that updates keep what they leave out, and a Heymarket that now clears it
    a, _, behaviour = stack()
    created(a, ANN, BOB)
    a.process(upsert(ANN, received_at=at(2), last="Ray"))
    a.heymarket.update_omitted = "clear"
    a.heymarket.log.clear()

    # When a write without a look-up leaves out one field the snapshot held (the sender sends the others)
    a.process(upsert(BOB, received_at=at(3), first="Ann", last="Ray"))

    # Then that one field gone unlearns the fact, and it is written back
    assert a.heymarket.routes() == [CONTACTS, CONTACTS]
    assert behaviour.contradicted["omitted"][0] == "keep"
    assert held(a, BOB)[0]["email"] == f"{BOB}@example.com"


def test_an_opt_out_the_snapshot_held_gone_from_an_answer_is_written_back_and_unlearns() -> None:
    # Given an opted-out contact the bridge wrote, and a stack that learned that updates keep what they leave out
    a, _, behaviour = stack()
    created(a, ANN, BOB)
    a.process(upsert(ANN, received_at=at(2), is_opted_out=True))
    a.process(upsert(BOB, received_at=at(2), last="Ray"))
    assert behaviour.facts["omitted"].value == "keep"
    a.heymarket.update_omitted = "clear"
    a.heymarket.log.clear()

    # When a write without a look-up that leaves the opt-out out is answered without it
    a.process(upsert(ANN, **every_field(ANN, 3)))

    # Then the opt-out is written back (opt-out wins) and the fact unlearned for the stack
    assert a.heymarket.routes() == [CONTACTS, CONTACTS]
    assert a.heymarket.holding(ANN)[0].fields["is_opted_out"] is True
    assert behaviour.contradicted["omitted"][0] == "keep"
    assert "is_opted_out" in behaviour.contradicted["omitted"][1]
