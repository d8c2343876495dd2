"""The layout's promises that import-linter does not check (docs/architecture.md): each public name of the layer is
defined once, and each room declares its public failures in one module."""

from __future__ import annotations

import ast
import collections
import importlib
import inspect
import pkgutil
from pathlib import Path

import heymarket_bridge

LAYER = Path(heymarket_bridge.__file__).parent


def _room(module: str) -> str:
    """The room a module lives in: domain, ingest, sync, app, or one adapter package (adapters.aws, ...)."""
    parts = module.split(".")
    return ".".join(parts[1:3]) if parts[1] == "adapters" else parts[1]


def test_each_public_top_level_name_is_defined_once_in_the_layer() -> None:
    where: dict[str, list[str]] = collections.defaultdict(list)
    for path in sorted(LAYER.rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(str(path.relative_to(LAYER)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}


def test_each_room_declares_its_public_failures_in_one_module() -> None:
    rooms: dict[str, set[str]] = collections.defaultdict(set)
    for info in pkgutil.walk_packages(heymarket_bridge.__path__, "heymarket_bridge."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == info.name
                and not name.startswith("_")
            ):
                rooms[_room(info.name)].add(info.name)
    assert {room: sorted(modules) for room, modules in rooms.items() if len(modules) > 1} == {}
    assert rooms["domain"] == {"heymarket_bridge.domain.failures"}
    assert rooms["ingest"] == {"heymarket_bridge.ingest.failures"}
    assert rooms["sync"] == {"heymarket_bridge.sync.failures"}
