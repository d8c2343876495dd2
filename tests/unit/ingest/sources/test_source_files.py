"""A new source is four files: its module, its sample event, its test, its docs page (docs/sources/<name>.md, linked
from the README's "Connect your sources" table and listed in mkdocs.yml's nav). Forgetting one fails here.

The module is found by heymarket_bridge.ingest.sources (SOURCE_NAMES); everything else that plays or lists the
senders (signing, `send` and `samples`, the demo, its secrets, the tests that iterate the sources) reads the names
from there, so no other file names a new source.
"""

from __future__ import annotations

import json
import re

import pytest

from heymarket_bridge.ingest.sources.base import SOURCE_NAMES, default_sources
from tests.support import EVENTS, ROOT

SOURCE_TESTS = ROOT / "tests" / "unit" / "ingest" / "sources"
README = (ROOT / "README.md").read_text()
CONNECT_START = README.index("\n## Connect your sources")
CONNECT_SOURCES = README[CONNECT_START : README.index("\n## ", CONNECT_START + 1)]
SOURCE_PAGES = ROOT / "docs" / "sources"
MKDOCS = (ROOT / "mkdocs.yml").read_text()
# The sections of a source page, in order: `heymarket-bridge sources show` prints "## Set up in <Vendor>", with
# <WEBHOOK_URL> (and <SECRET_ENTRY>, where the sender holds a bridge-issued token) filled in.
PAGE_SECTIONS = ("## Set up in ", "## Credentials", "## What the bridge reads", "## Refusals", "## Try it locally")


def webhook_events(name: str) -> list[str]:
    """The events/<name>/*.json that are a webhook of `name` (POST /webhooks/<name>)."""
    return [
        path.stem
        for path in sorted((EVENTS / name).glob("*.json"))
        if json.loads(path.read_text()).get("rawPath") == f"/webhooks/{name}"
    ]


def test_there_are_sources() -> None:
    assert len(SOURCE_NAMES) >= 7


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_has_a_sample_webhook_event_and_send_knows_which(name: str) -> None:
    events = webhook_events(name)
    chosen = default_sources([name])[name].sample_event

    assert events, f"events/{name}/ holds no sample event posted to /webhooks/{name}"
    assert chosen in events if chosen else len(events) == 1, f"{name}: set sample_event to one of {events}"


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_has_its_own_test_file(name: str) -> None:
    assert (SOURCE_TESTS / f"test_{name}.py").is_file(), f"tests/unit/ingest/sources/test_{name}.py is missing"


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_has_its_row_in_the_readme_s_connect_your_sources_linking_its_page(name: str) -> None:
    row = rf"^\| \[`{name}`\]\(docs/sources/{name}\.md\) \|"
    assert re.search(row, CONNECT_SOURCES, re.MULTILINE), f"README: no | [`{name}`](docs/sources/{name}.md) | row"


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_has_its_docs_page_in_the_nav_and_in_the_sources_index(name: str) -> None:
    assert (SOURCE_PAGES / f"{name}.md").is_file(), f"docs/sources/{name}.md is missing"
    assert re.search(rf"^\s+- .*: sources/{name}\.md$", MKDOCS, re.MULTILINE), f"mkdocs.yml: no nav entry for {name}"
    assert f"]({name}.md)" in (SOURCE_PAGES / "index.md").read_text(), f"docs/sources/index.md: no link to {name}"


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_page_follows_the_convention_and_names_its_secret_entries(name: str) -> None:
    page = (SOURCE_PAGES / f"{name}.md").read_text()
    assert page.startswith("# "), f"docs/sources/{name}.md: starts with its '# <Vendor>' title"
    positions = [page.find(f"\n{heading}") for heading in PAGE_SECTIONS]
    assert -1 not in positions, f"{name}: sections {PAGE_SECTIONS}"
    assert positions == sorted(positions), f"{name}: sections {PAGE_SECTIONS}, in this order"
    setup = page[positions[0] : page.index("\n## ", positions[0] + 1)]
    assert "<WEBHOOK_URL>" in setup, f"{name}: the setup steps write the webhook URL as <WEBHOOK_URL>"
    credentials = page[positions[1] : positions[2]]
    for entry in default_sources([name])[name].credentials:
        assert f"`{entry.key}`" in credentials, f"{name}: ## Credentials does not name the entry {entry.key}"
    assert f"heymarket-bridge send {name}" in page[positions[4] :], f"{name}: ## Try it locally sends its sample"


@pytest.mark.parametrize("name", sorted(SOURCE_NAMES))
def test_a_source_names_the_secret_entries_it_reads_main_first(name: str) -> None:
    """The setup commands add and rotate a source's entries from this list: a source that names none could not be
    set up, and one whose first entry is not its own name would have its main secret put under the wrong key."""
    entries = default_sources([name])[name].credentials
    assert entries, f"{name} names no CredentialEntry"
    assert entries[0].key == name
    assert {entry.issued_by for entry in entries} <= {"bridge", "vendor"}
    assert len({entry.key for entry in entries}) == len(entries)
    assert all(entry.what.strip() for entry in entries)
