"""What the tags-and-lists tests share: the routes of Heymarket's double, and readers of what it got."""

from __future__ import annotations

from typing import Any

from tests.unit.sync.harness import Harness

CONTACTS = "POST /v2/contacts"
SEARCH = "POST /v2/contacts/search"
TAGS = "POST /v1/tags"
TAG = "POST /v1/tag"
LISTS = "POST /v2/lists"
LIST = "PUT /v2/lists/*"
SPRING = "Spring open house"


def count(h: Harness, route: str) -> int:
    if route.endswith("*"):
        return sum(1 for logged in h.heymarket.routes() if logged.startswith(route.rstrip("*")))
    return h.heymarket.routes().count(route)


def sent_contacts(h: Harness) -> list[dict[str, Any]]:
    return [contact for route, data in h.heymarket.log if route == CONTACTS for contact in data["contacts"]]


def list_writes(h: Harness) -> list[dict[str, Any]]:
    return [data for route, data in h.heymarket.log if route.startswith("PUT /v2/lists/")]
