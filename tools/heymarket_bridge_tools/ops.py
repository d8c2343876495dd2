"""Operator tasks against a deployed stack or the local one: the stack's queues, their status, the credentials check.

Everything here takes boto3 clients, so the same code serves `--stack-name` (real AWS, URLs from the stack's
Outputs) and the local stack's moto. Contacts, and the error texts that may quote them, are shown masked unless
the operator asks otherwise; an export is written readable by its owner only.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from heymarket_bridge_tools.dlq_read import queue_depth


@dataclass(frozen=True)
class StackQueues:
    queue_url: str
    dlq_url: str
    heymarket_secret_arn: str = ""
    heymarket_url: str = "https://api.heymarket.com"

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
        )


@dataclass(frozen=True)
class QueueStatus:
    queue_visible: int
    queue_in_flight: int
    dlq_visible: int
    dlq_in_flight: int
    # Messages put back with a delay: contacts waiting for the bridge's configuration to be fixed.
    queue_delayed: int = 0


def queue_status(sqs: Any, queues: StackQueues) -> QueueStatus:
    visible, in_flight = queue_depth(sqs, queues.queue_url)
    dlq_visible, dlq_in_flight = queue_depth(sqs, queues.dlq_url)
    delayed = sqs.get_queue_attributes(
        QueueUrl=queues.queue_url, AttributeNames=["ApproximateNumberOfMessagesDelayed"]
    )["Attributes"]
    return QueueStatus(
        visible, in_flight, dlq_visible, dlq_in_flight, int(delayed.get("ApproximateNumberOfMessagesDelayed", 0))
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


def check_credentials(secretsmanager: Any, secret_arn: str, heymarket_url: str) -> tuple[bool, str]:
    """Sign a JWT from the stack's secret, call GET /v1/inboxes, then probe each permission the bridge uses
    (PERMISSION_PROBES, none of which can change anything): (all granted, what to tell the operator).

    The Heymarket client's own log lines and warnings (meant for CloudWatch) are kept out of the answer.
    """
    from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
    from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
    from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
    from heymarket_bridge.domain.failures import Deadline, GatewayFailure
    from heymarket_bridge.settings import ConfigError

    def load(_refresh: bool) -> Credentials:
        text = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
        try:
            secret = json.loads(text)
        except ValueError:
            raise ConfigError(
                'it is not JSON: store {"secret_id": "...", "secret_key": "..."} (or {"api_key": "..."})'
            ) from None
        if not isinstance(secret, dict):
            raise ConfigError('it is not a JSON object: store {"secret_id": "...", "secret_key": "..."}')
        return Credentials.from_secret(secret)

    if not secret_arn:
        return False, "the stack has no Heymarket secret (no HeymarketSecretArn output)"
    http = HeymarketHttp(heymarket_url, Authenticator(load), RequestBudget(60), connect_timeout_s=5, read_timeout_s=10)
    try:
        with _quiet_client():
            inboxes = http.call("GET", "/v1/inboxes", None, Deadline.after(20)).data
    except GatewayFailure as exc:
        request_id = f" (request id {exc.request_id})" if exc.request_id else ""
        return False, f"{exc.reason}{request_id}"
    except (NotFound, Refused) as exc:
        return False, f"could not check the credentials at {heymarket_url}: {exc}"
    count = len(inboxes) if isinstance(inboxes, list) else None
    suffix = f"; {count} inbox(es) visible" if count is not None else ""
    refused: list[str] = []
    for what, method, path, body in PERMISSION_PROBES:
        try:
            with _quiet_client():
                http.call(method, path, body, Deadline.after(20))
        except (NotFound, Refused):
            continue  # authorised, then refused for the probe's own body or id: the permission is there
        except GatewayFailure as exc:
            request_id = f", request id {exc.request_id}" if exc.request_id else ""
            refused.append(f"{what} ({method} {path}: {exc.reason}{request_id})")
    if refused:
        return False, f"the credentials work{suffix}, but Heymarket refuses what the bridge needs: " + "; ".join(
            refused
        )
    granted = ", ".join(what for what, *_ in PERMISSION_PROBES)
    return True, f"the credentials work{suffix}; granted: {granted}"


@contextmanager
def _quiet_client() -> Iterator[None]:
    """Keep the layer's JSON logs, metric lines and library warnings off the operator's terminal."""
    import logging

    from heymarket_bridge.observability import logger

    handler = logger.registered_handler
    sink = io.StringIO()
    previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)
