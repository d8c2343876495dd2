"""Shared by the tests of the sources whose notifications carry ids only (Meta, Acuity): the ingest service that
queues fetch notices, and the fetch service that fetches them from the vendor stand-ins over HTTP (127.0.0.1) with the
product's own adapters, then buffers them as the ingest function does."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from heymarket_bridge.adapters.vendors.acuity import AcuityAppointments
from heymarket_bridge.adapters.vendors.graph import GraphLeads
from heymarket_bridge.adapters.vendors.http import VendorHttp
from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.ingest.buffer import ContactBuffer
from heymarket_bridge.ingest.fetch import FetchMessage, FetchPolicy, FetchReport, FetchService
from heymarket_bridge.ingest.http import HttpResponse
from heymarket_bridge.ingest.intake import Intake
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.settings import IngestSettings
from tests.doubles.ledger import MemoryLedger
from tests.doubles.queue import RecordingQueue
from tests.doubles.recent import FakeRecent
from tests.support import demo_webhook_secrets
from tests.unit.ingest.sources.harness import SIGNED_AT
from vendor_standins import VendorStandins

SECRETS = demo_webhook_secrets()


@dataclass
class Requeued:
    bodies: list[tuple[str, int]] = field(default_factory=list)

    def __call__(self, bodies: Any, delay_s: int) -> list[int]:
        self.bodies.extend((body, delay_s) for body in bodies)
        return []


@dataclass
class FetchBench:
    """One deployment's two halves over the stand-ins: `notify` posts a notification, `fetch` runs the fetch queue."""

    standins: VendorStandins
    mappings: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = SIGNED_AT
    contacts: RecordingQueue = field(default_factory=RecordingQueue)
    fetch_queue: RecordingQueue = field(default_factory=RecordingQueue)
    fetch_letters: RecordingQueue = field(default_factory=RecordingQueue)
    refusals: list[Any] = field(default_factory=list)
    requeued: Requeued = field(default_factory=Requeued)
    ledger: MemoryLedger = field(default_factory=MemoryLedger)
    recent: FakeRecent | None = field(default_factory=FakeRecent)  # None: no record of each phone's newest contact
    secrets: dict[str, Any] = field(default_factory=lambda: dict(SECRETS))

    def _mappings(self) -> dict[str, SourceMapping]:
        return {name: SourceMapping.from_json(doc) for name, doc in self.mappings.items()}

    def notify(self, event: Mapping[str, Any]) -> HttpResponse:
        settings = IngestSettings(queue_url="q", webhook_secrets_arn="s", mappings=self._mappings())
        service = IngestService(
            settings,
            lambda: self.secrets,
            self.contacts,
            clock=lambda: self.now,
            deliveries=self.ledger,
            sources=default_sources(),
            recent=self.recent,
            fetches=self.fetch_queue,
        )
        return service.handle(event)

    def service(self) -> tuple[FetchService, list[VendorHttp]]:
        graph_http, acuity_http = VendorHttp("Graph API"), VendorHttp("Acuity")
        buffer = ContactBuffer(self.contacts, self.recent, self)
        service = FetchService(
            default_sources(),
            {
                "graph": GraphLeads(graph_http, self.standins.url, "v23.0"),
                "acuity": AcuityAppointments(acuity_http, self.standins.url),
            },
            Intake(buffer, self.ledger, "US", self._mappings()),
            lambda: self.secrets,
            self.fetch_letters,
            self.requeued,
            policy=FetchPolicy(max_attempts=3),
            mappings=self._mappings(),
            clock=lambda: self.now,
        )
        return service, [graph_http, acuity_http]

    def write(self, letters: Any) -> list[int]:  # the refusal letters (RefusalLetters)
        self.refusals.extend(letters)
        return []

    def fetch(self, bodies: list[str] | None = None) -> FetchReport:
        """Run the fetch function over the notices queued so far (or `bodies`); the queue is then empty."""
        if bodies is None:
            bodies = [message.body for message in self.fetch_queue.sent]
            self.fetch_queue.sent.clear()
        service, _ = self.service()
        return service.process([FetchMessage(f"m{i}", body) for i, body in enumerate(bodies)])

    def fetch_requeued(self) -> FetchReport:
        """Run the notices put back (as SQS would deliver them after their delay)."""
        bodies = [body for body, _ in self.requeued.bodies]
        self.requeued.bodies.clear()
        return self.fetch(bodies)

    @property
    def queued(self) -> list[dict[str, Any]]:
        return [json.loads(message.body)["contact"] for message in self.contacts.sent]

    @property
    def operations(self) -> list[dict[str, Any]]:
        return [json.loads(message.body) for message in self.contacts.sent]

    @property
    def letters(self) -> list[dict[str, Any]]:
        return [json.loads(message.body) for message in self.fetch_letters.sent]

    @property
    def notices(self) -> list[dict[str, Any]]:
        return [json.loads(message.body)["fetch"] for message in self.fetch_queue.sent]


@contextmanager
def standins_running() -> Iterator[VendorStandins]:
    with VendorStandins(
        page_token=SECRETS["meta_page_token"],
        acuity_user_id=SECRETS["acuity_user_id"],
        acuity_api_key=SECRETS["acuity"],
    ) as standins:
        yield standins
