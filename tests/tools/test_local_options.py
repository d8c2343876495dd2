"""`heymarket-bridge local`'s options read before anything listens: the tunnel's URL, the webhook secrets file."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from heymarket_bridge_tools.commands import local
from heymarket_bridge_tools.errors import CliError
from heymarket_bridge_tools.signing import demo_webhook_secrets
from tests.support import ROOT


@pytest.mark.parametrize(
    "pasted", ["https://abc.trycloudflare.com/webhooks/", "https://abc.trycloudflare.com/webhooks/hubspot"]
)
def test_a_pasted_webhook_url_is_refused_naming_the_origin_to_give(pasted: str) -> None:
    # When the operator pastes a webhook URL (a path) as the tunnel's URL, then local refuses it before starting,
    # naming the URL to give instead (the option's check, called as click calls it: a miss would start a stack)
    with pytest.raises(click.BadParameter, match=r"without a path: https://abc\.trycloudflare\.com "):
        local._public_url(None, None, pasted)  # type: ignore[arg-type]


def test_the_tunnel_origin_is_taken_without_its_trailing_slash() -> None:
    assert local._public_url(None, None, "https://abc.trycloudflare.com/") == "https://abc.trycloudflare.com"  # type: ignore[arg-type]


def test_behind_a_tunnel_a_source_the_file_does_not_name_gets_a_random_token_not_the_documented_one(
    tmp_path: Path,
) -> None:
    # Given a secrets file naming only Typeform
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"typeform": "my-typeform-secret"}))

    # When local reads it for a stack a tunnel exposes, and for one on 127.0.0.1 only
    public = local._webhook_secrets(file, public=True)
    private = local._webhook_secrets(file, public=False)

    # Then the named entry is kept; behind the tunnel no other source has its public demo-<source>-secret
    assert public is not None
    assert private is not None
    assert public["typeform"] == private["typeform"] == "my-typeform-secret"
    documented = demo_webhook_secrets(ROOT / "events" / "webhook_secrets.json") | {
        name: f"demo-{name}-secret" for name in public
    }
    guessable = [name for name, token in public.items() if name != "typeform" and token == documented.get(name)]
    assert guessable == []
    assert len(public["generic"]) >= 32
    # and on 127.0.0.1 only, the demo's documented tokens still sign the samples
    assert private["generic"] == "demo-generic-secret"


def test_a_secrets_file_may_hold_scoped_tokens_as_the_deployed_secret_does(tmp_path: Path) -> None:
    scoped = {"token": "p" * 40, "scopes": {"contacts_per_minute": 30}}
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"generic": ["b" * 40, scoped]}))

    read = local._webhook_secrets(file, public=False)

    assert read is not None
    assert read["generic"] == ["b" * 40, scoped]


@pytest.mark.parametrize("entry", [{"tok": "x"}, "  ", {"token": "x", "scopes": {"admin": True}}])
def test_a_secrets_file_entry_the_ingest_function_cannot_read_is_refused(tmp_path: Path, entry: object) -> None:
    file = tmp_path / "secrets.json"
    file.write_text(json.dumps({"generic": entry}))

    with pytest.raises(CliError, match="'generic' entry cannot be read"):
        local._webhook_secrets(file, public=False)
