"""The chunk runner (`contacts/chunk.py`) over the wire double: the largest batch, and a refused chunk halved until
the refused contact is alone."""

from __future__ import annotations

from typing import Any

from tests.unit.sync.harness import Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def bulk_calls(h: Harness) -> list[list[dict[str, Any]]]:
    return [data["contacts"] for route, data in h.heymarket.log if route == CONTACTS]


def test_a_refused_chunk_is_split_until_the_refused_contact_is_isolated() -> None:
    h = Harness()
    bad = "15105550003"

    def refuse_if_bad(data: Any) -> Any:
        if any(c["phone"] == bad for c in data["contacts"]):
            return 400, {"error_code": "bad_data", "message": "phone"}
        return 200, {"contacts": [{"id": n, "uuid": f"u{n}", **c} for n, c in enumerate(data["contacts"])]}

    h.heymarket.script(CONTACTS, *[refuse_if_bad] * 20)
    records = [upsert(f"1510555000{i}") for i in range(8)]

    report = h.process(*records)

    assert [(letter.contact or {}).get("phone") for letter in h.letters.letters] == [bad]
    assert report.delivered_contacts == 7
    assert h.heymarket.routes().count(CONTACTS) <= 1 + 2 * 3 + 1  # a bisection (and one retry), not one per contact


def test_chunks_respect_the_maximum_batch_size() -> None:
    h = Harness(max_batch=10)

    h.process(*[upsert(f"151055510{i:02d}") for i in range(25)])

    assert [len(call) for call in bulk_calls(h)] == [10, 10, 5]
    assert h.heymarket.routes().count(SEARCH) == 3
