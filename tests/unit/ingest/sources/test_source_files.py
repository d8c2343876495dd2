"""A new source is four files: its module, its sample event, its test, its README section. Forgetting one fails here.

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
CONNECT_SOURCES = README[README.index("\n## Connect your sources") : README.index("\n## How delivery works")]


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
def test_a_source_has_its_row_in_the_readme_s_connect_your_sources(name: str) -> None:
    assert re.search(rf"^\| `{name}` \|", CONNECT_SOURCES, re.MULTILINE), f"README: no | `{name}` | row"


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
