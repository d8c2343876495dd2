"""Webhook sources: how each sender proves who it is, what its deliveries hold, and what it must hear back.

A source reads a request once: `authenticate` checks the sender on the raw request (before any parsing wherever
the scheme allows), `read` parses the body into a `Delivery` (its submissions and its identity), `render` shapes
the bridge's reply in the format the sender reads. The registry of sources is built by `default_sources()` and
handed to the ingest service; nothing holds it as a module global.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Protocol

from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest
from heymarket_bridge.ingest.sources.common import Delivery, ReadContext

# The names a webhook URL may carry (/webhooks/<name>); SOURCE_MAPPINGS and the webhook-secrets secret use them.
SOURCE_NAMES = frozenset({"generic", "typeform", "hubspot", "calendly", "shopify", "jotform", "salesforce"})


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


def default_sources() -> SourceRegistry:
    """Every source the bridge ships, freshly built (imported here: only the ingest function loads them)."""
    from heymarket_bridge.ingest.sources import (
        calendly,
        generic,
        hubspot,
        jotform,
        salesforce,
        shopify,
        typeform,
    )

    return SourceRegistry(
        [
            generic.GenericSource(),
            typeform.TypeformSource(),
            hubspot.HubSpotSource(),
            calendly.CalendlySource(),
            shopify.ShopifySource(),
            jotform.JotformSource(),
            salesforce.SalesforceSource(),
        ]
    )
