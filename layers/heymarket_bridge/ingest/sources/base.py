"""Webhook sources: how each sender proves who it is, what its deliveries hold, and what it must hear back.

A source reads a request once: `authenticate` checks the sender on the raw request (before any parsing wherever
the scheme allows), `read` parses the body into a `Delivery` (its submissions and its identity), `render` shapes
the bridge's reply in the format the sender reads. The registry of sources is built by `default_sources()` and
handed to the ingest service; nothing holds it as a module global.

This module is the only list of sources. Every module of this package but `base` and `common` is one sender's source,
named as its module (/webhooks/<module name>), and names its class in `SOURCE_CLASS`: adding a source is adding its
module, and nothing else in the product changes. `SOURCE_NAMES` is read from the package's file listing (no source is
imported for it); `default_sources()` imports the modules.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest
from heymarket_bridge.ingest.sources.common import Delivery, ReadContext

# The modules of this package that are not a sender's source.
_SHARED_MODULES = frozenset({"base", "common"})
_PACKAGE = __name__.rpartition(".")[0]


def _source_modules() -> list[str]:
    """The names of this package's modules that are sources: a listing of its folder (nothing is imported; the
    layer ships the .py files beside their bytecode)."""
    files = [entry.name for entry in os.scandir(os.path.dirname(__file__)) if entry.is_file()]
    modules = (name.removesuffix(".py") for name in files if name.endswith(".py") and not name.startswith("_"))
    return sorted(name for name in modules if name not in _SHARED_MODULES)


# The names a webhook URL may carry (/webhooks/<name>); SOURCE_MAPPINGS and the webhook-secrets secret use them.
SOURCE_NAMES = frozenset(_source_modules())


class Source(Protocol):
    name: str
    # True when a delivery whose every contact is rejected gets a 422; False when it still gets the normal reply.
    refuses_when_nothing_valid: bool
    # The most contacts the sender itself may put in one delivery, which no operator can make smaller (Salesforce's
    # 100 notifications per message): accepted whatever MaxContactsPerRequest says. 0: the sender has no such size.
    sender_batch_size: int

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        """Raise Unauthorized (naming what is missing or wrong) unless the request comes from the credential holder.

        `context.credentials.secret` is None when the source has no entry and is allowed without one.
        """
        ...

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        """Parse the request once: one submission per contact (in generic field names, or an Unmappable with the
        reason), and the delivery's identity. Raises a WebhookError (400/401/413/415) naming what is wrong."""
        ...

    def render(self, reply: Reply) -> HttpResponse:
        """The response the sender gets for the bridge's reply (202 JSON, or an error)."""
        ...


class SourceRegistry(Mapping[str, Source]):
    """Sources by name; immutable once built."""

    def __init__(self, sources: list[Source]) -> None:
        self._sources = {source.name: source for source in sources}

    def __getitem__(self, name: str) -> Source:
        return self._sources[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)


def default_sources(names: Iterable[str] = SOURCE_NAMES) -> SourceRegistry:
    """Every source the bridge ships (or those `names`), freshly built (imported here: only the ingest function
    loads them).

    Raises TypeError for a module of the package that names no source class, or one whose source is not named as
    the module (a webhook URL, a mapping and a secret entry all use the module's name)."""
    sources: list[Source] = []
    for name in sorted(names):
        module = importlib.import_module(f"{_PACKAGE}.{name}")
        source_class = getattr(module, "SOURCE_CLASS", None)
        source: Source | None = source_class() if callable(source_class) else None
        if source is None or source.name != name:
            raise TypeError(f"{module.__name__} must set SOURCE_CLASS to a source class whose name is {name!r}")
        sources.append(source)
    return SourceRegistry(sources)
