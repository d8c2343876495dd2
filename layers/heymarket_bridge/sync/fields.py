"""The team's custom fields, as the plan needs them to resolve titles (heymarket_bridge.sync.plan): read through
`HeymarketPort.custom_fields` once per execution environment, and again (at most once per invocation) when a title
is not among them (a field created since)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from heymarket_bridge.domain.custom_fields import CustomFieldIndex, titles_in
from heymarket_bridge.domain.failures import Deadline, GatewayFailure
from heymarket_bridge.domain.operations import ContactOperation
from heymarket_bridge.observability import logger
from heymarket_bridge.sync.model import Member

if TYPE_CHECKING:  # the ports are Protocols, for type checks only: not imported at a cold start
    from heymarket_bridge.sync.ports import HeymarketPort


class TeamFields:
    """The team's custom fields for one execution environment."""

    def __init__(self, heymarket: HeymarketPort) -> None:
        self._heymarket = heymarket
        self._fields: CustomFieldIndex | None = None

    def index(self, members: Sequence[Member], deadline: Deadline) -> CustomFieldIndex | GatewayFailure | None:
        """The field index if any contact names a field by title (None if none does), or the failure that kept it
        from being read: cached, re-read when a title is not in it."""
        contacts = [m.operation.contact for m in members if isinstance(m.operation, ContactOperation)]
        titled = [c for c in contacts if titles_in(c.custom)]
        if not titled:
            return None
        if self._fields is not None and not any(self._fields.unknown(c.custom) for c in titled):
            return self._fields
        try:
            self._fields = CustomFieldIndex(self._heymarket.custom_fields(deadline))
        except GatewayFailure as failure:
            return failure
        logger.info("Read Heymarket's custom fields", extra={"count": len(self._fields)})
        return self._fields
