"""`heymarket-bridge sources`: each source's entries put into the webhook secret of the stack, read back whole."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from heymarket_bridge_tools import cli
from heymarket_bridge_tools.commands import setup
from heymarket_bridge_tools.source_setup import vendor_steps
from heymarket_bridge_tools.target import Target
from tests.tools.stack_target import WEBHOOK_BASE, held_secret, moto_stack


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    with moto_stack({"generic": "old-generic-token"}) as target:
        monkeypatch.setattr(setup, "resolve", lambda **where: target)
        yield target


def test_add_generates_the_token_of_an_entry_the_bridge_issues_and_prints_it_once(
    stack: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    # When the operator adds Typeform, whose secret the bridge chooses
    assert cli.main(["sources", "add", "typeform", "--stack-name", "hb"]) == 0

    # Then the secret holds a new 43-character token, printed once, and keeps the other entries
    secret = held_secret(stack)
    token = secret["typeform"]
    assert len(token) == 43
    assert secret["generic"] == "old-generic-token"
    out = capsys.readouterr().out
    assert out.count(token) == 1
    assert "Connect > Webhooks > Edit > Secret" in out
    assert f"webhook URL: {WEBHOOK_BASE}typeform" in out
    assert "5 minutes" in out


def test_a_token_that_rides_in_the_url_is_printed_in_the_url_to_paste(
    stack: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sources", "add", "jotform", "--stack-name", "hb"]) == 0

    assert f"{WEBHOOK_BASE}jotform?token={held_secret(stack)['jotform']}" in capsys.readouterr().out


def test_a_vendor_secret_is_read_from_a_file_and_never_printed(
    stack: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given HubSpot's client secret in a file (the vendor issues it)
    value = tmp_path / "hubspot.txt"
    value.write_text("  hubspot-client-secret-123\n")

    assert cli.main(["sources", "add", "hubspot", "--value-file", str(value), "--stack-name", "hb"]) == 0

    assert held_secret(stack)["hubspot"] == "hubspot-client-secret-123"
    assert "hubspot-client-secret-123" not in capsys.readouterr().out


def test_a_vendor_secret_is_read_from_stdin_when_it_is_not_a_terminal(
    stack: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("shpss_from_a_pipe\n"))

    assert cli.main(["sources", "add", "shopify", "--stack-name", "hb"]) == 0

    assert held_secret(stack)["shopify"] == "shpss_from_a_pipe"


def test_a_blank_vendor_value_changes_nothing(stack: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))

    assert cli.main(["sources", "add", "shopify", "--stack-name", "hb"]) == 2

    assert "shopify" not in held_secret(stack)


def test_salesforce_gets_a_url_token_and_the_org_id_the_vendor_shows(
    stack: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("00D000000000001EAA\n"))

    assert cli.main(["sources", "add", "salesforce", "--stack-name", "hb"]) == 0

    secret = held_secret(stack)
    assert secret["salesforce_org_id"] == "00D000000000001EAA"
    assert len(secret["salesforce"]) == 43


def test_add_refuses_a_source_set_up_already_and_rotate_replaces_its_token(
    stack: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sources", "add", "generic", "--stack-name", "hb"]) == 2
    assert held_secret(stack)["generic"] == "old-generic-token"
    assert "sources rotate generic" in capsys.readouterr().err

    assert cli.main(["sources", "rotate", "generic", "--stack-name", "hb"]) == 0

    token = held_secret(stack)["generic"]
    assert token != "old-generic-token"
    out = capsys.readouterr().out
    assert "The sender keeps the old value until you update it there" in out
    assert out.count(token) == 1


def test_rotate_refuses_a_source_that_is_not_set_up(stack: Target) -> None:
    assert cli.main(["sources", "rotate", "typeform", "--stack-name", "hb"]) == 2
    assert "typeform" not in held_secret(stack)


def test_an_unknown_source_is_a_usage_error_naming_the_sources(
    stack: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sources", "add", "typefrom", "--stack-name", "hb"]) == 2
    assert "typeform" in capsys.readouterr().err


def test_list_says_which_sources_are_set_up_with_their_urls_and_entries(
    stack: Target, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["sources", "list", "--stack-name", "hb"]) == 0

    out = capsys.readouterr().out
    assert "generic: configured" in out
    assert "hubspot: not set up" in out
    assert f"URL  {WEBHOOK_BASE}hubspot" in out
    assert "missing  salesforce_org_id" in out
    assert "old-generic-token" not in out


def test_show_prints_the_vendor_steps_with_the_stack_url_and_entry(tmp_path: Path) -> None:
    # Given a docs page whose setup section names the URL and the entry by placeholder
    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "typeform.md").write_text(
        "# Typeform\n\nIntro.\n\n## Set up in Typeform\n\n1. Paste <WEBHOOK_URL>.\n2. Secret: `<SECRET_ENTRY>`.\n"
        "\n### Test it\n\nSend.\n\n## Mapping\n\nNot this.\n"
    )

    steps = vendor_steps("typeform", "https://x.example/webhooks/typeform", "typeform", tmp_path)

    assert steps == (
        "## Set up in Typeform\n\n1. Paste https://x.example/webhooks/typeform.\n2. Secret: `typeform`.\n"
        "\n### Test it\n\nSend."
    )
    assert vendor_steps("hubspot", "u", "hubspot", tmp_path) is None


def test_show_without_a_docs_page_says_so_and_lists_the_entries(
    stack: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from heymarket_bridge_tools import source_setup

    monkeypatch.setattr(source_setup, "_docs_folder", lambda: tmp_path)

    assert cli.main(["sources", "show", "calendly", "--stack-name", "hb"]) == 0

    out = capsys.readouterr().out
    assert f"webhook URL: {WEBHOOK_BASE}calendly" in out
    assert "no vendor steps found (docs/sources/calendly.md" in out
    assert "calendly: the signing key of the webhook subscription" in out


def test_show_names_the_entry_unless_asked_to_reveal_its_value(
    stack: Target, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given the generic page's setup section, which writes the token into the URL
    from heymarket_bridge_tools import source_setup

    (tmp_path / "sources").mkdir()
    (tmp_path / "sources" / "generic.md").write_text(
        "# Generic\n\n## Set up in your sender\n\n1. Post to `<WEBHOOK_URL>?token=<SECRET_ENTRY>`.\n"
    )
    monkeypatch.setattr(source_setup, "_docs_folder", lambda: tmp_path)

    assert cli.main(["sources", "show", "generic", "--stack-name", "hb"]) == 0
    out = capsys.readouterr().out
    assert f"1. Post to `{WEBHOOK_BASE}generic?token=<the 'generic' entry of the webhook secret>`." in out
    assert "old-generic-token" not in out

    assert cli.main(["sources", "show", "generic", "--reveal", "--stack-name", "hb"]) == 0
    assert f"1. Post to `{WEBHOOK_BASE}generic?token=old-generic-token`." in capsys.readouterr().out


def test_the_bulk_delete_gets_a_token_of_its_own(stack: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sources", "add", "deletes", "--stack-name", "hb"]) == 0

    token = held_secret(stack)["deletes"]
    assert token not in ("", "old-generic-token")
    out = capsys.readouterr().out
    assert f"send it in the X-Bridge-Token header (or as a Bearer token): {token}" in out
    assert "webhook URL: https://abc.execute-api.us-east-1.amazonaws.com/contacts/delete" in out


@pytest.mark.parametrize(
    ("parameters", "base"),
    [
        ({"PublicBaseUrl": "https://abc.trycloudflare.com"}, "https://abc.trycloudflare.com"),
        ({"PublicBaseUrl": "http://127.0.0.1:3999"}, "http://127.0.0.1:3999"),
    ],
)
def test_a_local_stack_behind_a_tunnel_gives_senders_its_public_url(
    tmp_path: Path, parameters: dict[str, str], base: str
) -> None:
    # Given the state file of `local --public-url https://abc.trycloudflare.com` (its PublicBaseUrl) on port 3999
    from heymarket_bridge_tools.source_setup import source_url
    from heymarket_bridge_tools.target import local
    from heymarket_local.state import write_state

    state = tmp_path / "3999.json"
    write_state(
        state,
        {
            "api_url": "http://127.0.0.1:3999",
            "aws_endpoint_url": "http://127.0.0.1:9",
            "queue_url": "q",
            "dlq_url": "d",
            "parameters": parameters,
        },
    )

    # When the setup commands read the sender's URL, then it is the tunnel's; posts from here still go to 127.0.0.1
    target = local(state)
    assert source_url(target, "hubspot") == f"{base}/webhooks/hubspot"
    assert source_url(target, "deletes") == f"{base}/contacts/delete"
    assert target.api_url == "http://127.0.0.1:3999"


@pytest.mark.parametrize(
    ("source", "pasted", "refusal"),
    [
        ("salesforce", "00D 000000000001EAA", "a space"),
        ("salesforce", "00X000000000001EAA", "starting 00D"),
        ("salesforce", "00D00000000000", "15 or 18"),
        ("hubspot", "client secret copied with its label", "a space"),
        ("hubspot", "abc\x1b[31mdef", "control character"),
    ],
)
def test_a_vendor_value_the_source_can_check_is_refused_when_malformed_and_nothing_changes(
    stack: Target,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    source: str,
    pasted: str,
    refusal: str,
) -> None:
    before = held_secret(stack)
    lines = [pasted, "12345678"] if source != "salesforce" else [pasted]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))

    assert cli.main(["sources", "add", source, "--stack-name", "hb"]) == 2

    assert refusal in capsys.readouterr().err
    assert held_secret(stack) == before


def test_the_acuity_user_id_is_digits(stack: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key, user = tmp_path / "key", tmp_path / "user"
    key.write_text("acuity-api-key-0123456789")
    user.write_text("user 42")

    code = cli.main(
        ["sources", "add", "acuity", "--value-file", str(key), "--value-file", str(user), "--stack-name", "hb"]
    )

    assert code == 2
    assert "acuity_user_id" in capsys.readouterr().err


SCOPES = {"contacts_per_minute": 30, "lists": ["Spring"], "opt_in": False}


@pytest.mark.parametrize(
    "entry",
    [
        {"token": "o" * 40, "scopes": SCOPES},
        ["u" * 40, {"token": "o" * 40, "scopes": SCOPES}],
    ],
    ids=["object", "list"],
)
def test_rotate_replaces_each_token_and_keeps_the_scopes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], entry: Any
) -> None:
    with moto_stack({"generic": entry}) as target:
        monkeypatch.setattr(setup, "resolve", lambda **where: target)

        assert cli.main(["sources", "rotate", "generic", "--stack-name", "hb"]) == 0

        rotated = held_secret(target)["generic"]
    out = capsys.readouterr().out
    items, before = (rotated, entry) if isinstance(entry, list) else ([rotated], [entry])
    assert len(items) == len(before)
    tokens = [item if isinstance(item, str) else item["token"] for item in items]
    assert len(set(tokens)) == len(tokens)
    for new, old in zip(items, before, strict=True):
        if isinstance(old, dict):
            assert new["scopes"] == old["scopes"]
            assert new["token"] != old["token"]
        else:
            assert isinstance(new, str)
            assert new != old
    assert all(out.count(token) == 1 for token in tokens)


def test_list_shows_the_scopes_of_an_entry_never_its_tokens(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with moto_stack({"generic": ["u" * 40, {"token": "o" * 40, "scopes": SCOPES}]}) as target:
        monkeypatch.setattr(setup, "resolve", lambda **where: target)

        assert cli.main(["sources", "list", "--stack-name", "hb"]) == 0

    out = capsys.readouterr().out
    assert "generic: configured" in out
    assert "2 tokens: unscoped; scoped (30 contacts/min, lists: 1, opt-in: no)" in out
    assert "u" * 40 not in out
    assert "o" * 40 not in out


def test_the_next_hint_names_the_deployed_stack(stack: Target, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["sources", "add", "typeform", "--stack-name", "hb"]) == 0

    assert "`heymarket-bridge sources show typeform --stack-name hb`" in capsys.readouterr().out
