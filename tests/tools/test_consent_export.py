"""The operator's `consent export` (heymarket_bridge_tools.commands.consent): the file it writes and the command over a
stack's consent record table (moto DynamoDB built from the template; the record itself:
tests/integration/test_consent_log.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge.adapters.aws.consent_log import DynamoDbConsentLog, read_changes
from heymarket_bridge_tools.commands.consent import write_changes
from tests.integration.test_consent_log import ANN, BOB, NOW, change, table

__all__ = ["table"]  # the moto table fixture, shared with the consent record's tests


def stack_target(client: Any, outputs: dict[str, str]) -> Any:
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target

    return Target("stack test (us-east-1)", StackQueues("q", "d", "", ""), lambda service: client, "", "test", outputs)


@pytest.mark.parametrize("output_format", ["jsonl", "csv"])
def test_the_export_file_holds_every_field_and_is_readable_by_its_owner_only(
    table: tuple[Any, str], tmp_path: Path, output_format: str
) -> None:
    client, name = table
    DynamoDbConsentLog(name, client, clock=lambda: NOW).record([change()])
    path = tmp_path / f"record.{output_format}"

    count = write_changes(path, read_changes(client, name), output_format)

    assert count == 1
    assert path.stat().st_mode & 0o777 == 0o600
    if output_format == "jsonl":
        assert [json.loads(line) for line in path.read_text().splitlines()] == [change().to_dict()]
    else:
        [row] = list(csv.DictReader(path.open()))
        expected = {
            k: ("true" if v is True else "false" if v is False else str(v)) for k, v in change().to_dict().items()
        }
        assert row == expected


def test_the_export_command_writes_one_phones_changes_from_the_stacks_table(
    table: tuple[Any, str], tmp_path: Path, monkeypatch: Any
) -> None:
    from heymarket_bridge_tools.cli import main

    client, name = table
    DynamoDbConsentLog(name, client, clock=lambda: NOW).record([change(ANN, n=1), change(BOB, n=2)])
    target = stack_target(client, {"ConsentRecordTableName": name})
    monkeypatch.setattr("heymarket_bridge_tools.commands.consent.resolve", lambda **where: target)
    path = tmp_path / "ann.jsonl"

    code = main(["consent", "export", str(path), "--phone", "(510) 555-0123", "--stack-name", "test"])

    assert code == 0
    assert [json.loads(line)["phone"] for line in path.read_text().splitlines()] == [ANN]


def test_the_export_command_says_when_the_stack_has_no_consent_record(
    table: tuple[Any, str], tmp_path: Path, monkeypatch: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from heymarket_bridge_tools.cli import main

    client, _ = table
    monkeypatch.setattr("heymarket_bridge_tools.commands.consent.resolve", lambda **where: stack_target(client, {}))

    code = main(["consent", "export", str(tmp_path / "x.jsonl"), "--stack-name", "test"])

    assert code == 2
    assert "has no consent record (ConsentRecordTableName)" in capsys.readouterr().err
