"""Operator tasks against a deployed stack or the local one: the stack's queues, their status, the credentials check.

Everything here takes boto3 clients, so the same code serves `--stack-name` (real AWS, URLs from the stack's
Outputs) and the local stack's moto. Contacts, and the error texts that may quote them, are shown masked unless
the operator asks otherwise; an export is written readable by its owner only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from heymarket_bridge_tools.dlq_read import queue_depth


@dataclass(frozen=True)
class StackQueues:
    queue_url: str
    dlq_url: str
    heymarket_secret_arn: str = ""
    heymarket_url: str = "https://api.heymarket.com"
    # LeadFetchDeadLetterQueue: the leads and appointments that could not be fetched ("" for a stack without it).
    fetch_dlq_url: str = ""

    @classmethod
    def from_stack(cls, cloudformation: Any, stack_name: str) -> StackQueues:
        """Resolve the URLs from a deployed stack's Outputs."""
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])}
        missing = [k for k in ("ContactQueueUrl", "ContactDeadLetterQueueUrl") if k not in outputs]
        if missing:
            raise LookupError(f"stack {stack_name} has no output {', '.join(missing)}: is it a heymarket-bridge stack?")
        return cls(
            queue_url=outputs["ContactQueueUrl"],
            dlq_url=outputs["ContactDeadLetterQueueUrl"],
            heymarket_secret_arn=outputs.get("HeymarketSecretArn", ""),
            heymarket_url=parameters.get("LocalTestHeymarketUrl")
            or parameters.get("HeymarketBaseUrl")
            or "https://api.heymarket.com",
            fetch_dlq_url=outputs.get("LeadFetchDeadLetterQueueUrl", ""),
        )


@dataclass(frozen=True)
class QueueStatus:
    queue_visible: int
    queue_in_flight: int
    dlq_visible: int
    dlq_in_flight: int
    # Messages put back with a delay: contacts waiting for the bridge's configuration to be fixed.
    queue_delayed: int = 0
    # Letters in LeadFetchDeadLetterQueue (records that could not be fetched); None for a stack without it.
    fetch_dlq_visible: int | None = None


def queue_status(sqs: Any, queues: StackQueues) -> QueueStatus:
    visible, in_flight = queue_depth(sqs, queues.queue_url)
    dlq_visible, dlq_in_flight = queue_depth(sqs, queues.dlq_url)
    delayed = sqs.get_queue_attributes(
        QueueUrl=queues.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    fetch_letters = queue_depth(sqs, queues.fetch_dlq_url)[0] if queues.fetch_dlq_url else None
    return QueueStatus(
        visible,
        in_flight,
        dlq_visible,
        dlq_in_flight,
        int(delayed.get("ApproximateNumberOfMessagesDelayed", 0)),
        fetch_letters,
    )


# What check-credentials asks Heymarket, beyond GET /v1/inboxes (the credentials): each permission the bridge uses,
# probed so that nothing can change. A permission is granted when Heymarket answers the probe (2xx), refuses its body
# (400: the request was authorised, then found invalid) or answers its own 404; refused when it answers 401 or 403.
# (what, method, path, body)
PERMISSION_PROBES: Final[tuple[tuple[str, str, str, dict[str, Any]], ...]] = (
    (
        "search contacts",
        "POST",
        "/v2/contacts/search",
        {"contact_channels": [{"channel_type": "phone", "channel_ids": []}]},
    ),
    # A body Heymarket must refuse ("contacts" is not an array): nothing can be written.
    ("write contacts", "POST", "/v2/contacts", {"contacts": {}}),
    ("read tags", "POST", "/v1/tags", {}),
    ("read custom fields", "POST", "/v1/contact-fields", {}),
    # An update of list 0, which no account holds, that changes nothing even if it were held.
    ("write lists", "PUT", "/v2/lists/0", {}),
)
