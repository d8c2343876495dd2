"""`local --sandbox-texts PHONE:KEYWORD`, as its help says (review 21, finding 11)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from heymarket_bridge_tools.sandboxopts import apply_options, config_from_options, sandbox_options
from heymarket_sandbox.config import SandboxConfig


def command() -> click.Command:
    options = sandbox_options(SandboxConfig, prefix="sandbox-")

    @click.command()
    @lambda function: apply_options(function, options)
    def run(**values: object) -> None:
        click.echo(repr(config_from_options(SandboxConfig, options, values).texts))

    return run


def test_texts_are_given_as_phone_keyword_repeated_once_per_text() -> None:
    result = CliRunner().invoke(
        command(), ["--sandbox-texts", "+15105550123:stop", "--sandbox-texts", "15105550177:START"]
    )

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "('15105550123:STOP', '15105550177:START')"


def test_a_text_that_is_not_phone_keyword_is_a_usage_error_naming_the_form() -> None:
    result = CliRunner().invoke(command(), ["--sandbox-texts", "15105550123:HELLO"])

    assert result.exit_code == 2
    assert "PHONE:KEYWORD" in result.output
