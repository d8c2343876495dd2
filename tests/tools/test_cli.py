"""The `heymarket-bridge` command as a user meets it: help, version, and one clear line for every failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
from moto import mock_aws

from heymarket_bridge_tools import cli
from tests.support import ROOT

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tools"), str(ROOT / "layers")])}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("heymarket-bridge: error: ")
    return lines[0]


def all_commands() -> list[tuple[str, click.Command]]:
    context = click.Context(cli.root)
    found = []
    for name in cli.COMMANDS:
        command = cli.root.get_command(context, name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", command.commands[sub]) for sub in command.commands]
    return found


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.startswith("heymarket-bridge ")


@pytest.mark.parametrize("name", [name for name, _ in all_commands()])
def test_every_command_has_a_description_and_an_example(name: str) -> None:
    command = dict(all_commands())[name]
    assert command.help
    assert len(command.help.split()) >= 5
    if not isinstance(command, click.Group):
        assert command.epilog
        assert "Examples:" in command.epilog
        assert "heymarket-bridge " in command.epilog


def test_help_imports_neither_boto3_nor_the_local_stack() -> None:
    probe = (
        "import sys; from heymarket_bridge_tools.cli import main; code = main(['--help']); "
        "print(sorted(m for m in ('boto3', 'moto', 'yaml', 'rich', 'heymarket_bridge') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "local", "--api-port", "99999")
    assert code == 2
    assert "99999 is not in the range 0<=x<=65535" in err
    assert "Traceback" not in err


def test_without_a_region_a_deployed_stack_command_says_to_pass_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    code, _, err = run(capsys, "dlq", "list", "--stack-name", "heymarket-bridge")
    assert code == 2
    assert "no AWS region: pass --region" in one_error_line(err)


@mock_aws
def test_aws_region_names_the_region_though_boto3_reads_only_aws_default_region(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")

    code, _, err = run(capsys, "status", "--stack-name", "no-such-stack")

    assert code == 2
    assert "no stack named 'no-such-stack' in eu-west-1" in one_error_line(err)


@mock_aws
def test_a_stack_that_does_not_exist_is_named_with_its_region(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", "--stack-name", "no-such-stack", "--region", "eu-west-1")
    assert code == 2
    assert "no stack named 'no-such-stack' in eu-west-1" in one_error_line(err)


@mock_aws
def test_a_stack_that_is_not_a_bridge_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("cloudformation").create_stack(
        StackName="other",
        TemplateBody=json.dumps({"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}),
    )
    code, _, err = run(capsys, "dlq", "show", "--stack-name", "other", "--region", "us-east-1")
    assert code == 2
    assert "is it a heymarket-bridge stack" in one_error_line(err)


def test_without_a_running_local_stack_the_commands_say_how_to_start_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "status")
    assert code == 2
    assert "no running local stack" in one_error_line(err)


def test_local_is_a_flag_that_leaves_the_next_argument_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "dlq", "export", "--local", "out.jsonl")
    assert code == 2
    assert "no running local stack" in one_error_line(err)  # not "missing argument FILE"


@pytest.mark.parametrize(("path", "expected"), [("missing.json", "does not exist"), (".", "is a directory")])
def test_send_names_a_file_it_cannot_read(capsys: pytest.CaptureFixture[str], path: str, expected: str) -> None:
    code, _, err = run(capsys, "send", "shopify", "--file", path)
    assert code == 2
    assert expected in err
    assert "Traceback" not in err


def test_an_unknown_source_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "send", "mailchimp")
    assert code == 2
    assert "'generic'" in err
    assert "'salesforce'" in err


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**where: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", broken)
    code, _, err = run(capsys, "status")
    assert code == 1
    assert "unexpected error (RuntimeError: boom); run again with --debug" in one_error_line(err)

    code, _, err = run(capsys, "--debug", "status")
    assert code == 1
    assert "Traceback" in err
    assert "RuntimeError: boom" in err


def test_without_the_local_extra_the_operator_commands_work_and_local_says_what_to_install(tmp_path: Path) -> None:
    # Given an install without moto and PyYAML (the `local` extra): imports of them fail
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('moto', 'yaml', 'werkzeug'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    env = {**ENV, "PYTHONPATH": os.pathsep.join([str(tmp_path), ENV["PYTHONPATH"]])}

    def bridge(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "heymarket_bridge_tools.cli", *args]
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, check=False)

    for args in (["--help"], ["dlq", "--help"], ["import", "--help"], ["samples"], ["local", "--help"]):
        assert bridge(*args).returncode == 0, args
    status = bridge("status")
    assert status.returncode == 2
    assert "no running local stack" in status.stderr
    local = bridge("local")
    assert local.returncode == 1
    assert "pip install 'heymarket-bridge[local]'" in local.stderr
    assert "Traceback" not in local.stderr + status.stderr


def test_an_installation_without_the_project_files_asks_for_template(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an installation that is neither a checkout nor a built package carrying the project's template
    monkeypatch.setattr("heymarket_local.project_files.find_project", lambda: None)

    code, _, err = run(capsys, "demo")

    assert code == 2
    assert "pass --template" in one_error_line(err)


def test_debug_after_the_command_shows_the_traceback_too(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**where: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr("heymarket_bridge_tools.commands.send.resolve", broken)

    code, _, err = run(capsys, "send", "typeform", "--debug")

    assert code == 1
    assert "No such option" not in err
    assert "Traceback" in err
    assert "heymarket-bridge: error: unexpected error (RuntimeError: boom)" in err


def test_debug_is_accepted_by_the_subcommands_of_a_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    code, _, err = run(capsys, "dlq", "list", "--debug")

    assert code == 2
    assert "no running local stack" in err
    assert "No such option" not in err


def test_the_demo_s_own_errors_are_one_line_on_stderr_in_the_command_s_style(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "demo", "--events", str(tmp_path))

    assert code == 2
    assert out == ""
    assert "no HTTP API sample events under" in one_error_line(err)


def test_an_export_that_cannot_be_written_names_the_file_asked_for_not_a_temporary_one(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target
    from tests.doubles.sqs_model import SqsModel

    sqs = SqsModel()
    sqs.fill("d", ["{}"])
    target = Target("local stack", StackQueues("q", "d"), lambda service: sqs, "http://127.0.0.1:3000")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o500)
    destination = "/proc/out.jsonl" if os.geteuid() == 0 else str(readonly / "out.jsonl")  # root writes anywhere else

    code, _, err = run(capsys, "dlq", "export", destination)

    line = one_error_line(err)
    assert code == 1
    assert line.startswith(f"heymarket-bridge: error: {destination}: ")
    assert ".tmp" not in line
    assert sqs.calls == 0  # refused before reading a letter


def test_a_redrive_set_option_without_a_value_is_a_usage_error_before_any_letter_is_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target
    from tests.doubles.sqs_model import SqsModel

    sqs = SqsModel()
    target = Target("local stack", StackQueues("q", "d"), lambda service: sqs, "http://127.0.0.1:3000")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)

    code, _, err = run(capsys, "dlq", "redrive", "--set", "phone")

    assert code == 2
    assert "FIELD=VALUE" in one_error_line(err)
    assert sqs.calls == 0


@pytest.mark.parametrize("field", ["Phone", "mobile", "foo", "name", "custom."])
def test_a_redrive_set_option_naming_an_unknown_field_is_a_usage_error_listing_the_accepted_ones(
    field: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from heymarket_bridge_tools.ops import StackQueues
    from heymarket_bridge_tools.target import Target
    from tests.doubles.sqs_model import SqsModel

    sqs = SqsModel()
    target = Target("local stack", StackQueues("q", "d"), lambda service: sqs, "http://127.0.0.1:3000")
    monkeypatch.setattr("heymarket_bridge_tools.commands.operate.resolve", lambda **where: target)

    code, _, err = run(capsys, "dlq", "redrive", "--set", f"{field}=+15105550123")

    line = one_error_line(err)
    assert code == 2
    assert repr(field) in line
    assert "phone, first, last" in line
    assert "custom.<id>" in line
    assert sqs.calls == 0


def test_local_refuses_an_override_value_cut_by_an_unquoted_space(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a value with a space not quoted (sam would keep "Preferred" and drop the rest without a word)
    code, _, err = run(capsys, "local", "--parameter-overrides", "Title=Preferred clinic")
    # Then local refuses it before starting anything, naming the text and how to quote
    assert code == 2
    line = one_error_line(err)
    assert "'clinic' is not a KEY=VALUE pair" in line
    assert "in quotes" in line


@pytest.mark.parametrize("url", ["http://example.trycloudflare.com", "https://example.ngrok.app/?x=1", "example.com"])
def test_local_refuses_a_public_url_that_is_not_a_tunnel_s_https_url(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    code, _, err = run(capsys, "local", "--public-url", url)
    assert code == 2
    assert "--public-url" in err
    assert "https" in err


def test_local_help_shows_how_to_quote_a_mapping_for_parameter_overrides(capsys: pytest.CaptureFixture[str]) -> None:
    from heymarket_bridge_tools.parameter_overrides import parse_overrides

    code, out, _ = run(capsys, "local", "--help")
    assert code == 0
    assert "as for `sam deploy`" not in out  # the old help: it split on every space
    example = next(line for line in out.splitlines() if "Preferred clinic" in line)
    # The example, as the shell passes it, reads back to a JSON mapping whose title keeps its space.
    import shlex

    words = shlex.split(example.strip())
    value = words[words.index("--parameter-overrides") + 1]
    assert json.loads(parse_overrides([value])["SourceMappings"]) == {
        "typeform": {"custom": {"Preferred clinic": "clinic"}}
    }
