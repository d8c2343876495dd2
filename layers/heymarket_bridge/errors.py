"""Failures of the edges that the domain reacts to, without importing the adapters that raise them."""

from __future__ import annotations


class DeliveryInProgress(Exception):
    """The same webhook delivery is being handled right now by another invocation."""


class DeliveryLedgerUnavailable(Exception):
    """The record of past deliveries could not be read or written (DynamoDB unreachable or refusing)."""


class DeliveryKeyConflict(Exception):
    """A delivery key the sender chose (an Idempotency-Key) was already used for a different body."""


class ConsentRecordUnavailable(Exception):
    """The consent record could not be read or written (DynamoDB unreachable or refusing)."""
