"""Both handlers wired to moto (queues and secrets created from template.yaml) and a Heymarket sandbox.

`Bridge` drives the real `lambda_handler`s the way AWS would: webhooks as HTTP API events, and SQS
batches received from the moto queue as Lambda's event source would deliver them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from heymarket_local.template import LocalResources, StackTemplate
from heymarket_sandbox import HeymarketSandbox
from tests.support import FakeLambdaContext, demo_webhook_secrets, load_handler


@dataclass
class Bridge:
    sqs: Any
    secretsmanager: Any
    resources: LocalResources
    sandbox: HeymarketSandbox
    # The two functions' handler files, each loaded as one execution environment's cold start does: their apps read
    # the environment variables the test set on their first invocation.
    ingest_function: ModuleType = field(default_factory=lambda: load_handler("ingest"))
    sync_function: ModuleType = field(default_factory=lambda: load_handler("sync"))

    def restart_ingest(self) -> None:
        """A new execution environment of the ingest function: its settings and mappings are read again."""
        self.ingest_function = load_handler("ingest")

    def restart_sync(self) -> None:
        """A new execution environment of the sync function: its settings are read again."""
        self.sync_function = load_handler("sync")

    def ingest(self, event: dict[str, Any]) -> dict[str, Any]:
        """Call the ingest handler; its API Gateway response."""
        response: dict[str, Any] = self.ingest_function.lambda_handler(event, FakeLambdaContext(10, "IngestFunction"))
        return response

    def post(self, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Call the ingest handler; the status code and decoded JSON body."""
        response = self.ingest(event)
        assert response["headers"]["Content-Type"].startswith("application/json")
        return response["statusCode"], json.loads(response["body"])

    def queued(self) -> list[dict[str, Any]]:
        """Every message in the contact queue as a Lambda record (received, then made visible again)."""
        event = self.receive_event()
        self.make_visible(event)
        records: list[dict[str, Any]] = event["Records"]
        return records

    def queued_bodies(self) -> list[dict[str, Any]]:
        return [json.loads(record["body"]) for record in self.queued()]

    def receive_event(self, max_messages: int = 100) -> dict[str, Any]:
        """Receive up to `max_messages` from the contact queue as the SQS event Lambda would get."""
        records: list[dict[str, Any]] = []
        while len(records) < max_messages:
            messages = self.sqs.receive_message(
                QueueUrl=self.resources.queue_url,
                MaxNumberOfMessages=min(10, max_messages - len(records)),
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                break
            records.extend(self._record(message) for message in messages)
        return {"Records": records}

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: {"stringValue": value.get("StringValue"), "dataType": value["DataType"]}
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.resources.queue_arn,
            "awsRegion": "us-east-1",
        }

    def sync(self, event: dict[str, Any], timeout_s: float = 60) -> list[str]:
        """Run the sync handler like the event source mapping; return the ids it reported as failed.

        Successes are deleted from the queue, as Lambda does with ReportBatchItemFailures.
        """
        response = self.sync_function.lambda_handler(event, FakeLambdaContext(timeout_s, "SyncFunction"))
        failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
        for record in event["Records"]:
            if record["messageId"] not in failed:
                self.sqs.delete_message(QueueUrl=self.resources.queue_url, ReceiptHandle=record["receiptHandle"])
        return failed

    def make_visible(self, event: dict[str, Any]) -> None:
        """End the visibility timeout of an event's messages now (390 s in the template) to redeliver them."""
        for record in event["Records"]:
            self.sqs.change_message_visibility(
                QueueUrl=self.resources.queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=0
            )

    def dead_letters(self, kind: str = "") -> list[dict[str, Any]]:
        """The messages in the DLQ of one kind: the sync function's letters by default, or the ingest function's
        refusal letters with `kind="refused_at_ingest"` (all are left invisible afterwards: call once per test)."""
        letters: list[dict[str, Any]] = []
        while messages := self.sqs.receive_message(QueueUrl=self.resources.dlq_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            letters.extend(json.loads(message["Body"]) for message in messages)
        return [letter for letter in letters if not isinstance(letter, dict) or letter.get("kind", "") == kind]

    def queue_depth(self, queue_url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url or self.resources.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def buffered_depth(self) -> int:
        """Messages on the contact queue and on the fetch queue (a fetched source's notices, ids only)."""
        return self.queue_depth() + self.queue_depth(self.resources.queues["LeadFetchQueue"])


# A queue with no time left to keep a message: a contact that meets Heymarket down on its last receive is
# dead-lettered, as before issue 26, rather than put back to wait out the outage (that is test_outage.py's subject).
NO_TIME_TO_WAIT: dict[str, str] = {"OUTAGE_EXPIRY_MARGIN_SECONDS": "345600"}


@contextmanager
def running_bridge(
    monkeypatch: pytest.MonkeyPatch,
    sandbox: HeymarketSandbox,
    parameters: dict[str, str | int] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Bridge]:
    template = StackTemplate.load(parameter_overrides=parameters)
    config = sandbox.config
    with mock_aws():
        sqs = boto3.client("sqs")
        secretsmanager = boto3.client("secretsmanager")
        resources = template.provision(
            sqs,
            secretsmanager,
            webhook_secrets=demo_webhook_secrets(),
            heymarket_credentials={"secret_id": config.secret_id, "secret_key": config.secret_key},
        )
        environment = {
            **template.function_environment("IngestFunction", resources),
            **template.function_environment("SyncFunction", resources, {"HEYMARKET_BASE_URL": sandbox.url}),
            # Tests make a failed message visible again at once, where SQS waits the visibility timeout (minutes):
            # the lease a contact keeps after a request of unknown outcome lasts a moment here, not 30 s.
            "CONTACT_LEASE_MARGIN_SECONDS": "0.001",
            # ... and while Heymarket is down, the circuit probes again at the next invocation, not 30 s later, and a
            # contact put back to wait out the outage comes back at once, not after a minute or more.
            "HEYMARKET_CIRCUIT_OPEN_SECONDS": "0.001",
            "OUTAGE_BASE_DELAY_SECONDS": "0",
            "OUTAGE_MAX_DELAY_SECONDS": "0",
            **(extra_env or {}),
        }
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield Bridge(sqs, secretsmanager, resources, sandbox)
