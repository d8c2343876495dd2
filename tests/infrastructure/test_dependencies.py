"""The Lambda layer is pinned with hashes, and the tests run against exactly the versions it ships (issue 15)."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

LAYERS = Path(__file__).resolve().parents[2] / "layers"
# What botocore requires of urllib3 on Python >= 3.10 (setup.cfg / setup.py), the same from botocore 1.31 to the
# 1.43 installed here, so whatever botocore the python3.13 runtime includes (Lambda: "Runtime-included SDK
# versions", which changes with runtime updates) accepts it. The layer's urllib3 comes first on sys.path and is the
# one the runtime's botocore imports.
RUNTIME_BOTOCORE_URLLIB3 = SpecifierSet(">=1.25.4,!=2.2.0,<3")


def _locked() -> dict[str, tuple[Version, list[str]]]:
    """Package name -> (pinned version, hashes) from layers/requirements.lock."""
    text = (LAYERS / "requirements.lock").read_text().replace("\\\n", " ")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert match, f"not a pinned, hashed requirement: {line!r}"
        pins[canonicalize_name(match[1])] = (Version(match[2]), re.findall(r"sha256:([0-9a-f]{64})", match[3]))
    return pins


def _ranges() -> list[Requirement]:
    lines = (LAYERS / "requirements.txt").read_text().splitlines()
    return [Requirement(line.split("#", 1)[0]) for line in lines if line.split("#", 1)[0].strip()]


def test_every_package_of_the_layer_is_pinned_with_its_hashes() -> None:
    locked = _locked()

    assert locked
    assert all(hashes for _, hashes in locked.values())
    assert {canonicalize_name(requirement.name) for requirement in _ranges()} <= set(locked)
    assert not {"boto3", "botocore"} & set(locked)  # the runtime's own


def test_the_lock_is_within_the_ranges_of_requirements_txt() -> None:
    # A range edited without `make lock` leaves a pin outside it.
    locked = _locked()

    outside = [
        f"{requirement} (locked {locked[canonicalize_name(requirement.name)][0]})"
        for requirement in _ranges()
        if not requirement.specifier.contains(locked[canonicalize_name(requirement.name)][0], prereleases=True)
    ]

    assert outside == []


@pytest.mark.parametrize("package", sorted(_locked()))
def test_the_tests_run_against_the_version_the_layer_ships(package: str) -> None:
    assert Version(metadata.version(package)) == _locked()[package][0]


def test_the_phonenumbers_module_comes_from_phonenumberslite_as_in_the_layer() -> None:
    with pytest.raises(metadata.PackageNotFoundError):
        metadata.version("phonenumbers")


def test_the_locked_urllib3_is_one_the_runtimes_botocore_accepts() -> None:
    locked = _locked()["urllib3"][0]

    assert RUNTIME_BOTOCORE_URLLIB3.contains(locked)


def test_the_locked_urllib3_is_one_the_installed_botocore_accepts() -> None:
    # Given botocore's own declared requirement on urllib3 for this interpreter
    environment = {**default_environment(), "extra": ""}
    requirements = [Requirement(spec) for spec in metadata.requires("botocore") or []]
    urllib3 = [r for r in requirements if r.name == "urllib3" and (r.marker is None or r.marker.evaluate(environment))]

    # Then the layer's urllib3 satisfies it
    assert len(urllib3) == 1
    assert urllib3[0].specifier.contains(_locked()["urllib3"][0])
