"""Webhook sources: how each sender proves who it is, what its deliveries hold, and what it must hear back.

A source reads a request once: `authenticate` checks the sender on the raw request (before any parsing wherever
the scheme allows), `read` parses the body into a `Delivery` (its submissions and its identity), `render` shapes
the bridge's reply in the format the sender reads. The registry of sources is built by `default_sources()` and
handed to the ingest service; nothing holds it as a module global.

Every module of this package but `base` and `common` is one sender's source, named as its module (/webhooks/<module
name>), and names its class in `SOURCE_CLASS`: adding a source is adding its module, and nothing else in the product
changes. `SOURCE_NAMES` is read from the package's file listing (the package's __init__, which imports nothing);
`default_sources()` imports the modules. A new source is four files: its module, its sample event(s) in
events/<name>/, its test tests/unit/ingest/sources/test_<name>.py, and its section of the README's "Connect your
sources" (tests/unit/ingest/sources/test_source_files.py fails when one is missing).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Protocol

from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest
from heymarket_bridge.ingest.notices import FetchNotice
from heymarket_bridge.ingest.sources import SOURCE_NAMES
from heymarket_bridge.ingest.sources.common import (
    CredentialEntry,
    Delivery,
    DeliveryIdentity,
    ReadContext,
    SigningRequest,
)

__all__ = ["SOURCE_NAMES", "FetchedSource", "Source", "SourceRegistry", "default_sources"]
_PACKAGE = __name__.rpartition(".")[0]


class Source(Protocol):
    name: str
    # True when a delivery whose every contact is rejected gets a 422; False when it still gets the normal reply.
    refuses_when_nothing_valid: bool
    # The most contacts the sender itself may put in one delivery, which no operator can make smaller (Salesforce's
    # 100 notifications per message): accepted whatever MaxContactsPerRequest says. 0: the sender has no such size.
    sender_batch_size: int
    # "" for a sender that posts its records; the vendor API the bridge fetches them from ("graph", "acuity") for one
    # whose notifications carry ids only (FetchedSource).
    fetched_from: str

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

    def handshake(self, request: WebhookRequest, context: ReadContext) -> str:
        """The text/plain answer to the sender's GET verification handshake (Meta's hub.challenge). Raises
        MethodNotAllowed (405) for a sender without one, Forbidden (403) for a handshake not made with the token the
        bridge issued."""
        ...

    # How the sender authenticates, beside the check of it: read only by the tools and tests that play the sender
    # (heymarket_bridge_tools.signing signs the demo's, `send`'s and the tests' requests with these).
    # "header" or "query": the sender presents its secret itself (X-Bridge-Token, ?token=); "": it signs (`sign`).
    token_in: str
    # The versions of the sender's signature scheme, newest first ("" for a scheme without versions).
    signature_versions: tuple[str, ...]
    # The JSON keys of the delivery times a signed body carries (moved with it when it is signed for another moment).
    body_times: tuple[str, ...]
    # Which of events/<name>/*.json `heymarket-bridge send <name>` posts (its stem), when there are several.
    sample_event: str
    # The entries of the webhook-secrets secret the source reads, main secret first (read by the setup commands).
    credentials: tuple[CredentialEntry, ...]

    def sign(self, request: SigningRequest) -> dict[str, str]:
        """The headers the sender adds to authenticate `request`, as its documentation describes them; {} for a
        sender that presents a token. Raises ValueError for a version not in `signature_versions`."""
        ...

    def signed_versions(self, headers: Mapping[str, str]) -> tuple[str, ...]:
        """The signature versions a recorded request's headers (lower-case names) carry, newest first; ()."""
        ...


class FetchedSource(Source, Protocol):
    """A source whose notifications carry ids only (`fetched_from` set): the ingest function queues one FetchNotice per
    record (`notices`), the fetch function fetches each record from the vendor and reads it (`read_fetched`)."""

    def notices(self, request: WebhookRequest, context: ReadContext) -> list[FetchNotice]:
        """The records an authenticated notification names, one notice each. Raises a WebhookError (400/413/415)."""
        ...

    def notification_identity(self, request: WebhookRequest) -> DeliveryIdentity:
        """What tells the sender's retry of a notification from a new one (the delivery ledger's key)."""
        ...

    def read_fetched(self, record: Mapping[str, object], notice: FetchNotice, context: ReadContext) -> Delivery:
        """The fetched record (the vendor's documented JSON object) as a delivery of one submission, with its event id
        and time; its identity names the record's state, so that two notifications of one change are buffered once."""
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
