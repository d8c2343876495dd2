"""One GET to a vendor's API, answered as (status, JSON value) or sorted into a failure of the fetch use case.

No retries here: a transient failure puts the notice back on the fetch queue with a growing delay
(heymarket_bridge.ingest.fetch), so a vendor that is down costs one request per notice per attempt, and the function's
time is not spent waiting.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import urllib3

from heymarket_bridge.domain.records import record
from heymarket_bridge.ingest.failures import FetchTransient

# A lead or an appointment is a few kilobytes; this only keeps a runaway answer from exhausting the memory.
MAX_ANSWER_BYTES = 1024 * 1024


@record
class VendorAnswer:
    """A vendor's answer: its HTTP status and its body read as JSON (None when it is not JSON)."""

    status: int
    data: Any


class VendorHttp:
    """GETs over one connection pool per execution environment, each bounded by its timeouts; counts its requests."""

    def __init__(self, vendor: str, *, connect_timeout_s: float = 3.05, read_timeout_s: float = 10.0) -> None:
        self._vendor = vendor
        self._pool = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=connect_timeout_s, read=read_timeout_s), retries=False
        )
        self.requests_sent = 0

    def get(self, url: str, headers: Mapping[str, str]) -> VendorAnswer:
        """The answer to `GET url`; FetchTransient when none came (a timeout, a reset, a refused connection)."""
        self.requests_sent += 1
        try:
            response = self._pool.request("GET", url, headers=dict(headers), preload_content=False, redirect=False)
            try:
                raw = response.read(MAX_ANSWER_BYTES + 1, decode_content=True)
            finally:
                response.release_conn()
        except urllib3.exceptions.HTTPError as exc:
            raise FetchTransient(f"{self._vendor} did not answer ({type(exc).__name__})") from exc
        if len(raw) > MAX_ANSWER_BYTES:
            raise FetchTransient(f"{self._vendor} answered with more than {MAX_ANSWER_BYTES} bytes")
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return VendorAnswer(response.status, data)
