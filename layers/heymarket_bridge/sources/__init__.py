"""Webhook sources: how each sender proves who it is, where its contacts are in the payload, what it must hear back."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from heymarket_bridge.mapping import SourceMapping, Submission
from heymarket_bridge.sources import calendly, generic, hubspot, jotform, salesforce, shopify, typeform
from heymarket_bridge.webhook import Reply, WebhookRequest


class Source(Protocol):
    name: str
    # True when a delivery whose every contact is rejected gets a 422; False when it still gets the normal reply.
    refuses_when_nothing_valid: bool

    def authenticate(self, request: WebhookRequest, secret: str, now: datetime) -> bool:
        """True when the request proves it comes from the holder of `secret` (and, where signed, was sent recently)."""
        ...

    def extract(self, request: WebhookRequest, mapping: SourceMapping) -> list[Submission]:
        """One entry per submission: its contact in generic field names, or an Unmappable with the reason.

        Raises a WebhookError (400/415) when the payload is not of this source's shape, naming what is missing.
        """
        ...

    def delivery_retention_s(self, request: WebhookRequest) -> int | None:
        """How long to remember this delivery id; None: the deployment's default (days, for senders' retries)."""
        ...

    def delivery_id(self, request: WebhookRequest) -> str:
        """A stable id of this delivery (the same on the sender's retries where the sender allows), for idempotency."""
        ...

    def reply(self, request: WebhookRequest, reply: Reply) -> Reply:
        """The reply the sender gets, given the bridge's own (202 JSON, or an error)."""
        ...


SOURCES: dict[str, Source] = {
    source.name: source
    for source in (
        generic.GenericSource(),
        typeform.TypeformSource(),
        hubspot.HubSpotSource(),
        calendly.CalendlySource(),
        shopify.ShopifySource(),
        jotform.JotformSource(),
        salesforce.SalesforceSource(),
    )
}


def get_source(name: str) -> Source | None:
    return SOURCES.get(name)
