"""Every failure of the ingest use case, declared once: the refusals a webhook is answered with (`WebhookError` and its
kinds, each with its HTTP status and a machine-readable code) and the failures the delivery ledger's port reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from heymarket_bridge.domain.text import printable


class WebhookError(Exception):
    """A request the bridge refuses, with the HTTP status and a machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: Mapping[str, Any] | None = None) -> None:
        # Printable: whatever a sender's text put in it, the message can be logged, stored and answered.
        message = printable(message)
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class BadRequest(WebhookError):
    status, code = 400, "bad_request"


class Unauthorized(WebhookError):
    status, code = 401, "unauthorized"


class DeletesNotConfigured(WebhookError):
    """The stack has no delete credential: deletes are refused until the operator adds one."""

    status, code = 403, "deletes_not_configured"


class UnknownSource(WebhookError):
    status, code = 404, "unknown_source"


class DeliveryInProgress(WebhookError):
    status, code = 409, "delivery_in_progress"


class PayloadTooLarge(WebhookError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(WebhookError):
    status, code = 415, "unsupported_media_type"


class IdempotencyKeyReused(WebhookError):
    """The IETF idempotency-key draft (draft-ietf-httpapi-idempotency-key-header, "Error Scenarios"): a key reused
    with a different payload is answered 422."""

    status, code = 422, "idempotency_key_reused"


class NothingValid(WebhookError):
    status, code = 422, "no_valid_contacts"


class BufferUnavailable(WebhookError):
    status, code = 503, "buffer_unavailable"


class DeliveryLedgerBusy(Exception):
    """The same webhook delivery is being handled right now by another invocation."""


class DeliveryLedgerUnavailable(Exception):
    """The record of past deliveries could not be read or written (DynamoDB unreachable or refusing)."""


class DeliveryKeyConflict(Exception):
    """A delivery key the sender chose (an Idempotency-Key) was already used for a different body."""


class Forbidden(WebhookError):
    """A verification handshake whose token is not the one the bridge issued (Meta's hub.verify_token)."""

    status, code = 403, "forbidden"


class MethodNotAllowed(WebhookError):
    status, code = 405, "method_not_allowed"


# ---------------------------------------------------------------------- fetching what an id-only notification names


class FetchFailure(Exception):
    """Why a record a notification names (a Meta lead, an Acuity appointment) could not be fetched from its vendor.
    `reason` is for people and never holds a token or a person's data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchTransient(FetchFailure):
    """It may succeed later: a 5xx, a timeout, a 429, Graph error codes 1, 2, 4, 17, 32, 613. `throttled`: the
    vendor's quota or rate limit was reached (a health signal of its own)."""

    def __init__(self, reason: str, *, throttled: bool = False) -> None:
        super().__init__(reason)
        self.throttled = throttled


class FetchGone(FetchFailure):
    """The record does not exist (a 404, Graph error 100 "does not exist"): fetching it again cannot succeed."""


class FetchRefused(FetchFailure):
    """The vendor refuses the bridge's credentials (Graph error 190, permission errors 10 and 200, a Page's Leads
    Access Manager withholding leads; Acuity's 401), or they are missing: nothing is fetched until an operator fixes
    them. The notification waits."""


class TooManyRequests(WebhookError):
    """A limit reached (heymarket_bridge.ingest.limits): `details["retry_after_s"]` becomes the Retry-After header
    (RFC 9110 section 10.2.3: seconds), `details["limit"]` names the limit."""

    status, code = 429, "too_many_requests"

    @property
    def retry_after_s(self) -> int:
        return int(self.details.get("retry_after_s", 60))


class CountersUnavailable(Exception):
    """The shared contact counters could not be read or written (DynamoDB unreachable or refusing)."""


class QueueDepthUnavailable(Exception):
    """The contact queue's depth could not be read."""


class MalformedSecretEntry(ValueError):
    """A webhook-secrets entry that is neither a string, a {"token", "scopes"} object, nor a list of them
    (heymarket_bridge.ingest.scopes)."""
