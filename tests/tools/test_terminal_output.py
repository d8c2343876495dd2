"""Every terminal line of the tools escapes the control characters a sender chose (ESC sequences a terminal would
run): the local stack's activity lines, `explain`, the rich tables of the operator commands, the error line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from heymarket_bridge_tools import cli
from heymarket_bridge_tools.commands.local_session import _ActivityView
from heymarket_bridge_tools.console import console, table
from heymarket_bridge_tools.terminal import terminal_text

RETITLE = "\x1b]0;owned\x07"  # OSC 0: sets the terminal window's title
RED = "\x1b[31m"


def test_terminal_text_escapes_controls_and_keeps_line_breaks() -> None:
    assert terminal_text(f"a{RED}b\nc{RETITLE}") == "a\\x1b[31mb\nc\\x1b]0;owned\\x07"


def test_a_local_activity_line_with_a_source_name_full_of_escapes_is_printed_escaped() -> None:
    out, err = io.StringIO(), io.StringIO()
    view = _ActivityView(out, err)

    view.line(f"12:00:01  webhook  gen{RETITLE}eric  404  unknown source")
    view.note(f"note {RED}")

    assert "\x1b" not in out.getvalue() + err.getvalue()
    assert "gen\\x1b]0;owned\\x07eric" in out.getvalue()


def test_explain_prints_a_payload_field_with_escapes_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"phone": "+14155550132", "first": f"Ann{RETITLE}", "last": f"{RED}Lee"}))

    assert cli.main(["explain", "generic", str(body), "--body"]) == 0

    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "Ann\\x1b]0;owned\\x07" in out


def test_the_rich_console_escapes_text_and_table_cells(capsys: pytest.CaptureFixture[str]) -> None:
    listing = table("message", "reason")
    listing.add_row(f"m{RETITLE}", f"bad {RED}value")

    console().print(f"dead letter {RED}", markup=False)
    console().print(listing)

    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "m\\x1b]0;owned\\x07" in out


def test_an_error_line_naming_a_senders_text_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    cli.main(["sources", "show", f"hub{RETITLE}spot", "--local"])

    assert "\x1b" not in capsys.readouterr().err
