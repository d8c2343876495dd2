"""SyncService's decisions over a Heymarket at the port (FakeHeymarket): merging, ordering deletes and upserts,
custom-field titles, and each message's fate (delivered, redelivered, waiting, dead-lettered).

What the gateway does on the wire (searches, retries, chunks, answers read) is tested over the wire double, in
tests/unit/test_sync_service.py and tests/unit/test_sync_operations.py."""

from __future__ import annotations

from heymarket_bridge.domain.custom_fields import CustomField
from heymarket_bridge.domain.failures import TransientFailure
from heymarket_bridge.sync.model import QueueRecord
from tests.unit.sync.harness import ANN, ANN_ID, BOB, FakeDeadLetters, PortHarness, delete, upsert


def sent_custom(h: PortHarness) -> list[dict[str, str] | None]:
    return [dict(c.custom) if c.custom is not None else None for contacts in h.heymarket.sent() for c in contacts]


# ---------------------------------------------------------------- merging and fates


def test_duplicate_phones_in_a_batch_are_sent_once_with_later_values_winning() -> None:
    h = PortHarness()
    records = [
        upsert(ANN, received_at="2026-11-23T09:00:05.000+00:00", last="Jones", custom={"2": "b"}),
        upsert(ANN, received_at="2026-11-23T09:00:00.000+00:00", first="Alice", last="Smith", custom={"1": "a"}),
    ]

    report = h.process(*records)

    [[sent]] = h.heymarket.sent()
    assert (sent.first, sent.last, sent.custom) == ("Alice", "Jones", {"1": "a", "2": "b"})
    assert (report.merged_messages, report.failed_message_ids) == (1, [])


def test_on_the_final_receive_a_transient_failure_goes_to_the_dlq_with_the_last_error() -> None:
    h = PortHarness(max_receive_count=5)
    h.heymarket.fail(ANN, "transient", "Heymarket answered 503: maintenance")
    h.heymarket.fail(BOB, "transient", "Heymarket answered 503: maintenance")
    last, early = upsert(ANN, receive_count=5), upsert(BOB, receive_count=2)

    report = h.process(last, early, remaining_s=20)

    assert report.failed_message_ids == [early.message_id]
    [letter] = h.letters.letters
    assert "Heymarket answered 503: maintenance" in letter.error
    assert letter.attempts == 5


def test_throttling_that_outlasts_the_last_receive_waits_instead_of_dead_lettering() -> None:
    h = PortHarness(max_receive_count=3)
    h.heymarket.fail(ANN, "transient", "Heymarket answered 429: rate_limited", throttled=True)
    record = upsert(ANN, receive_count=3)

    report = h.process(record, remaining_s=20)

    assert (h.letters.letters, report.failed_message_ids, h.waiting.bodies) == ([], [], [record.body])


def test_a_configuration_failure_makes_the_messages_wait_without_using_up_their_receives() -> None:
    h = PortHarness()
    h.heymarket.fail(ANN, "configuration", "Heymarket refused the credentials")
    record = upsert(ANN)

    report = h.process(record)

    assert (report.failed_message_ids, h.letters.letters) == ([], [])
    assert h.waiting.bodies == [record.body]
    assert report.waiting_messages == 1
    assert "credentials" in (report.configuration_error or "")


def test_a_message_that_waited_as_long_as_the_queue_keeps_messages_is_dead_lettered_with_the_cause() -> None:
    h = PortHarness()
    h.heymarket.fail(ANN, "configuration", "the Heymarket secret still holds REPLACE_ME")
    old = upsert(ANN, received_at="2026-11-19T09:00:00.000+00:00")  # four days before the harness's now

    h.process(old)

    [letter] = h.letters.letters
    assert "REPLACE_ME" in letter.error
    assert h.waiting.bodies == []


def test_contacts_heymarket_refuses_go_to_the_dlq_with_the_error_and_the_rest_are_done() -> None:
    h = PortHarness()
    h.heymarket.fail(BOB, "permanent", "invalid email")

    report = h.process(upsert(ANN), upsert(BOB))

    assert report.failed_message_ids == []
    [letter] = h.letters.letters
    assert (letter.error, (letter.contact or {})["phone"], letter.attempts) == ("invalid email", BOB, 1)
    assert letter.heymarket_request_id
    assert (report.delivered_contacts, report.rejected_contacts) == (1, 1)


def test_a_message_whose_dead_letter_cannot_be_written_is_kept_in_the_queue() -> None:
    h = PortHarness(letters=FakeDeadLetters(refuse=True))
    h.heymarket.fail(ANN, "permanent", "nope")
    record = upsert(ANN)

    report = h.process(record)

    assert (report.failed_message_ids, report.dead_lettered_messages) == ([record.message_id], 0)


def test_an_unreadable_message_is_dead_lettered_with_its_body() -> None:
    h = PortHarness()

    report = h.process(QueueRecord("msg-x", "{not json", 1))

    assert h.heymarket.calls == []
    [letter] = h.letters.letters
    assert (letter.message, report.failed_message_ids) == ("{not json", [])
    assert "unreadable" in letter.error


def test_an_opt_in_over_an_opt_out_heymarket_holds_is_held_back_and_the_message_delivered() -> None:
    h = PortHarness()
    h.heymarket.add(ANN, opted_out_at="2026-11-01T00:00:00.000+00:00")

    report = h.process(upsert(ANN, first="Ann", is_opted_out=False))

    assert h.heymarket.held[ANN].contact.is_opted_out is True
    assert h.heymarket.held[ANN].contact.first == "Ann"
    assert (report.delivered_contacts, report.failed_message_ids, h.letters.letters) == (1, [], [])


# ---------------------------------------------------------------- deletes and upserts of one contact


def test_an_upsert_then_a_delete_of_one_phone_sends_only_the_delete() -> None:
    h = PortHarness()
    h.heymarket.add(ANN)

    report = h.process(upsert(ANN, first="Ann"), delete(phone=ANN))

    assert h.heymarket.names() == ["delete"]
    assert h.heymarket.held == {}
    assert (report.failed_message_ids, h.letters.letters, report.merged_messages) == ([], [], 1)


def test_a_delete_then_an_upsert_of_one_contact_deletes_then_creates_it_afresh() -> None:
    h = PortHarness()
    ann = h.heymarket.add(ANN, last="Old")

    report = h.process(delete(contact_id=ann.identity.uuid), upsert(ANN, first="Ann", contact_id=ann.identity.uuid))

    assert h.heymarket.names() == ["delete", "upsert"]
    stored = h.heymarket.held[ANN]
    assert stored.identity.uuid != ann.identity.uuid
    assert stored.contact.to_dict() == {"phone": ANN, "first": "Ann"}
    assert (report.failed_message_ids, h.letters.letters) == ([], [])


def test_an_upsert_waiting_for_a_delete_that_failed_is_redelivered_with_it_not_sent() -> None:
    h = PortHarness()
    h.heymarket.add(ANN)
    h.heymarket.fail(ANN, "transient", "Heymarket answered 503: unavailable")
    records = [delete(phone=ANN), upsert(ANN, first="Ann"), upsert(BOB)]

    report = h.process(*records, remaining_s=20)

    assert sorted(report.failed_message_ids) == sorted(r.message_id for r in records[:2])
    assert [c.phone for contacts in h.heymarket.sent() for c in contacts] == [BOB]


def test_a_delete_that_keeps_failing_is_redelivered_then_dead_lettered_on_the_final_receive() -> None:
    h = PortHarness(max_receive_count=3)
    h.heymarket.fail(ANN_ID, "transient", "Heymarket answered 500: boom")
    early, last = delete(contact_id=ANN_ID, receive_count=1), delete(contact_id=ANN_ID, receive_count=3)

    first = h.process(early, remaining_s=20)
    final = h.process(last, remaining_s=20)

    assert (first.failed_message_ids, final.failed_message_ids) == ([early.message_id], [])
    [letter] = h.letters.letters
    assert (letter.contact, letter.attempts) == ({"contact_id": ANN_ID}, 3)
    assert "500" in letter.error


# ---------------------------------------------------------------- custom fields by title


def test_titles_are_resolved_to_ids_with_one_read_of_the_fields_per_cold_start() -> None:
    h = PortHarness()
    h.heymarket.fields = [CustomField("101", "Campus")]

    h.process(upsert(ANN, custom={"Campus": "North", "102": "x"}))
    h.process(upsert(BOB, custom={"campus": "South"}))

    assert h.heymarket.names().count("custom_fields") == 1
    assert sent_custom(h) == [{"101": "North", "102": "x"}, {"101": "South"}]


def test_a_title_and_its_id_merged_in_one_batch_keep_the_value_received_last() -> None:
    h = PortHarness()
    h.heymarket.fields = [CustomField("101", "Campus")]

    h.process(
        upsert(ANN, custom={"101": "old"}), upsert(ANN, custom={"Campus": "new"}), upsert(ANN, custom={"101": "last"})
    )

    assert sent_custom(h) == [{"101": "last"}]


def test_an_unknown_title_rereads_the_fields_once_then_dead_letters_the_contact_naming_it() -> None:
    h = PortHarness()
    h.heymarket.fields = [CustomField("101", "Campus")]
    h.process(upsert(BOB, custom={"Campus": "North"}))  # the fields are now cached

    report = h.process(upsert(ANN, custom={"Shoe size": "9"}), upsert(BOB, first="Bob"))

    assert h.heymarket.names().count("custom_fields") == 2
    [letter] = h.letters.letters
    assert "'Shoe size'" in letter.error
    assert ((letter.contact or {}).get("phone"), report.delivered_contacts) == (ANN, 1)


def test_a_title_of_a_field_created_since_the_cache_was_filled_is_found_on_the_reread() -> None:
    h = PortHarness()
    h.heymarket.fields = [CustomField("101", "Campus")]
    h.process(upsert(BOB, custom={"Campus": "North"}))
    h.heymarket.fields.append(CustomField("104", "Shoe size"))

    h.process(upsert(ANN, custom={"Shoe size": "9"}))

    assert sent_custom(h)[-1] == {"104": "9"}
    assert h.letters.letters == []


def test_when_the_fields_cannot_be_read_contacts_with_titles_wait_and_the_others_go() -> None:
    h = PortHarness()
    h.heymarket.fields_failure = TransientFailure("Heymarket answered 500: boom")
    titled = upsert(ANN, custom={"Campus": "North"})

    report = h.process(titled, upsert(BOB), remaining_s=20)

    assert report.failed_message_ids == [titled.message_id]
    assert [c.phone for contacts in h.heymarket.sent() for c in contacts] == [BOB]
    assert h.letters.letters == []
