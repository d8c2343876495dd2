"""The failures the use cases react to, without importing the adapters that raise them. Pure: no I/O.

Heymarket's failures (`GatewayFailure` and its kinds), as the Heymarket adapter reports them:


- `PermanentFailure`: Heymarket refused this contact or request, and will refuse it again (dead-letter it);
- `TransientFailure`: it may work later (5xx, 429, a timeout, an answer that could not be read);
- `ConfigurationFailure`: the bridge cannot work until an operator fixes something (credentials missing or refused,
  a base URL answering 3xx or 404); messages wait for the fix instead of using up their receives.

and the failure of the consent record's AWS edge (the ingest side's failures are in heymarket_bridge.ingest.ports).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field

from heymarket_bridge.domain.records import record


@record
class Deadline:
    """A point in time (on `clock`, seconds) after which no Heymarket call may still be running."""

    at: float
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        """Seconds left; zero or less once passed."""
        return self.at - self.clock()

    def passed(self) -> bool:
        return self.remaining() <= 0


class GatewayFailure(Exception):
    """Why a Heymarket call did not do what was asked. `reason` is for people; it never holds a secret."""

    def __init__(self, reason: str, *, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id
        # A write of the contact reached Heymarket and what it did is unknown (see TransientFailure); set on any
        # failure of a contact one of whose writes had such an outcome earlier in the invocation.
        self.outcome_unknown = False


class PermanentFailure(GatewayFailure):
    """Heymarket refused it (a 4xx such as 400 bad_data, or a contact in failed_contacts): the same will fail again."""


class TransientFailure(GatewayFailure):
    """It may succeed later: 5xx, 429, a timeout, a reset connection, an answer not of the documented shape."""

    def __init__(
        self,
        reason: str,
        *,
        request_id: str | None = None,
        throttled: bool = False,
        retry_after_s: float | None = None,
        outcome_unknown: bool = False,
        unavailable: bool = False,
        circuit_open: bool = False,
    ) -> None:
        super().__init__(reason, request_id=request_id)
        self.throttled = throttled  # Heymarket answered 429: over the account's request rate
        self.retry_after_s = retry_after_s
        # Heymarket itself failed (a 5xx, a 429, a timeout, a connection error): the kind of failure that, when every
        # call of a batch meets it, means Heymarket is down rather than this contact refused (sync.settle).
        self.unavailable = unavailable or circuit_open
        # No request was made: a run of such failures opened the invocation's circuit (adapters/heymarket/circuit.py).
        self.circuit_open = circuit_open
        # The request reached Heymarket and may still be taking effect (no answer in time, a reset, a 5xx): what it
        # did is known only later. A create must not be sent again before a later look-up shows whether it landed.
        self.outcome_unknown = outcome_unknown


class ConfigurationFailure(GatewayFailure):
    """Nothing can be sent until an operator fixes the bridge's setup: credentials, or the Heymarket base URL."""


def reworded(failure: GatewayFailure, reason: str) -> GatewayFailure:
    """The same kind of failure, told differently (its cause in the words of what it stopped), with all it says
    besides: request id, throttling, Retry-After, whether Heymarket was unavailable, and whether a write may have
    taken effect."""
    if isinstance(failure, TransientFailure):
        told: GatewayFailure = TransientFailure(
            reason,
            request_id=failure.request_id,
            throttled=failure.throttled,
            retry_after_s=failure.retry_after_s,
            unavailable=failure.unavailable,
            circuit_open=failure.circuit_open,
        )
    else:
        told = type(failure)(reason, request_id=failure.request_id)
    told.outcome_unknown = failure.outcome_unknown
    return told


def failure_kind(failure: GatewayFailure) -> str:
    """A dead letter's kind of failure (heymarket_bridge.domain.operations.ERROR_KINDS) from the failure's class:
    "refused", "configuration", or "failed"."""
    if isinstance(failure, PermanentFailure):
        return "refused"
    if isinstance(failure, ConfigurationFailure):
        return "configuration"
    return "failed"


class ConsentRecordUnavailable(Exception):
    """The consent record could not be read or written (DynamoDB unreachable or refusing)."""


class SecretUnavailable(RuntimeError):
    """Secrets Manager could not be read right now (transient: try again later)."""


class SecretMisconfigured(SecretUnavailable):
    """The secret cannot be read until an operator fixes something: it does not exist (a mistyped name or ARN,
    another region), it has no value yet, it is pending deletion, this function may not read it, or its KMS key
    may not be used. `code` is Secrets Manager's error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class InvalidContact(ValueError):
    """A contact that cannot be sent; `errors` names every problem found, one sentence each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


class MalformedMessage(ValueError):
    """A queue message this version of the bridge cannot read."""


class PhoneCountryConflict(ValueError):
    """A phone refused because what its payload says about its country disagrees with it (or with itself): the
    message names the evidence and the number (`read_phone`)."""
