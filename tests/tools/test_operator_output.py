"""What the operator sees: local's activity lines, masked DLQ errors, state files no second stack can clobber,
and sandbox options built from SandboxConfig's fields."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from heymarket_bridge_tools.dlq_letters import SHOWN_ERROR_CHARACTERS, mask_text
from heymarket_bridge_tools.errors import CliError
from heymarket_bridge_tools.sandboxopts import apply_options, config_from_options, sandbox_options
from heymarket_local.activity import batch_line, webhook_line
from heymarket_local.api import ApiExchange
from heymarket_local.poller import BatchResult
from heymarket_local.state import read_state, remove_state, running_stacks, state_path, write_state

STATE = {"api_url": "http://127.0.0.1:3000", "aws_endpoint_url": "x", "queue_url": "q", "dlq_url": "d"}


def exchange(status: int, reply: object) -> ApiExchange:
    body = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
    return ApiExchange(0.0, "POST", "/webhooks/shopify", {"source": "shopify"}, status, body, 0.01)


def test_a_webhook_line_names_source_status_and_each_rejection_reason() -> None:
    line = webhook_line(exchange(202, {"accepted": 1, "rejected": [{"index": 1, "errors": ["email is not valid"]}]}))
    assert "webhook  shopify" in line
    assert "202  1 accepted, 1 rejected: #1 email is not valid" in line


def test_a_refused_webhook_line_gives_the_reason() -> None:
    line = webhook_line(exchange(401, {"error": {"code": "unauthorized", "message": "bad signature"}}))
    assert line.endswith("401  refused: unauthorized: bad signature")


def test_a_function_failure_line_says_why_api_gateway_answered_500() -> None:
    failed = ApiExchange(
        0.0,
        "POST",
        "/webhooks/generic",
        {"source": "generic"},
        500,
        b'{"message":"Internal Server Error"}',
        11.0,
        "IngestFunction failed: FunctionTimedOut: ran 11.0 s",
    )
    assert webhook_line(failed).endswith(
        "500  Internal Server Error: IngestFunction failed: FunctionTimedOut: ran 11.0 s"
    )


def test_a_batch_line_counts_delivered_retried_dead_lettered_and_requests() -> None:
    records = tuple({"messageId": str(n)} for n in range(3))
    result = BatchResult(records, frozenset({"2"}))  # type: ignore[arg-type]
    summary = {"delivered": 1, "dead_lettered": 1, "heymarket_requests": 2}
    assert batch_line(result, summary).endswith(
        "batch of 3    1 delivered, 1 retried, 1 dead-lettered, 2 Heymarket requests"
    )


def test_a_batch_line_does_not_say_heymarket_refused_what_the_bridge_may_have_refused_itself() -> None:
    records = tuple({"messageId": str(n)} for n in range(2))
    summary = {"delivered": 0, "rejected": 2, "dead_lettered": 2, "heymarket_requests": 0}
    assert batch_line(BatchResult(records, frozenset()), summary).endswith(  # type: ignore[arg-type]
        "batch of 2    0 delivered, 2 refused (dead letters with the reason), 0 retried, 2 dead-lettered, "
        "0 Heymarket requests"
    )


def test_a_batch_line_says_how_many_were_put_back_to_wait_for_a_configuration_fix() -> None:
    records = tuple({"messageId": str(n)} for n in range(2))
    summary = {"delivered": 0, "waiting": 2, "dead_lettered": 0, "heymarket_requests": 1}
    assert batch_line(BatchResult(records, frozenset()), summary).endswith(  # type: ignore[arg-type]
        "batch of 2    0 delivered, 0 retried, 2 put back to wait (Heymarket unavailable or a configuration fix: "
        "HeymarketUnavailableAlarm, HeymarketConfigurationAlarm), 0 dead-lettered, "
        "1 Heymarket request"
    )


def test_a_batch_line_does_not_credit_heymarket_with_refusals_the_bridge_made_itself() -> None:
    # The sync function's `rejected` counts contacts Heymarket refused and those the bridge's own checks refused
    # before any request (issue 24: "2 refused by Heymarket" for letters the bridge made).
    records = tuple({"messageId": str(n)} for n in range(2))
    summary = {"delivered": 0, "rejected": 2, "dead_lettered": 2, "heymarket_requests": 0}
    line = batch_line(BatchResult(records, frozenset()), summary)  # type: ignore[arg-type]
    assert "refused by Heymarket" not in line
    assert "2 refused (dead letters with the reason)" in line


def test_an_error_text_is_masked_down_to_what_finds_the_contact() -> None:
    contact = {"phone": "15105551234", "first": "Grace", "email": "grace@example.com"}
    text = "contact Grace (grace@example.com, +1 510 555 1234) already exists"
    masked = mask_text(text, contact)
    assert "Grace" not in masked
    assert "grace@example.com" not in masked
    assert "555 1234" not in masked
    assert "g***@example.com" in masked
    assert "1234" in masked


def test_a_state_file_is_private_and_only_its_own_process_removes_it(tmp_path: Path) -> None:
    path = state_path(3000, tmp_path)
    write_state(path, STATE)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_state(path).pid == os.getpid()

    other = {**STATE, "pid": 1}  # a second stack's file (pid 1 is always alive)
    path.write_text(json.dumps(other))
    remove_state(path)
    assert path.exists()


def test_the_state_of_a_stack_that_died_is_ignored(tmp_path: Path) -> None:
    dead = state_path(3001, tmp_path)
    dead.write_text(json.dumps({**STATE, "pid": 2**22 + 12345}))
    alive = state_path(3000, tmp_path)
    write_state(alive, STATE)
    assert [state.path for state in running_stacks(tmp_path)] == [alive]


@dataclasses.dataclass(frozen=True)
class FutureSandboxConfig:
    fail_rate: float = 0.0
    answer_shape: str = dataclasses.field(
        default="array", metadata={"help": "Shape of search answers.", "choices": ("array", "object")}
    )
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.fail_rate <= 1:
            raise ValueError("fail_rate must be a number between 0 and 1")


def command() -> click.Command:
    options = sandbox_options(FutureSandboxConfig, prefix="sandbox-")

    @click.command()
    @lambda function: apply_options(function, options)
    def run(**values: object) -> None:
        click.echo(repr(config_from_options(FutureSandboxConfig, options, values)))

    return run


def test_a_new_sandbox_setting_becomes_an_option_with_its_help_and_choices() -> None:
    result = CliRunner().invoke(command(), ["--help"])
    assert "--sandbox-answer-shape [array|object]" in result.output
    assert "Shape of search answers." in result.output

    result = CliRunner().invoke(command(), ["--sandbox-answer-shape", "object", "--sandbox-seed", "none"])
    assert result.output.strip() == "FutureSandboxConfig(fail_rate=0.0, answer_shape='object', seed=None)"


def test_a_sandbox_setting_out_of_range_names_the_option() -> None:
    result = CliRunner().invoke(command(), ["--sandbox-fail-rate", "2"])
    assert isinstance(result.exception, CliError)
    assert result.exception.message == "invalid sandbox setting: --sandbox-fail-rate must be a number between 0 and 1"


@pytest.mark.parametrize("value", ["1.5x"])
def test_a_sandbox_setting_of_the_wrong_type_is_a_usage_error(value: str) -> None:
    result = CliRunner().invoke(command(), ["--sandbox-fail-rate", value])
    assert result.exit_code == 2
    assert "is not a valid float" in result.output


def test_a_contact_accepted_with_a_warning_is_shown_as_accepted_not_rejected() -> None:
    warned = {
        "index": 0,
        "accepted": True,
        "dropped": ["email"],
        "errors": ["email is not a valid address"],
        "warnings": ["email is not a valid address: the contact was queued without it"],
    }
    line = webhook_line(exchange(202, {"accepted": 1, "rejected": [warned]}))
    assert line.endswith(
        "202  1 accepted (1 with a warning: #0 email is not a valid address: the contact was queued without it)"
    )


def test_the_live_status_line_keeps_the_heymarket_request_count_on_an_80_column_terminal() -> None:
    import io

    from rich.console import Console

    from heymarket_bridge_tools.commands.local_session import status_line, status_renderable
    from heymarket_local.poller import PollerStats
    from heymarket_local.stack import StackStatus

    busy = StackStatus(12_345, 300, 17, PollerStats(invocations=4_321), 48_000, 9_876)
    screen = io.StringIO()

    Console(file=screen, width=80, force_terminal=False).print(status_renderable(status_line(busy)))

    assert "9876 Heymarket requests" in " ".join(screen.getvalue().split())
    assert "…" not in screen.getvalue()


def test_status_lists_the_stack_s_own_alarms_not_those_of_a_stack_named_like_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from heymarket_bridge_tools import cli
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target
    from tests.doubles.sqs_model import SqsModel

    alarms = {"hb-DeadLetterQueueAlarm-1A": "OK", "hb-prod-DeadLetterQueueAlarm-2B": "ALARM"}
    resources = {
        "hb": [("AWS::CloudWatch::Alarm", "hb-DeadLetterQueueAlarm-1A"), ("AWS::SQS::Queue", "https://q")],
        "hb-prod": [("AWS::CloudWatch::Alarm", "hb-prod-DeadLetterQueueAlarm-2B")],
    }

    class CloudFormation:
        def get_paginator(self, operation: str) -> CloudFormation:
            assert operation == "list_stack_resources"
            return self

        def paginate(self, StackName: str) -> list[dict[str, object]]:
            summaries = [{"ResourceType": kind, "PhysicalResourceId": name} for kind, name in resources[StackName]]
            return [{"StackResourceSummaries": summaries}]

    class CloudWatch:
        def describe_alarms(self, AlarmNames: list[str] = (), AlarmNamePrefix: str = "") -> dict[str, object]:  # type: ignore[assignment]
            chosen = [n for n in alarms if n in AlarmNames or (AlarmNamePrefix and n.startswith(AlarmNamePrefix))]
            return {"MetricAlarms": [{"AlarmName": n, "StateValue": alarms[n]} for n in chosen]}

        def get_metric_statistics(self, **query: object) -> dict[str, object]:
            return {"Datapoints": []}

    clients = {"sqs": SqsModel(), "cloudformation": CloudFormation(), "cloudwatch": CloudWatch()}
    target = Target("stack hb (us-east-1)", StackQueues("q", "d"), clients.__getitem__, "", stack_name="hb")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)

    assert cli.main(["status", "--stack-name", "hb"]) == 0

    out = capsys.readouterr().out
    assert "hb-DeadLetterQueueAlarm-1A" in out
    assert "hb-prod" not in out


def test_a_long_error_is_shown_cut_with_a_phone_at_the_cut_still_masked() -> None:
    # Given an error text of a megabyte with a phone number across the point where it is cut
    text = "x" * (SHOWN_ERROR_CHARACTERS - 6) + " +1 510 555 1234 " + "y" * 1_000_000

    # When it is masked for an operator
    masked = mask_text(text)

    # Then it is cut, says so, and shows no more than the phone's last digits
    assert masked.endswith(" ...")
    assert len(masked) == SHOWN_ERROR_CHARACTERS + len(" ...")
    assert "510" not in masked


def test_status_counts_the_fetch_dlq_and_says_where_to_read_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Letters of leads that could not be fetched are in LeadFetchDeadLetterQueue, which `dlq list` does not read
    from heymarket_bridge_tools import cli
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target
    from tests.doubles.sqs_model import SqsModel

    sqs = SqsModel()
    sqs.send_message(QueueUrl="fetch-dlq", MessageBody='{"kind": "fetch_failed"}')
    target = Target("local stack", StackQueues("q", "d", fetch_dlq_url="fetch-dlq"), {"sqs": sqs}.__getitem__, "")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)

    assert cli.main(["status", "--local"]) == 0

    out = " ".join(capsys.readouterr().out.split())
    assert "fetch DLQ 1 lead(s) or appointment(s) not fetched (LeadFetchDeadLetterQueue)" in out
    assert "docs/operations/monitor.md" in out
