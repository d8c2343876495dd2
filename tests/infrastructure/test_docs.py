"""The docs' examples that need AWS itself are checked against what AWS and SAM accept; the rest are run by
tests/e2e/test_docs_examples.py. Every example has a way to be checked (tests/docs_examples.py), the make targets the
docs name exist, and the pages that list template resources (parameters, alarms, what `sam delete` leaves) list
them all."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

from heymarket_local.template import StackTemplate
from tests.docs_examples import (
    PAGES,
    UNCHECKED_FENCES,
    Example,
    arguments,
    examples,
    options,
    positionals,
    substitutions,
)
from tests.support import ROOT

# The AWS CLI's own options, which every operation takes besides the operation's input members.
AWS_GLOBAL_OPTIONS = {"query", "output", "region", "profile", "endpoint-url", "no-cli-pager", "debug"}
EXAMPLES = examples()


def by_kind(kind: str) -> list[Example]:
    return [example for example in EXAMPLES if example.kind == kind]


def test_every_command_example_has_a_way_to_be_checked() -> None:
    unknown = [f"{e.page}: {e.command}" for e in EXAMPLES if e.kind == "unknown"]
    assert unknown == [], "add a rule for these to tests/docs_examples.py (Example.kind)"
    assert len(by_kind("local-start")) == 1, "one `heymarket-bridge local` line, which the e2e test starts"
    assert {e.kind for e in EXAMPLES} >= {"make", "local", "api", "deployed", "aws", "sam"}


@pytest.mark.parametrize("page", PAGES, ids=lambda path: str(path.relative_to(ROOT)))
def test_shell_examples_are_sh_blocks_so_that_they_are_checked(page: Path) -> None:
    assert not UNCHECKED_FENCES.search(page.read_text()), "write shell examples as ```sh blocks"


def test_the_make_targets_the_docs_name_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for example in by_kind("make"):
        target = example.words.split("#")[0].split()[1]
        assert re.search(rf"^{re.escape(target)}:", makefile, flags=re.MULTILINE), f"{example.page}: {example.command}"


def aws_commands() -> list[tuple[Example, str]]:
    """Each `aws` example, and each `aws` command inside a `$(...)` of one."""
    found = []
    for example in by_kind("aws"):
        found.append((example, example.command))
        found.extend((example, inner) for inner in substitutions(example.command) if inner.startswith("aws "))
    return found


@pytest.mark.parametrize(("example", "command"), aws_commands(), ids=lambda value: getattr(value, "page", None))
def test_an_aws_example_names_a_real_operation_its_options_and_every_required_one(
    example: Example, command: str
) -> None:
    words = arguments(command)
    _, service, operation = positionals(words)[:3]
    model = botocore.session.get_session().get_service_model(service)
    names = {xform_name(name, "-"): name for name in model.operation_names}
    assert operation in names, f"{example.page}: aws {service} has no {operation}"
    shape = model.operation_model(names[operation]).input_shape
    members = {xform_name(name, "-"): name for name in (shape.members if shape else {})}
    given = options(words)
    unknown = sorted(set(given) - set(members) - AWS_GLOBAL_OPTIONS)
    assert unknown == [], f"{example.page}: aws {service} {operation} takes no --{unknown}"
    required = {xform_name(name, "-") for name in (shape.required_members if shape else [])}
    assert required <= set(given), f"{example.page}: aws {service} {operation} needs {sorted(required - set(given))}"


@pytest.mark.parametrize("example", by_kind("sam"), ids=lambda example: f"{example.page}: {example.command}")
def test_a_sam_example_uses_a_real_command_and_its_options(example: Example) -> None:
    words = arguments(example.command)
    subcommand = positionals(words)[1]
    command = importlib.import_module(f"samcli.commands.{subcommand}.command").cli
    accepted = {name for parameter in command.params for name in parameter.opts + parameter.secondary_opts}
    unknown = sorted(f"--{name}" for name in options(words) if f"--{name}" not in accepted)
    assert unknown == [], f"{example.page}: sam {subcommand} takes no {unknown}"


def test_the_parameters_page_lists_every_template_parameter() -> None:
    page = (ROOT / "docs" / "operations" / "parameters.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z][A-Za-z0-9]+)`", page, flags=re.MULTILINE))
    documented |= set(re.findall(r"^\| `[A-Z][A-Za-z0-9]+` / `([A-Z][A-Za-z0-9]+)`", page, flags=re.MULTILINE))
    missing = sorted(set(StackTemplate.load().document["Parameters"]) - documented)
    assert missing == []


def resources_where(test: Callable[[dict[str, Any]], bool]) -> set[str]:
    resources = StackTemplate.load().document["Resources"]
    return {logical_id for logical_id, resource in resources.items() if test(resource)}


def test_the_monitor_page_explains_every_alarm_of_the_template() -> None:
    page = (ROOT / "docs" / "operations" / "monitor.md").read_text()
    explained = set(re.findall(r"^\| `([A-Za-z0-9]+Alarm)` \|", page, flags=re.MULTILINE))
    assert explained == resources_where(lambda resource: resource["Type"] == "AWS::CloudWatch::Alarm")


def test_the_uninstall_page_lists_every_resource_sam_delete_leaves() -> None:
    page = (ROOT / "docs" / "operations" / "upgrades.md").read_text()
    listed = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", page, flags=re.MULTILINE))
    assert listed == resources_where(lambda resource: resource.get("DeletionPolicy") == "Retain")
