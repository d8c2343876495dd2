"""The demo's verdict: it fails whenever an accepted contact is neither delivered nor dead-lettered."""

from __future__ import annotations

import json

from heymarket_bridge_tools.demo_report import (
    DeadLetterView,
    DemoReport,
    Ledger,
    SampleWebhook,
    WebhookOutcome,
    read_dead_letter,
)
from heymarket_local.poller import BatchResult
from tests.support import EVENTS, load_event

RECORDS = load_event("sync/batch")["Records"]
ALICE_BODY = RECORDS[0]["body"]  # phone 15105551234
BOB_BODY = RECORDS[1]["body"]  # phone 442079460958


def ledger_of(*results: BatchResult) -> Ledger:
    ledger = Ledger()
    for result in results:
        ledger.record(result)
    return ledger


def settled(*records: dict[str, object]) -> BatchResult:
    return BatchResult(tuple(records), frozenset())  # type: ignore[arg-type]


def report(ledger: Ledger, *, delivered: set[str], letters: list[DeadLetterView], drained: bool = True) -> DemoReport:
    result = DemoReport(
        outcomes=[],
        ledger=ledger,
        dead_letters=letters,
        sandbox_phones=delivered,
        sandbox_stats={"requests": 1},
        drained=drained,
        drain_s=1.0,
    )
    result.check()
    return result


def test_every_contact_delivered_or_dead_lettered_is_a_success() -> None:
    written_by_sync = {"error": "Heymarket answered 400: bad phone", "contact": {"phone": "442079460958"}}
    letter = read_dead_letter(json.dumps({**written_by_sync, "message": BOB_BODY}), max_receive_count=5)

    verdict = report(ledger_of(settled(RECORDS[0], RECORDS[1])), delivered={"15105551234"}, letters=[letter])

    assert verdict.problems == []
    assert verdict.delivered_messages == 1
    assert letter.reason == "Heymarket answered 400: bad phone"


def test_a_settled_contact_missing_from_heymarket_and_the_dlq_fails_the_demo() -> None:
    verdict = report(ledger_of(settled(RECORDS[0], RECORDS[1])), delivered={"15105551234"}, letters=[])

    assert len(verdict.problems) == 1
    assert "neither delivered nor dead-lettered" in verdict.problems[0]


def test_a_message_the_queue_moved_to_the_dlq_counts_as_dead_lettered_with_the_redrive_as_reason() -> None:
    unsettled = BatchResult((RECORDS[1],), frozenset({RECORDS[1]["messageId"]}))
    letter = read_dead_letter(BOB_BODY, max_receive_count=2)

    verdict = report(ledger_of(unsettled), delivered=set(), letters=[letter])

    assert verdict.problems == []
    assert letter.phone == "442079460958"
    assert "received 2 times" in letter.reason


def test_an_undrained_queue_fails_the_demo() -> None:
    verdict = report(ledger_of(settled(RECORDS[0])), delivered={"15105551234"}, letters=[], drained=False)

    assert verdict.problems == ["the queue did not drain in time"]


def test_nothing_accepted_fails_the_demo() -> None:
    verdict = report(Ledger(), delivered=set(), letters=[])

    assert verdict.problems == ["no contact was accepted, so nothing went through the pipeline"]


def test_an_undrained_queue_is_reported_with_what_is_left_and_accepted_from_the_replies() -> None:
    from heymarket_bridge_tools.demo_report import SampleWebhook, WebhookOutcome

    webhook = SampleWebhook("generic/mixed_contacts.json", "POST", "/webhooks/generic", {}, b"")
    verdict = DemoReport(
        outcomes=[WebhookOutcome(webhook, 202, 15, [], None)],
        ledger=ledger_of(settled(RECORDS[0])),
        dead_letters=[],
        sandbox_phones={"15105551234"},
        sandbox_stats={"requests": 3, "by_status": {"200": 1, "500": 2}},
        drained=False,
        drain_s=2.0,
        left_in_queue=(13, 1),
    )
    verdict.check()

    text = verdict.render(events_dir=EVENTS, log_file=EVENTS / "log", settings="batch size 100")

    assert "Accepted       15 (queued in SQS)" in text
    assert "Queue          NOT drained after 2.0 s: 13 waiting, 1 in flight" in text
    assert "drained in" not in text
    assert "Heymarket      3 requests; 2 answered 5xx, faults: 2 x 500" in text
    assert "FAILED:" in text


def test_a_reply_in_the_sources_own_format_is_read_from_the_bridges_reply_header() -> None:
    from heymarket_bridge_tools.demo_report import SampleWebhook, read_reply

    webhook = SampleWebhook("salesforce/outbound_message.json", "POST", "/webhooks/salesforce", {}, b"")
    answer = {"accepted": 2, "rejected": [{"index": 2, "errors": ["no phone"]}], "request_id": "r"}

    outcome = read_reply(webhook, 200, b"<soapenv:Envelope/>", {"X-Bridge-Reply": json.dumps(answer)})

    assert (outcome.accepted, outcome.rejections) == (2, ["salesforce/outbound_message.json #2: no phone"])
    assert outcome.line() == "200  salesforce/outbound_message.json: 2 accepted, 1 rejected"


def test_a_contact_accepted_with_a_warning_is_not_counted_as_rejected() -> None:
    from heymarket_bridge_tools.demo_report import SampleWebhook, read_reply

    webhook = SampleWebhook("generic/x.json", "POST", "/webhooks/generic", {}, b"")
    entry = {"index": 0, "accepted": True, "errors": [], "warnings": ["phone was read as +31"]}

    outcome = read_reply(webhook, 202, json.dumps({"accepted": 1, "rejected": [entry]}).encode())

    assert (outcome.accepted, outcome.rejections, outcome.warnings) == (
        1,
        [],
        ["generic/x.json #0: phone was read as +31"],
    )


def test_the_summary_shows_each_list_with_its_members_and_the_tags_contacts_hold() -> None:
    verdict = report(ledger_of(settled(RECORDS[0])), delivered={"15105551234"}, letters=[])
    verdict.lists = [
        {"id": 42, "title": "Spring open house", "phones": ["15105550161", "15105550162"]},
        {"id": 43, "title": "Newsletter readers", "phones": []},
    ]
    verdict.contacts = [
        {"phone": "15105550161", "display_name": "Gwen Ifill", "tags": [{"tag_id": 1}]},
        {"phone": "15105550162", "first": "Hal", "last": "", "tags": [{"tag_id": 1}, {"tag_id": 2}]},
    ]
    verdict.tags = [{"id": 1, "tag": "VIP"}, {"id": 2, "tag": "Newsletter"}]

    text = verdict.render(events_dir=EVENTS, log_file=EVENTS / "log", settings="batch size 100")

    assert "Lists          2 in Heymarket:" in text
    assert "  - Spring open house (id 42): Gwen Ifill (15*****0161), Hal (15*****0162)" in text
    assert "  - Newsletter readers (id 43): no member" in text
    assert "Tags           Newsletter x 1, VIP x 2" in text


def test_a_list_write_follow_up_is_settled_but_not_counted_as_a_contact_delivered() -> None:
    from heymarket_bridge.domain.contact import Contact
    from heymarket_bridge.domain.operations import ContactOperation, Operation

    follow_up = ContactOperation(Operation.LISTS, Contact(phone="15105551234", lists=(42,)), "generic", "t", "c")
    record = {**RECORDS[0], "messageId": "follow-up", "body": follow_up.to_json()}

    verdict = report(ledger_of(settled(RECORDS[0], record)), delivered={"15105551234"}, letters=[])

    assert verdict.problems == []
    assert verdict.delivered_messages == 1


def test_an_undrained_queue_still_counts_every_reply_s_contacts_and_blames_only_the_drain() -> None:
    from heymarket_bridge_tools.demo_report import SampleWebhook, WebhookOutcome

    generic = SampleWebhook("generic/mixed_contacts.json", "POST", "/webhooks/generic", {}, b"")
    salesforce = SampleWebhook("salesforce/outbound_message.json", "POST", "/webhooks/salesforce", {}, b"")
    verdict = DemoReport(
        outcomes=[
            WebhookOutcome(generic, 202, 13, ["generic #2: bad phone", "generic #4: bad phone"], None),
            WebhookOutcome(salesforce, 200, 2, ["salesforce #2: no phone"], None),
        ],
        ledger=ledger_of(settled(RECORDS[0])),  # the event source has taken one message so far
        dead_letters=[],
        sandbox_phones={"15105551234"},
        sandbox_stats={"requests": 1},
        drained=False,
        drain_s=2.0,
        left_in_queue=(0, 14),
    )
    verdict.check()

    text = verdict.render(events_dir=EVENTS, log_file=EVENTS / "log", settings="batch size 100")

    assert "Received       18 contacts" in text
    assert verdict.problems == ["the queue did not drain in time"]


def test_a_dead_lettered_delete_is_listed_as_the_delete_it_is() -> None:
    from heymarket_bridge.domain.operations import DeleteOperation, DeleteTarget

    delete = DeleteOperation(DeleteTarget(contact_id="6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60"), "generic", "t", "req")
    written_by_sync = {"error": "Heymarket answered 403", "source": "generic", "contact": delete.target.to_dict()}

    letter = read_dead_letter(json.dumps({**written_by_sync, "message": delete.to_json()}), max_receive_count=5)
    verdict = report(Ledger(), delivered=set(), letters=[letter], drained=False)
    text = verdict.render(events_dir=EVENTS, log_file=EVENTS / "log", settings="")

    assert "  - delete of contact 6f1c2a9e-5b7d-4c8e-9f0a-1b2c3d4e5f60 (generic): Heymarket answered 403" in text


def test_retries_inside_an_invocation_are_counted_from_heymarket_s_failed_answers() -> None:
    import logging

    from heymarket_local.activity import BatchTotals
    from heymarket_local.poller import PollerStats

    # Given a sandbox that failed 3 requests, all retried inside the invocation (the sync function left no message
    # for another receive, as its "Batch synced" record says)
    totals = BatchTotals()
    totals.handle(logging.makeLogRecord({"msg": "Batch synced", "retried": 0, "waiting": 0, "heymarket_requests": 5}))
    verdict = DemoReport(
        outcomes=[],
        ledger=ledger_of(settled(RECORDS[0])),
        dead_letters=[],
        sandbox_phones={"15105551234"},
        sandbox_stats={"requests": 5, "by_status": {"200": 2, "500": 2, "429": 1}},
        drained=True,
        drain_s=1.0,
        poller=PollerStats(invocations=1),
        sync=totals,
    )

    text = verdict.render(events_dir=EVENTS, log_file=EVENTS / "log", settings="")

    assert (
        "Retried        3 Heymarket request(s) again after a 5xx, 429 or reset inside their sync invocation "
        "(1 sync invocations, 0 failed)"
    ) in text


def _accepted(count: int) -> WebhookOutcome:
    webhook = SampleWebhook("generic/form_post.json", "POST", "/webhooks/generic", {}, b"{}")
    return WebhookOutcome(webhook, 202, count, [], None)


def _verdict_with_replies(ledger: Ledger, accepted: int) -> DemoReport:
    result = DemoReport(
        outcomes=[_accepted(accepted)],
        ledger=ledger,
        dead_letters=[],
        sandbox_phones={"15105551234", "442079460958"},
        sandbox_stats={"requests": 1},
        drained=True,
        drain_s=1.0,
    )
    result.check()
    return result


def test_a_body_sqs_delivered_twice_under_two_message_ids_is_one_accepted_contact() -> None:
    # SQS is at-least-once, and botocore sends a SendMessageBatch again when its answer timed out: the same body
    # arrives under a new message id. It is still the one contact the reply accepted.
    again = {**RECORDS[0], "messageId": "a-second-copy-of-alice"}

    verdict = _verdict_with_replies(ledger_of(settled(RECORDS[0], RECORDS[1], again)), accepted=2)

    assert verdict.problems == []


def test_more_contacts_queued_than_the_replies_accepted_fails_the_demo() -> None:
    verdict = _verdict_with_replies(ledger_of(settled(RECORDS[0], RECORDS[1])), accepted=1)

    assert verdict.problems == ["the replies accepted 1 contacts but 2 were queued"]
