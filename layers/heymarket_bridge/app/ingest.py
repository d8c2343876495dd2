"""The ingest function's composition root: API Gateway event in, validated contacts in SQS, response out.

`build_ingest(env)` makes the function of one execution environment (`IngestApp`) from that environment's
variables; functions/ingest/app.py builds one from os.environ at import, and the local stack one per environment
it runs, from that environment's mapping: nothing is patched and os.environ is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from heymarket_bridge.adapters.aws.counters import DynamoDbCounters, SqsQueueDepth
from heymarket_bridge.adapters.aws.parameters import MappingsUnavailable, SourceMappingsParameter
from heymarket_bridge.adapters.aws.secrets import JsonSecretStore
from heymarket_bridge.adapters.aws.sqs import SqsBatchSender, SqsDeadLetters
from heymarket_bridge.app.aws_clients import AwsClients
from heymarket_bridge.domain.text import printable
from heymarket_bridge.ingest.failures import BufferUnavailable
from heymarket_bridge.ingest.http import Reply, RequestLine, render_json
from heymarket_bridge.ingest.limits import IntakeGate, IntakeLimits, drainable
from heymarket_bridge.ingest.service import IngestService
from heymarket_bridge.ingest.sources.base import default_sources
from heymarket_bridge.observability import logger
from heymarket_bridge.settings import IngestSettings


def compose_ingest(settings: IngestSettings, aws: AwsClients) -> IngestService:
    """The ingest service of one execution environment, from its settings and its boto3 clients.

    Raises MappingsUnavailable when the SSM parameter holding the mappings cannot be read (nothing is cached then:
    the next request tries again).
    """
    if settings.source_mappings_parameter:
        mappings = SourceMappingsParameter(
            SSMProvider(boto3_client=aws.client("ssm")), settings.source_mappings_parameter, settings.secrets_max_age_s
        )
        settings = replace(settings, mappings=mappings)
    store = JsonSecretStore(SecretsProvider(boto3_client=aws.client("secretsmanager")), settings.secrets_max_age_s)
    queue = SqsBatchSender(aws.client("sqs"), settings.queue_url)
    refusals = SqsDeadLetters(SqsBatchSender(aws.client("sqs"), settings.dlq_url)) if settings.dlq_url else None
    deliveries = recent = counters = None
    if settings.idempotency_table:
        from heymarket_bridge.adapters.aws.deliveries import DynamoDbDeliveryLedger, DynamoDbRecentContacts

        dynamodb = aws.client("dynamodb")
        deliveries = DynamoDbDeliveryLedger(settings.idempotency_table, dynamodb, settings.idempotency_retention_s)
        recent = DynamoDbRecentContacts(
            settings.idempotency_table, dynamodb, retention_s=settings.idempotency_retention_s
        )
        counters = DynamoDbCounters(settings.idempotency_table, dynamodb)
    return IngestService(
        settings,
        lambda: store.get(settings.webhook_secrets_arn),
        queue,
        deliveries=deliveries,
        sources=default_sources(),
        recent=recent,
        refusals=refusals,
        fetches=SqsBatchSender(aws.client("sqs"), settings.fetch_queue_url) if settings.fetch_queue_url else None,
        admission=IntakeGate(intake_limits(settings), counters, SqsQueueDepth(aws.client("sqs"), settings.queue_url)),
    )


def intake_limits(settings: IngestSettings) -> IntakeLimits:
    """The ingest limits of the settings (heymarket_bridge.ingest.limits): per source, and the load-shed depth."""
    default, per_source = settings.contacts_per_minute
    shed_above = drainable(
        settings.heymarket_rate_per_minute,
        settings.heymarket_max_batch,
        settings.queue_retention_s,
        settings.load_shed_margin,
    )
    return IntakeLimits(default, per_source, shed_above, settings.queue_depth_max_age_s, settings.ingest_executions)


class IngestApp:
    """The ingest function of one execution environment: its service, built on the first request, then kept.

    Built on first use, not at import, as before: a cold start reads its settings and makes its clients once,
    and a configuration that cannot be read (MappingsUnavailable) is tried again at the next request.
    """

    def __init__(self, build: Callable[[], IngestService]) -> None:
        self._build = build
        self._service: IngestService | None = None

    def service(self) -> IngestService:
        """The environment's service; raises MappingsUnavailable while the mappings cannot be read."""
        if self._service is None:
            self._service = self._build()
        return self._service

    def handle(self, event: Mapping[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        """API Gateway HTTP API event (payload 2.0) in, API Gateway response out."""
        event = event if isinstance(event, Mapping) else {}
        try:
            service = self.service()
        except MappingsUnavailable:
            # The sender is told to retry meanwhile, in the format it reads.
            line = RequestLine.of(event)
            # The webhook's one summary line (heymarket_bridge.observability.WEBHOOK_OUTCOMES), as the service's.
            logger.error(
                "Webhook refused",
                extra={
                    "outcome": "refused",
                    "source": printable(line.source[:60]),
                    "status": 503,
                    "code": "buffer_unavailable",
                    "reason": "SSM unreachable",
                },
            )
            source = default_sources().get(line.source)
            render = source.render if source is not None else render_json
            unavailable = BufferUnavailable("the bridge cannot read its configuration right now; retry later")
            return render(Reply.error(unavailable, line.request_id)).to_http_api()
        return service.handle(event).to_http_api()


def build_ingest(env: Mapping[str, str]) -> IngestApp:
    """The ingest function of one execution environment, over its variables (os.environ on Lambda), which are
    read on the first request (IngestSettings.from_env: ConfigError names a missing or bad one)."""
    return IngestApp(lambda: compose_ingest(IngestSettings.from_env(env), AwsClients(env)))
