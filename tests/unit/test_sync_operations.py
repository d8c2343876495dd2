"""SyncService with deletes, the v1 batch endpoint and custom fields by title, against an in-memory Heymarket."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from heymarket_bridge.adapters.heymarket import (
    BulkResult,
    DeleteResult,
    FailedContact,
    HeymarketError,
    RequestRejected,
    TransientError,
)
from heymarket_bridge.contact import Contact
from heymarket_bridge.custom_fields import CustomField
from heymarket_bridge.messages import ContactOperation, DeleteOperation, DeleteTarget, Operation
from heymarket_bridge.ratelimit import RequestBudget
from heymarket_bridge.settings import ApiMode
from heymarket_bridge.sync import QueueRecord, SyncService
from tests.unit.test_sync_service import FakeClock, FakeDeadLetters

ANN, BOB = "15105551234", "15105550000"
ANN_ID = "0b7c7a52-8a4e-4d0e-9a59-5f1f8f9d2b10"


class FakeHeymarket:
    """Contacts by id with their phones, custom fields, a log of calls, and errors to raise per method."""

    def __init__(self, contacts: Mapping[str, str] | None = None, fields: Sequence[CustomField] = ()) -> None:
        self.phones: dict[str, str] = dict(contacts or {})  # contact id -> phone
        self.fields = list(fields)
        self.calls: list[tuple[str, Any]] = []
        self.errors: dict[str, list[HeymarketError]] = {}
        self.v1_refused: set[str] = set()
        self._ids = (f"new-{n}" for n in itertools.count(1))

    def _call(self, name: str, argument: Any) -> None:
        self.calls.append((name, argument))
        if self.errors.get(name):
            raise self.errors[name].pop(0)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def bulk_upsert(self, contacts: Sequence[Mapping[str, Any]], *, timeout_s: float | None = None) -> BulkResult:
        self._call("bulk_upsert", list(contacts))
        for contact in contacts:
            if contact.get("contact_id") in self.phones:
                self.phones[contact["contact_id"]] = contact["phone"]
            elif contact["phone"] not in self.phones.values():
                self.phones[next(self._ids)] = contact["phone"]
        return BulkResult(contacts=list(contacts))

    def find_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, str]:
        return {phone: ids[0] for phone, ids in self.ids_by_phone(phones, timeout_s=timeout_s).items()}

    def ids_by_phone(self, phones: Sequence[str], *, timeout_s: float | None = None) -> dict[str, list[str]]:
        self._call("search", list(phones))
        found: dict[str, list[str]] = {}
        for contact_id, phone in self.phones.items():
            if phone in phones:
                found.setdefault(phone, []).append(contact_id)
        return found

    def bulk_delete(self, contact_ids: Sequence[str], *, timeout_s: float | None = None) -> DeleteResult:
        self._call("delete", list(contact_ids))
        deleted = [i for i in contact_ids if self.phones.pop(i, None) is not None]
        return DeleteResult(deleted=deleted, not_found=[i for i in contact_ids if i not in deleted])

    def batch_create_v1(
        self, contacts: Sequence[Mapping[str, Any]], *, overwrite: bool, timeout_s: float | None = None
    ) -> BulkResult:
        self._call("v1", (list(contacts), overwrite))
        refused = [c for c in contacts if c["phone"] in self.v1_refused]
        return BulkResult(
            contacts=[c for c in contacts if c not in refused],
            failed=[FailedContact(c, "v1 refused") for c in refused],
        )

    def list_custom_fields(self, *, timeout_s: float | None = None) -> list[CustomField]:
        self._call("fields", None)
        return list(self.fields)


_sequence = itertools.count(1)


def upsert(phone: str, receive_count: int = 1, **fields: Any) -> QueueRecord:
    n = next(_sequence)
    operation = ContactOperation(Operation.UPSERT, Contact(phone=phone, **fields), "generic", f"t{n:04d}", f"c{n}")
    return QueueRecord(f"msg-{n}", operation.to_json(), receive_count, sent_timestamp_ms=n)


def delete(*, phone: str | None = None, contact_id: str | None = None, receive_count: int = 1) -> QueueRecord:
    n = next(_sequence)
    operation = DeleteOperation(DeleteTarget(contact_id=contact_id, phone=phone), "generic", f"t{n:04d}", f"c{n}")
    return QueueRecord(f"msg-{n}", operation.to_json(), receive_count, sent_timestamp_ms=n)


def service(
    heymarket: FakeHeymarket,
    letters: FakeDeadLetters,
    clock: FakeClock | None = None,
    *,
    max_batch: int = 100,
    api_mode: ApiMode = ApiMode.V2,
    v1_overwrite: bool = True,
) -> SyncService:
    clock = clock or FakeClock()
    return SyncService(
        heymarket,
        letters,
        RequestBudget(6000, clock=clock, sleep=clock.sleep),
        max_batch=max_batch,
        max_receive_count=3,
        api_mode=api_mode,
        v1_overwrite=v1_overwrite,
        deadline_reserve_s=5,
        clock=clock,
        sleep=clock.sleep,
        jitter=lambda: 1.0,
    )


# ---------------------------------------------------------------- deletes


def test_deletes_by_id_and_by_phone_go_in_one_request_after_one_search() -> None:
    heymarket, letters = FakeHeymarket({ANN_ID: ANN, "bob-id": BOB}), FakeDeadLetters()

    report = service(heymarket, letters).process([delete(contact_id=ANN_ID), delete(phone=BOB)], lambda: 60)

    assert heymarket.calls == [("search", [BOB]), ("delete", [ANN_ID, "bob-id"])]
    assert heymarket.phones == {}
    assert (report.deleted_contacts, report.failed_message_ids, letters.letters) == (2, [], [])


def test_a_phone_no_contact_holds_is_deleted_without_a_request_or_a_dead_letter() -> None:
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()

    report = service(heymarket, letters).process([delete(phone=ANN)], lambda: 60)

    assert heymarket.names() == ["search"]
    assert (report.failed_message_ids, letters.letters) == ([], [])


def test_an_id_heymarket_reports_not_found_is_a_success() -> None:
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()

    report = service(heymarket, letters).process([delete(contact_id=ANN_ID)], lambda: 60)

    assert heymarket.calls == [("delete", [ANN_ID])]
    assert (report.failed_message_ids, letters.letters) == ([], [])


def test_deletes_are_sent_in_chunks_of_the_maximum_batch() -> None:
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(5)]
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()

    service(heymarket, letters, max_batch=2).process([delete(contact_id=i) for i in ids], lambda: 60)

    assert [len(ids) for name, ids in heymarket.calls if name == "delete"] == [2, 2, 1]


def test_a_rejected_delete_chunk_is_split_to_dead_letter_only_the_culprit() -> None:
    bad = "00000000-0000-4000-8000-000000000002"
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()
    original = heymarket.bulk_delete

    def refuse_bad(contact_ids: Sequence[str], *, timeout_s: float | None = None) -> DeleteResult:
        if bad in contact_ids:
            heymarket.calls.append(("delete", list(contact_ids)))
            raise RequestRejected("Heymarket answered 400: bad id", status=400)
        return original(contact_ids, timeout_s=timeout_s)

    heymarket.bulk_delete = refuse_bad  # type: ignore[method-assign]
    records = [delete(contact_id=f"00000000-0000-4000-8000-{n:012d}") for n in range(4)]

    report = service(heymarket, letters).process(records, lambda: 60)

    assert [letter.contact for letter in letters.letters] == [{"contact_id": bad}]
    assert "400" in letters.letters[0].error
    assert report.failed_message_ids == []


def test_a_delete_that_keeps_failing_is_redelivered_then_dead_lettered_on_the_final_receive() -> None:
    heymarket, letters = FakeHeymarket({ANN_ID: ANN}), FakeDeadLetters()
    heymarket.errors["delete"] = [TransientError("Heymarket answered 500: boom", status=500)] * 100
    early, last = delete(contact_id=ANN_ID, receive_count=1), delete(contact_id=ANN_ID, receive_count=3)

    first = service(heymarket, letters).process([early], lambda: 20)
    final = service(heymarket, letters).process([last], lambda: 20)

    assert first.failed_message_ids == [early.message_id]
    assert final.failed_message_ids == []
    [letter] = letters.letters
    assert (letter.contact, letter.attempts) == ({"contact_id": ANN_ID}, 3)
    assert "500" in letter.error


# ---------------------------------------------------------------- ordering


def test_an_upsert_then_a_delete_of_one_phone_sends_only_the_delete() -> None:
    heymarket, letters = FakeHeymarket({ANN_ID: ANN}), FakeDeadLetters()

    report = service(heymarket, letters).process([upsert(ANN, first="Ann"), delete(phone=ANN)], lambda: 60)

    assert heymarket.names() == ["search", "delete"]
    assert heymarket.phones == {}
    assert (report.failed_message_ids, letters.letters, report.merged_messages) == ([], [], 1)


def test_a_delete_then_an_upsert_of_one_contact_deletes_then_creates_it_afresh() -> None:
    heymarket, letters = FakeHeymarket({ANN_ID: ANN}), FakeDeadLetters()
    records = [delete(contact_id=ANN_ID), upsert(ANN, first="Ann", contact_id=ANN_ID)]

    report = service(heymarket, letters).process(records, lambda: 60)

    assert heymarket.names() == ["delete", "bulk_upsert"]
    [sent] = heymarket.calls[1][1]
    assert "contact_id" not in sent  # the id it named was just deleted: sent as a create
    assert list(heymarket.phones.values()) == [ANN]
    assert ANN_ID not in heymarket.phones
    assert (report.failed_message_ids, letters.letters) == ([], [])


def test_an_upsert_waiting_for_a_delete_that_failed_is_redelivered_with_it_not_sent() -> None:
    heymarket, letters = FakeHeymarket({ANN_ID: ANN}), FakeDeadLetters()
    heymarket.errors["delete"] = [TransientError("Heymarket answered 503", status=503)] * 100
    records = [delete(phone=ANN), upsert(ANN, first="Ann"), upsert(BOB)]

    report = service(heymarket, letters).process(records, lambda: 20)

    assert sorted(report.failed_message_ids) == sorted(r.message_id for r in records[:2])
    assert [call[1] for call in heymarket.calls if call[0] == "bulk_upsert"] == [[Contact(phone=BOB).to_heymarket()]]


# ---------------------------------------------------------------- v1 mode


def test_v1_mode_sends_the_documented_fields_with_the_overwrite_setting() -> None:
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()
    record = upsert(ANN, first="Ann", email="ann@example.com", contact_id=ANN_ID)

    report = service(heymarket, letters, api_mode=ApiMode.V1, v1_overwrite=False).process([record], lambda: 60)

    assert heymarket.calls == [("v1", ([{"phone": ANN, "first": "Ann", "email": "ann@example.com"}], False))]
    assert report.delivered_contacts == 1


def test_v1_mode_dead_letters_the_contacts_heymarket_lists_as_failed_and_delivers_the_rest() -> None:
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()
    heymarket.v1_refused = {BOB}

    report = service(heymarket, letters, api_mode=ApiMode.V1).process([upsert(ANN), upsert(BOB)], lambda: 60)

    assert [(letter.contact or {}).get("phone") for letter in letters.letters] == [BOB]
    assert report.delivered_contacts == 1
    assert report.failed_message_ids == []


def test_v1_mode_dead_letters_a_contact_with_fields_v1_does_not_take_naming_them() -> None:
    heymarket, letters = FakeHeymarket(), FakeDeadLetters()

    service(heymarket, letters, api_mode=ApiMode.V1).process([upsert(ANN, tags=(3,), custom={"1": "x"})], lambda: 60)

    assert heymarket.calls == []
    [letter] = letters.letters
    assert "custom, tags" in letter.error
    assert "v2" in letter.error


# ---------------------------------------------------------------- custom fields by title


def test_titles_are_resolved_to_ids_with_one_read_of_the_fields_per_cold_start() -> None:
    heymarket, letters = FakeHeymarket(fields=[CustomField("101", "Campus")]), FakeDeadLetters()
    sync = service(heymarket, letters)

    sync.process([upsert(ANN, custom={"Campus": "North", "102": "x"})], lambda: 60)
    sync.process([upsert(BOB, custom={"campus": "South"})], lambda: 60)

    assert heymarket.names() == ["fields", "bulk_upsert", "bulk_upsert"]
    assert heymarket.calls[1][1][0]["custom"] == {"101": "North", "102": "x"}
    assert heymarket.calls[2][1][0]["custom"] == {"101": "South"}


def test_a_title_and_its_id_merged_in_one_batch_keep_the_value_received_last() -> None:
    heymarket, letters = FakeHeymarket(fields=[CustomField("101", "Campus")]), FakeDeadLetters()

    records = [
        upsert(ANN, custom={"101": "old"}),
        upsert(ANN, custom={"Campus": "new"}),
        upsert(ANN, custom={"101": "last"}),
    ]

    service(heymarket, letters).process(records, lambda: 60)

    assert heymarket.calls[-1][1][0]["custom"] == {"101": "last"}


def test_an_unknown_title_rereads_the_fields_once_then_dead_letters_the_contact_naming_it() -> None:
    heymarket, letters = FakeHeymarket(fields=[CustomField("101", "Campus")]), FakeDeadLetters()
    sync = service(heymarket, letters)
    sync.process([upsert(BOB, custom={"Campus": "North"})], lambda: 60)  # the fields are now cached

    report = sync.process([upsert(ANN, custom={"Shoe size": "9"}), upsert(BOB, first="Bob")], lambda: 60)

    assert heymarket.names() == ["fields", "bulk_upsert", "fields", "bulk_upsert"]
    [letter] = letters.letters
    assert "'Shoe size'" in letter.error
    assert (letter.contact or {}).get("phone") == ANN
    assert report.delivered_contacts == 1


def test_a_title_of_a_field_created_since_the_cache_was_filled_is_found_on_the_reread() -> None:
    heymarket, letters = FakeHeymarket(fields=[CustomField("101", "Campus")]), FakeDeadLetters()
    sync = service(heymarket, letters)
    sync.process([upsert(BOB, custom={"Campus": "North"})], lambda: 60)
    heymarket.fields.append(CustomField("104", "Shoe size"))

    sync.process([upsert(ANN, custom={"Shoe size": "9"})], lambda: 60)

    assert heymarket.calls[-1][1][0]["custom"] == {"104": "9"}
    assert letters.letters == []


def test_when_the_fields_cannot_be_read_contacts_with_titles_wait_and_the_others_go() -> None:
    heymarket, letters = FakeHeymarket(fields=[CustomField("101", "Campus")]), FakeDeadLetters()
    heymarket.errors["fields"] = [TransientError("Heymarket answered 500", status=500)] * 100
    titled = upsert(ANN, custom={"Campus": "North"})

    report = service(heymarket, letters).process([titled, upsert(BOB)], lambda: 20)

    assert report.failed_message_ids == [titled.message_id]
    assert [call[1][0]["phone"] for call in heymarket.calls if call[0] == "bulk_upsert"] == [BOB]
    assert letters.letters == []
