"""Webhook sources: how each sender proves who it is and where its contacts are in the payload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from heymarket_bridge.sources import generic
from heymarket_bridge.webhook import WebhookRequest


class Source(Protocol):
    name: str

    def authenticate(self, request: WebhookRequest, secret: str) -> bool:
        """True when the request proves it comes from the holder of `secret`."""
        ...

    def extract(self, request: WebhookRequest) -> list[Mapping[str, Any]]:
        """The contacts in the payload, in generic field names; raises a WebhookError for a bad payload."""
        ...


SOURCES: dict[str, Source] = {source.name: source for source in (generic.GenericSource(),)}


def get_source(name: str) -> Source | None:
    return SOURCES.get(name)
