"""`heymarket-bridge doctor` and `check-credentials`: a stack checked end to end against the sandbox, read-only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from heymarket_bridge_tools import cli
from heymarket_bridge_tools.commands import setup
from heymarket_bridge_tools.doctor import check_credentials
from heymarket_bridge_tools.ops import StackQueues
from heymarket_local.template import StackTemplate
from heymarket_sandbox import HeymarketSandbox, SandboxConfig
from tests.tools.stack_target import moto_stack


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, StackQueues]]:
    with mock_aws():
        sqs, secretsmanager = boto3.client("sqs"), boto3.client("secretsmanager")
        resources = StackTemplate.load().provision(
            sqs,
            secretsmanager,
            webhook_secrets={"generic": "token"},
            heymarket_credentials={"secret_id": "sandbox-secret-id", "secret_key": "sandbox-secret-key"},
        )
        yield sqs, secretsmanager, StackQueues(resources.queue_url, resources.dlq_url, resources.heymarket_secret_arn)


# ------------------------------------------------------------------------------- the credentials (moved from test_ops)


def test_check_credentials_says_whether_heymarket_accepts_them(aws: tuple[Any, Any, StackQueues]) -> None:
    _, secretsmanager, queues = aws
    with HeymarketSandbox() as sandbox:
        ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)
        assert ok, message
        sandbox.rotate_credentials("someone-rotated-the-id", "and-the-key-without-telling-the-bridge")
        ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)
        assert not ok
        assert "401" in message
    secretsmanager.put_secret_value(
        SecretId=queues.heymarket_secret_arn, SecretString='{"secret_id": "REPLACE_ME", "secret_key": "REPLACE_ME"}'
    )
    ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, "http://127.0.0.1:9")
    assert not ok
    assert "REPLACE_ME" in message


def test_check_credentials_names_a_secret_that_is_not_json(aws: tuple[Any, Any, StackQueues]) -> None:
    _, secretsmanager, queues = aws
    secretsmanager.put_secret_value(SecretId=queues.heymarket_secret_arn, SecretString="secret_id=abc")
    with HeymarketSandbox() as sandbox:
        ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)
    assert not ok
    assert "is not JSON" in message


def test_check_credentials_prints_nothing_but_its_verdict(
    aws: tuple[Any, Any, StackQueues], capsys: pytest.CaptureFixture[str]
) -> None:
    _, secretsmanager, queues = aws
    secretsmanager.put_secret_value(
        SecretId=queues.heymarket_secret_arn, SecretString=json.dumps({"secret_id": "wrong", "secret_key": "short"})
    )
    with HeymarketSandbox() as sandbox:
        ok, _ = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)
    assert not ok
    captured = capsys.readouterr()
    assert captured.out + captured.err == ""


@pytest.mark.parametrize(
    ("endpoint", "what"),
    [
        ("POST /v2/contacts/search", "search contacts"),
        ("POST /v2/contacts", "write contacts"),
        ("POST /v1/tags", "read tags"),
        ("POST /v1/contact-fields", "read custom fields"),
        ("PUT /v2/lists/{id}", "write lists"),
    ],
)
def test_check_credentials_fails_when_heymarket_refuses_a_permission_the_bridge_uses(
    aws: tuple[Any, Any, StackQueues], endpoint: str, what: str
) -> None:
    # Given credentials Heymarket accepts, without access to one endpoint the bridge uses
    _, secretsmanager, queues = aws
    with HeymarketSandbox(SandboxConfig(forbidden_endpoints=(endpoint,))) as sandbox:
        # When they are checked
        ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)

    # Then the check fails, naming the permission
    assert not ok
    assert f"refuses what the bridge needs: {what} (" in message
    assert "403" in message


def test_check_credentials_changes_nothing_in_heymarket(aws: tuple[Any, Any, StackQueues]) -> None:
    _, secretsmanager, queues = aws
    with HeymarketSandbox() as sandbox:
        ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, sandbox.url)
        assert ok, message
        assert "granted: search contacts, write contacts, read tags, read custom fields, write lists" in message
        stats = sandbox.stats()
        held = (stats["contacts_written"], stats["contacts_stored"], stats["lists_stored"], stats["tags_stored"])
        assert held == (0, 0, 0, len(sandbox.config.account_tags))


# ------------------------------------------------------------------------------- the whole stack

SANDBOX = SandboxConfig(account_tags=((1, "VIP"), (2, "Newsletter")), custom_fields=((101, "Preferred clinic"),))


def doctor(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *,
    mappings: Any,
    secrets: dict[str, Any] | None = None,
    parameters: dict[str, str] | None = None,
    sandbox: SandboxConfig = SANDBOX,
) -> tuple[int, str, dict[str, int]]:
    """Run `doctor` on a moto stack with these mappings, webhook secrets and parameters, against a sandbox: its exit
    status, what it printed, and what the sandbox holds afterwards."""
    with HeymarketSandbox(sandbox) as heymarket:
        chosen = {"generic": "token"} if secrets is None else secrets
        with moto_stack(chosen, mappings=mappings, parameters=parameters, heymarket_url=heymarket.url) as target:
            monkeypatch.setattr(setup, "resolve", lambda **where: target)
            status = cli.main(["doctor", "--stack-name", "hb"])
        stats = heymarket.stats()
    return status, capsys.readouterr().out, stats


def test_a_stack_whose_mappings_name_what_the_account_holds_passes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = {
        "generic": {"custom": {"Preferred clinic": "clinic"}, "constants": {"tags": ["vip"], "lists": ["Spring"]}}
    }

    status, out, stats = doctor(monkeypatch, capsys, mappings=mappings)

    assert status == 0, out
    assert "OK    the credentials work" in out
    assert "constants.tags: tag 'vip' exists (id 1)" in out
    assert "custom.Preferred clinic: custom field 'Preferred clinic' exists (id 101)" in out
    assert "list 'Spring' is a list the bridge creates" in out
    assert "generic: configured" in out
    assert "all good" in out
    # read-only: nothing was written to Heymarket
    assert (stats["contacts_written"], stats["lists_stored"], stats["tags_stored"]) == (0, 0, 2)


def test_a_tag_name_the_account_lacks_fails_before_any_contact_is_dead_lettered(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(monkeypatch, capsys, mappings={"generic": {"constants": {"tags": ["Web lead"]}}})

    assert status == 1
    assert "FAIL  constants.tags: tag 'Web lead' is not a tag of this Heymarket account: every contact" in out
    assert "dead-lettered" in out


def test_with_create_missing_tags_a_tag_the_account_lacks_is_created_on_first_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(
        monkeypatch,
        capsys,
        mappings={"generic": {"constants": {"tags": ["Web lead"]}}},
        parameters={"CreateMissingTags": "true"},
    )

    assert status == 0, out
    assert "NOTE  constants.tags: tag 'Web lead' does not exist yet: the bridge creates it" in out


def test_a_custom_field_title_or_id_the_account_lacks_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mappings = {"typeform": {"custom": {"Shoe size": "shoe", "999": "other"}}}

    status, out, _ = doctor(monkeypatch, capsys, mappings=mappings, secrets={"typeform": "s"})

    assert status == 1
    assert "custom field 'Shoe size' is not a custom field title of this Heymarket account" in out
    assert "custom field id 999 is not among the account's custom fields" in out


def test_a_mapped_source_without_its_secret_entry_fails_and_an_open_one_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(
        monkeypatch,
        capsys,
        mappings={"hubspot": {"phone": "mobilephone"}, "jotform": {"phone": "q4"}},
        parameters={"AllowUnauthenticatedSources": "jotform"},
    )

    assert status == 1
    assert "FAIL  hubspot: the secret has no hubspot (the app's client secret" in out
    assert "sources add hubspot" in out
    assert "NOTE  jotform: open without a token (AllowUnauthenticatedSources)" in out
    not_set_up = next(
        line for line in out.splitlines() if "not set up (their deliveries are refused with 401): " in line
    )
    assert "calendly" in not_set_up.split(": ", 1)[1].split(", ")


def test_mappings_the_ingest_function_cannot_read_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(monkeypatch, capsys, mappings={"typefrom": {"phone": "x"}})

    assert status == 1
    assert "unknown source 'typefrom'" in out


def test_names_are_not_checked_with_credentials_heymarket_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = SandboxConfig(secret_id="another-id", secret_key="another-key")

    status, out, _ = doctor(
        monkeypatch, capsys, mappings={"generic": {"constants": {"tags": ["VIP"]}}}, sandbox=refused
    )

    assert status == 1
    assert "FAIL  the tags and custom fields the mappings name were not checked" in out


def test_check_credentials_stays_the_credentials_part_of_doctor(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with HeymarketSandbox(SANDBOX) as heymarket, moto_stack({}, heymarket_url=heymarket.url) as target:
        monkeypatch.setattr(setup, "resolve", lambda **where: target)
        assert cli.main(["check-credentials", "--stack-name", "hb"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("OK: the credentials work")
    assert "webhook secret" not in out


def test_the_doctor_prints_no_secret(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": "a-secret-token-value"})

    assert "a-secret-token-value" not in out
    assert "sandbox-secret-key" not in out
    assert json.dumps({}) not in out.splitlines()


def test_the_bulk_delete_is_reported_off_without_its_token_and_failing_with_a_shared_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(monkeypatch, capsys, mappings={})
    assert status == 0, out
    assert "NOTE  bulk delete: off (no 'deletes' entry)" in out

    status, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": "same", "deletes": "same"})
    assert status == 1
    assert "FAIL  bulk delete: the 'deletes' token is the same as the generic entry" in out
    assert "same" not in out.replace("the same as", "")

    status, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": "a", "deletes": "b"})
    assert status == 0, out
    assert "OK    bulk delete: on" in out


def test_a_half_set_up_source_no_mapping_names_is_a_note_with_a_hint_naming_the_stack(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Salesforce's URL token held but not its org id, and no mapping naming Salesforce
    status, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": "token", "salesforce": "t" * 32})

    # Then it is told (a note), not a failure, and the hint names the stack the command must act on
    assert status == 0, out
    assert "NOTE  salesforce: the secret has no salesforce_org_id" in out
    assert "`heymarket-bridge sources add salesforce --stack-name hb`" in out


def test_scoped_tokens_are_shown_by_their_scopes_never_their_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backend, public = "b" * 40, "p" * 40
    scoped = {"token": public, "scopes": {"contacts_per_minute": 30, "lists": ["Spring"]}}

    status, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": [backend, scoped]})

    assert status == 0, out
    assert "generic: configured" in out
    assert "2 tokens: unscoped; scoped (30 contacts/min, lists: 1, opt-in: no)" in out
    assert backend not in out
    assert public not in out


def test_an_entry_the_ingest_function_cannot_read_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = doctor(monkeypatch, capsys, mappings={}, secrets={"generic": {"tok": "x" * 32}})

    assert status == 1
    assert "FAIL  generic: the entry cannot be read" in out
    assert "x" * 32 not in out


def test_a_quiet_source_alarm_naming_no_known_source_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given QuietSourceAlarms with a misspelt source: no delivery ever counts for it, its alarm is always on
    _, out, _ = doctor(
        monkeypatch, capsys, mappings={}, parameters={"QuietSourceAlarms": "hubspot=6,hubsopt=24", "LogLevel": "INFO"}
    )

    assert "NOTE  hubsopt=24: no source is named 'hubsopt'" in out
    assert "hubspot=6: no source" not in out


def test_quiet_source_alarms_that_all_name_known_sources_are_ok(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = doctor(monkeypatch, capsys, mappings={}, parameters={"QuietSourceAlarms": "hubspot=6,meta=24"})

    assert "OK    watching hubspot=6, meta=24" in out
