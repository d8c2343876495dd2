"""Answers that mean the bridge is misconfigured (refused credentials, a redirect, a 404 from an endpoint that
exists): the contacts wait, nothing is split or dead-lettered."""

from __future__ import annotations

import pytest

from tests.unit.sync.harness import ANN, BOB, Harness, upsert

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"


def test_refused_credentials_are_not_hammered_and_the_messages_wait_without_using_up_their_receives() -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (401, {"error_code": "unauthorized"}), (401, {"error_code": "unauthorized"}))
    record = upsert(ANN)

    report = h.process(record)

    assert h.heymarket.routes() == [SEARCH, SEARCH]  # once more after re-reading the secret, then no more
    assert (report.failed_message_ids, h.letters.letters) == ([], [])
    assert h.waiting.bodies == [record.body]
    assert report.waiting_messages == 1
    assert "credentials" in (report.configuration_error or "")


@pytest.mark.parametrize(
    ("status", "headers"),
    [(301, {"Location": "https://www.heymarket.com/"}), (302, {"Location": "/login"}), (307, {})],
)
def test_a_redirect_is_a_configuration_error_not_a_refusal_and_nothing_is_split_or_dead_lettered(
    status: int, headers: dict[str, str]
) -> None:
    h = Harness()
    h.heymarket.script(SEARCH, (status, b"", headers))
    records = [upsert(f"1510555000{i}") for i in range(6)]

    report = h.process(*records)

    assert h.heymarket.routes() == [SEARCH]
    assert (h.letters.letters, report.failed_message_ids) == ([], [])
    assert len(h.waiting.bodies) == 6
    assert "HeymarketBaseUrl" in (report.configuration_error or "")


def test_a_404_from_the_bulk_endpoint_is_a_configuration_error() -> None:
    h = Harness()
    h.heymarket.script(CONTACTS, (404, b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"}))

    report = h.process(upsert(ANN), upsert(BOB))

    assert h.heymarket.routes() == [SEARCH, CONTACTS]
    assert (h.letters.letters, report.waiting_messages) == ([], 2)
