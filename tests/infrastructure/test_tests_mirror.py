"""The unit tests mirror the package (issue 23, point 5): a behaviour's test is found from its module's path.

`tests/unit/<room>/.../test_*.py` tests `layers/heymarket_bridge/<room>/...`: every folder under tests/unit/ names a
package that exists in the product, and the only test files at tests/unit/'s root are those of the modules at the
package's root (`settings.py`, `observability.py`). Tests of the tools live in tests/tools/."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
PACKAGE = ROOT / "layers" / "heymarket_bridge"
# The modules at the package's root; their tests are the only ones at tests/unit/'s root.
ROOT_TESTS = frozenset({"test_settings.py", "test_observability.py"})
IGNORED = frozenset({"__pycache__", ".pytest_cache"})


def stray_root_tests(unit: Path) -> list[str]:
    """The test files at `unit`'s root that test no module at the package's root, sorted."""
    return sorted(path.name for path in unit.glob("test_*.py") if path.name not in ROOT_TESTS)


def rooms_without_package(unit: Path, package: Path) -> list[str]:
    """The folders under `unit` (relative, posix) with no package folder of the same path under `package`."""
    missing = []
    for folder in sorted(path for path in unit.rglob("*") if path.is_dir()):
        relative = folder.relative_to(unit)
        if IGNORED.intersection(relative.parts):
            continue
        if not (package / relative).is_dir():
            missing.append(relative.as_posix())
    return missing


def test_no_test_file_sits_at_the_unit_root_but_those_of_the_package_root_modules() -> None:
    assert stray_root_tests(UNIT) == [], "move each into tests/unit/<room>/ after the module it tests"


def test_every_folder_of_the_unit_tests_names_a_room_of_the_package() -> None:
    assert rooms_without_package(UNIT, PACKAGE) == [], "tests/unit/<room>/ mirrors layers/heymarket_bridge/<room>/"


def test_the_package_root_modules_whose_tests_may_sit_at_the_unit_root_exist() -> None:
    assert {name.removeprefix("test_") for name in ROOT_TESTS} <= {path.name for path in PACKAGE.glob("*.py")}


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A small product and its unit tests, mirrored: layers/heymarket_bridge/sync/state and tests/unit/sync/state."""
    package, unit = tmp_path / "heymarket_bridge", tmp_path / "unit"
    (package / "sync" / "state").mkdir(parents=True)
    (unit / "sync" / "state").mkdir(parents=True)
    (unit / "test_settings.py").write_text("")
    (unit / "sync" / "state" / "test_guard.py").write_text("")
    return unit, package


def test_the_checks_pass_a_mirrored_tree(tree: tuple[Path, Path]) -> None:
    unit, package = tree

    assert (stray_root_tests(unit), rooms_without_package(unit, package)) == ([], [])


def test_a_test_file_added_at_the_unit_root_is_named(tree: tuple[Path, Path]) -> None:
    unit, _ = tree
    (unit / "test_sync_service.py").write_text("")

    assert stray_root_tests(unit) == ["test_sync_service.py"]


@pytest.mark.parametrize("room", ["foo", "sync/foo", "sync/state/foo"])
def test_a_folder_naming_no_room_of_the_package_is_named(tree: tuple[Path, Path], room: str) -> None:
    unit, package = tree
    (unit / room).mkdir(parents=True)
    (unit / room / "test_x.py").write_text("")

    assert rooms_without_package(unit, package) == [room]
