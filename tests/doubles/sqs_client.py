"""boto3 SQS clients that fail every `send_message_batch`, each as one way SQS fails: stand in for the client
`heymarket_bridge.adapters.aws.sqs.SqsBatchSender` is given."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError


class UnansweringSqs:
    """An SQS client whose every call times out (after the client's own retries), as a stalled SQS does."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise ReadTimeoutError(endpoint_url="http://127.0.0.1:9")


class ThrottlingSqs:
    """An SQS client that refuses every call with ThrottlingException."""

    def __init__(self) -> None:
        self.calls = 0

    def send_message_batch(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "SendMessageBatch")
