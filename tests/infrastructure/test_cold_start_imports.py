"""What each handler's import (its cold start) does not load: modules its first batch never needs (issue 27).

The cost of each, on python3.13, is in the commits that deferred it and in docs/performance.md; a module that comes
back into a handler's import makes this fail, so that it comes back on purpose (and the figures are measured again).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.coldstart import DEPLOYED

from heymarket_local.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {"ingest": "IngestFunction", "sync": "SyncFunction", "fetch": "FetchFunction"}
NOT_LOADED = {
    # The sync function compares phones (domain.e164) but reads none; its ports are Protocols for type checks. Its
    # lists steps and their adapters wait for a batch naming a tag or a list (sync.lists.batch.DeferredSegmenter),
    # the consent record's adapter for a consent change to record, the deletes for a delete (or a custom field
    # named by title), the legacy v1 gateway for HEYMARKET_API_MODE=v1.
    "sync": (
        "heymarket_bridge.domain.phone",
        "heymarket_bridge.domain.phone_text",
        "heymarket_bridge.sync.ports",
        "heymarket_bridge.ingest",
        "phonenumbers",
        "heymarket_bridge.sync.lists.steps",
        "heymarket_bridge.sync.lists.directory",
        "heymarket_bridge.adapters.heymarket.segments",
        "heymarket_bridge.adapters.aws.managed_lists",
        "heymarket_bridge.adapters.aws.consent_log",
        "heymarket_bridge.adapters.heymarket.contacts.deletes",
        "heymarket_bridge.adapters.heymarket.contacts.v1",
    ),
    # The ingest and fetch functions never call Heymarket.
    "ingest": ("heymarket_bridge.adapters.heymarket", "heymarket_bridge.sync", "jwt"),
    "fetch": ("heymarket_bridge.adapters.heymarket", "heymarket_bridge.sync", "jwt"),
}
RESOURCES = DEPLOYED  # placeholders shaped like a deployed stack's values (the cold start bench's)


def _loaded_by_import(function: str) -> set[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))}
    environment.update(StackTemplate.load().function_environment(FUNCTIONS[function], RESOURCES))
    environment.update(
        {"PYTHONPATH": str(ROOT / "layers"), "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    done = subprocess.run(
        [sys.executable, "-c", "import sys, json, app; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT / "functions" / function,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout))


@pytest.mark.parametrize("function", sorted(NOT_LOADED))
def test_a_handler_import_leaves_out_what_its_first_batch_never_needs(function: str) -> None:
    loaded = _loaded_by_import(function)
    assert "boto3" in loaded  # the import did run
    found = sorted(name for name in loaded if name.startswith(NOT_LOADED[function]))
    assert found == []
