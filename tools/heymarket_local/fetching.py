"""The local stack's part for the sources whose notifications carry ids only (Meta Lead Ads, Acuity Scheduling): the
vendor stand-ins (vendor_standins: Graph API and Acuity API, as documented) put in GraphBaseUrl and AcuityBaseUrl,
and FetchFunction run by its own SQS event source on LeadFetchQueue, as Lambda would.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from heymarket_local.lambdas import LocalFunction
from heymarket_local.poller import EventSourceConfig, SqsEventSource
from heymarket_local.template import LocalResources, StackTemplate
from vendor_standins import VendorStandins

FETCH_FUNCTION_ID: Final = "FetchFunction"
FETCH_QUEUE_ID: Final = "LeadFetchQueue"
# The webhook-secrets entries the stand-ins check the bridge's requests against (the sources' CredentialEntry keys).
PAGE_TOKEN: Final = "meta_page_token"
ACUITY_USER_ID: Final = "acuity_user_id"
ACUITY_API_KEY: Final = "acuity"
VERIFY_TOKEN: Final = "meta_verify_token"


def with_vendor_entries(webhook_secrets: Mapping[str, str]) -> dict[str, str]:
    """`webhook_secrets` with a generated value for each vendor entry it lacks (a numeric Acuity User ID)."""
    generated = {
        PAGE_TOKEN: secrets.token_urlsafe(24),
        VERIFY_TOKEN: secrets.token_urlsafe(24),
        ACUITY_API_KEY: secrets.token_urlsafe(24),
        ACUITY_USER_ID: str(10_000_000 + secrets.randbelow(89_999_999)),
    }
    return {**generated, **webhook_secrets}


@dataclass
class FetchParts:
    """The stand-ins (started first: the template's base URLs name them) and FetchFunction's event source."""

    standins: VendorStandins
    poller: SqsEventSource | None = None

    @classmethod
    def start(cls, webhook_secrets: Mapping[str, str], host: str) -> FetchParts:
        """The stand-ins on a free port of `host`, accepting the bridge's credentials from `webhook_secrets`."""
        standins = VendorStandins(
            page_token=webhook_secrets[PAGE_TOKEN],
            acuity_user_id=webhook_secrets[ACUITY_USER_ID],
            acuity_api_key=webhook_secrets[ACUITY_API_KEY],
            host=host,
        )
        return cls(standins.start())

    def overrides(self, parameter_overrides: Mapping[str, str | int]) -> dict[str, str | int]:
        """The template parameters that send FetchFunction to the stand-ins, unless the operator set them."""
        return {"GraphBaseUrl": self.standins.url, "AcuityBaseUrl": self.standins.url, **parameter_overrides}

    def run(
        self,
        sqs: Any,
        template: StackTemplate,
        resources: LocalResources,
        function: LocalFunction,
        *,
        retry_delay_s: int | None,
        region: str,
    ) -> None:
        """Start FetchFunction's event source on LeadFetchQueue, as the template configures it."""
        spec = template.event_source(FETCH_FUNCTION_ID)
        queue_url = resources.queues[FETCH_QUEUE_ID]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        config = EventSourceConfig(
            queue_url=queue_url,
            queue_arn=arn,
            batch_size=spec.batch_size,
            batching_window_s=spec.batching_window_s,
            max_concurrency=spec.max_concurrency,
            report_batch_item_failures=spec.report_batch_item_failures,
            retry_delay_s=retry_delay_s,
            region=region,
        )
        self.poller = SqsEventSource(sqs, config, function.invoke).start()

    def pending(self, counts: Callable[[str], tuple[int, int]]) -> int:
        """Notices waiting, in flight or being fetched (the event source first: one it takes still counts)."""
        if self.poller is None:
            return 0
        busy = 0 if self.poller.stats().idle else 1
        return busy + sum(counts(self.poller.config.queue_url))

    def stop(self, grace_s: float) -> None:
        if self.poller is not None:
            self.poller.stop(grace_s)
        self.standins.stop()
