"""The source registry: the package's modules are the list of sources (heymarket_bridge.ingest.sources.base)."""

from __future__ import annotations

from pathlib import Path

import pytest

from heymarket_bridge.ingest.sources import base
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES, default_sources

SOURCES_FOLDER = Path(base.__file__).parent


def test_every_module_of_the_sources_package_but_base_and_common_is_a_source_named_as_the_module() -> None:
    modules = {path.stem for path in SOURCES_FOLDER.glob("*.py") if not path.stem.startswith("_")}

    assert modules - {"base", "common"} == SOURCE_NAMES


def test_the_registry_holds_one_source_per_name_each_named_as_its_module() -> None:
    registry = default_sources()

    assert set(registry) == SOURCE_NAMES
    assert all(
        type(source).__module__ == f"heymarket_bridge.ingest.sources.{name}" for name, source in registry.items()
    )


def test_the_names_are_those_the_webhook_urls_have_always_carried() -> None:
    assert {"generic", "typeform", "hubspot", "calendly", "shopify", "jotform", "salesforce"} <= SOURCE_NAMES


def test_a_module_that_names_no_source_class_is_refused_when_the_registry_is_built() -> None:
    with pytest.raises(TypeError, match=r"sources\.common must set SOURCE_CLASS"):
        default_sources({"generic", "common"})


def test_a_built_registry_gives_fresh_sources() -> None:
    assert default_sources()["generic"] is not default_sources()["generic"]
