"""`sources show` puts the main entry's value (or "<the 'x' entry of the webhook secret>") where a page writes
<SECRET_ENTRY>: a page never writes it as a place to store something ("store it as `x` in `<SECRET_ENTRY>`" read
"in `<the 'meta' entry ...>`"); and Meta's steps run `sources add meta` once the App Secret and the Page token it asks
for are in hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from heymarket_bridge_tools.source_setup import vendor_steps

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(path.stem for path in (DOCS / "sources").glob("*.md") if path.stem != "index")


@pytest.mark.parametrize("source", PAGES)
def test_the_entry_placeholder_is_never_written_as_a_place_to_store_into(source: str) -> None:
    steps = vendor_steps(
        source, "https://x.example/webhooks/" + source, f"<the {source!r} entry of the webhook secret>"
    )

    assert steps is None or not re.search(r"\bin `?<the '", steps), steps


def test_meta_s_steps_obtain_the_app_secret_and_page_token_before_sources_add() -> None:
    steps = vendor_steps("meta", "https://x.example/webhooks/meta", "<the 'meta' entry of the webhook secret>")
    assert steps is not None
    numbered = re.findall(r"^(\d+)\. (.*(?:\n {3,}.*)*)", steps, re.MULTILINE)
    step_of = {
        what: next(int(n) for n, text in numbered if needle in text)
        for what, needle in {
            "app secret": "Copy the **App Secret**",
            "page token": "long-lived Page access token**",
            "add": "sources add meta",
            "subscribe": "Verify and",
        }.items()
    }

    assert step_of["app secret"] < step_of["add"]
    assert step_of["page token"] < step_of["add"]
    assert step_of["add"] < step_of["subscribe"]  # the verify token sources add issues is typed there
