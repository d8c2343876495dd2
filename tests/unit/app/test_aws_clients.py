"""Every AWS call is bounded so that a stalled service fails inside the function's timeout (issue 15)."""

from __future__ import annotations

import os

from heymarket_bridge.adapters.aws.sqs import SqsBatchSender
from heymarket_bridge.app.aws_clients import DEFAULT_AWS_CALL_BUDGET, AwsCallBudget, AwsClients
from heymarket_bridge.domain.operations import OutgoingMessage
from heymarket_bridge.settings import SyncSettings
from heymarket_local.template import StackTemplate
from tests.doubles.sqs_client import ThrottlingSqs, UnansweringSqs

# What the ingest function still does after a call has failed: answer 503 (milliseconds), with a wide margin for a
# cold start's imports (about 0.5 s, README "Performance").
ROOM_FOR_THE_ANSWER_S = 3.0


def test_one_aws_call_fails_early_enough_for_the_ingest_function_to_answer_503() -> None:
    timeout_s = StackTemplate.load().function("IngestFunction").timeout_s

    assert DEFAULT_AWS_CALL_BUDGET.longest_call_s + ROOM_FOR_THE_ANSWER_S <= timeout_s


def test_one_aws_call_fits_the_time_the_sync_function_keeps_for_its_dead_letters() -> None:
    reserve_s = SyncSettings.from_env(
        {"HEYMARKET_SECRET_ARN": "s", "DLQ_URL": "d", "QUEUE_URL": "q"}
    ).deadline_reserve_s

    assert DEFAULT_AWS_CALL_BUDGET.longest_call_s <= reserve_s


def test_the_longest_call_counts_every_attempt_and_botocores_backoff() -> None:
    # 3 attempts of 2 + 3 s, with backoffs of at most 1 s and 2 s between them
    assert AwsCallBudget(connect_timeout_s=2, read_timeout_s=3, max_attempts=3).longest_call_s == 18


def test_aws_clients_get_the_budget_instead_of_botocores_60_second_defaults() -> None:
    config = AwsClients(os.environ).client("sqs").meta.config

    assert (config.connect_timeout, config.read_timeout) == (1.0, 1.0)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}


MESSAGES = [OutgoingMessage(f'{{"n": {n}}}') for n in range(25)]  # three SendMessageBatch calls' worth


def test_the_sqs_sender_stops_at_the_first_call_sqs_does_not_answer() -> None:
    # Given an SQS that answers nothing
    sqs = UnansweringSqs()

    # When 25 messages are sent
    unsent = SqsBatchSender(sqs, "https://queue", sleep=lambda _: None).send(MESSAGES)

    # Then all are reported unsent after one call, not after every chunk and attempt had waited its timeout
    assert unsent == list(range(25))
    assert sqs.calls == 1


def test_the_sqs_sender_still_retries_calls_sqs_refuses() -> None:
    sqs = ThrottlingSqs()

    unsent = SqsBatchSender(sqs, "https://queue", attempts=3, sleep=lambda _: None).send(MESSAGES)

    assert unsent == list(range(25))
    assert sqs.calls == 3 * 3
