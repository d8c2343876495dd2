"""The fetch use case's edges: messages it cannot read, a source it does not know, secrets it cannot read, the
deadline; each ends as a letter with its reason or a redelivery, never lost."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from heymarket_bridge.domain.failures import SecretMisconfigured, SecretUnavailable
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.failures import FetchTransient
from heymarket_bridge.ingest.fetch import FetchMessage, FetchService
from heymarket_bridge.ingest.intake import Intake
from heymarket_bridge.ingest.notices import FetchNotice
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.ingest.sources.common import SourceCredentials
from tests.doubles.queue import RecordingQueue
from tests.unit.ingest.sources.fetching import Requeued
from tests.unit.ingest.sources.harness import SIGNED_AT

NOTICE = FetchNotice("meta", "1", SIGNED_AT.isoformat()).to_json()


class Down:
    requests_sent = 0

    def fetch(self, notice: FetchNotice, credentials: SourceCredentials) -> Mapping[str, Any]:
        self.requests_sent += 1
        raise FetchTransient("Graph answered 500")


def service(secrets: Any = None, letters: RecordingQueue | None = None, requeue: Any = None) -> FetchService:
    def read_secrets() -> Mapping[str, Any]:
        if isinstance(secrets, Exception):
            raise secrets
        return secrets or {"meta": "s", "meta_page_token": "t"}

    return FetchService(
        default_sources(),
        {"graph": Down()},
        Intake(ContactBuffer(RecordingQueue()), None, "US", {}),
        read_secrets,
        letters if letters is not None else RecordingQueue(),
        requeue if requeue is not None else Requeued(),
        clock=lambda: SIGNED_AT,
    )


def test_a_message_that_is_not_a_notice_becomes_a_letter_saying_so() -> None:
    letters = RecordingQueue()

    report = service(letters=letters).process([FetchMessage("m1", "not json")])

    assert report.dead_lettered == 1
    assert json.loads(letters.sent[0].body)["error"] == "the fetch message is not JSON"


def test_a_notice_of_a_source_that_fetches_nothing_becomes_a_letter() -> None:
    letters = RecordingQueue()
    body = FetchNotice("typeform", "1", SIGNED_AT.isoformat()).to_json()

    service(letters=letters).process([FetchMessage("m1", body)])

    assert "no fetched source named 'typeform'" in json.loads(letters.sent[0].body)["error"]


def test_secrets_unreadable_for_now_are_a_redelivery() -> None:
    report = service(secrets=SecretUnavailable("throttled")).process([FetchMessage("m1", NOTICE)])

    assert report.redeliver == ["m1"]


def test_a_misconfigured_secret_makes_the_notice_wait() -> None:
    requeue = Requeued()

    report = service(
        secrets=SecretMisconfigured("no such secret", "ResourceNotFoundException"), requeue=requeue
    ).process([FetchMessage("m1", NOTICE)])

    assert report.waiting == 1
    assert json.loads(requeue.bodies[0][0])["fetch"]["waiting_since"]


def test_a_notice_that_cannot_be_put_back_is_redelivered_by_sqs() -> None:
    report = service(requeue=lambda bodies, delay: [0]).process([FetchMessage("m1", NOTICE)])

    assert report.redeliver == ["m1"]
    assert report.retried == 0


def test_a_letter_that_cannot_be_written_is_redelivered_by_sqs() -> None:
    class Refusing(RecordingQueue):
        def send(self, messages: Any) -> list[int]:
            return [0]

    report = service(letters=Refusing()).process([FetchMessage("m1", "not json")])

    assert report.redeliver == ["m1"]


def test_messages_left_near_the_deadline_are_redelivered_unfetched() -> None:
    report = service().process([FetchMessage("m1", NOTICE), FetchMessage("m2", NOTICE)], lambda: 10.0)

    assert report.redeliver == ["m1", "m2"]
