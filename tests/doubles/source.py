"""A webhook source in memory (the shape of heymarket_bridge.ingest.sources.common sources): checks the
`x-fake-secret` header against its credential, reads the submissions it was given, and records what it saw."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from heymarket_bridge.domain.mapping import SourceMapping, Submission
from heymarket_bridge.ingest.failures import Unauthorized
from heymarket_bridge.ingest.http import HttpResponse, Reply, WebhookRequest
from heymarket_bridge.ingest.sources.common import Delivery, ReadContext, identity


@dataclass
class FakeSource:
    submissions: list[Submission]
    name: str = "fake"
    refuses_when_nothing_valid: bool = False
    sender_batch_size: int = 0
    sender_id: str | None = None
    seen_now: list[datetime] = field(default_factory=list)
    seen_mappings: list[SourceMapping] = field(default_factory=list)
    reads: int = 0

    def authenticate(self, request: WebhookRequest, context: ReadContext) -> None:
        self.seen_now.append(context.now)
        if request.headers.get("x-fake-secret") != context.credentials.secret:
            raise Unauthorized("wrong fake secret")

    def read(self, request: WebhookRequest, context: ReadContext) -> Delivery:
        self.reads += 1
        self.seen_mappings.append(context.mapping)
        return Delivery(self.submissions, identity(self.sender_id, request.body))

    def render(self, reply: Reply) -> HttpResponse:
        return HttpResponse(reply.status, json.dumps({"shaped": dict(reply.body)}), {"Content-Type": "x-fake"})
