"""Composition roots, one module per function, each importing only what its own function uses.

`heymarket_bridge.runtime.ingest` serves the ingest function, `heymarket_bridge.runtime.sync` the sync function.
Each builds its service once per cold start (per execution environment), from settings and boto3 clients.
Keeping them apart keeps each function's cold start free of the other's imports: the ingest function never
loads the Heymarket client, PyJWT or the batch utility; the sync function never loads the sources or phonenumbers.
"""

from __future__ import annotations

from typing import Any


def aws_client(service: str) -> Any:
    """A boto3 client, created on first use, not at import: no credential lookup at import; tests can mock AWS."""
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]
