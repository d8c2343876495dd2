"""Composition roots, one module per function, each importing only what its own function uses.

`heymarket_bridge.app.ingest` serves the ingest function, `heymarket_bridge.app.sync` the sync function.
Each builds its service once per cold start (per execution environment), from settings and boto3 clients.
Keeping them apart keeps each function's cold start free of the other's imports: the ingest function never
loads the Heymarket client, PyJWT or the batch utility; the sync function never loads the sources or phonenumbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from heymarket_bridge.domain.records import record


@record
class AwsCallBudget:
    """How long one AWS API call may take, botocore's own retries included.

    connect_timeout_s and read_timeout_s bound each attempt (seconds; the read timeout is the longest wait for
    the next bytes of the answer), max_attempts counts every attempt, the first included (botocore's
    `total_max_attempts`, "standard" retry mode: throttling, 5xx, timeouts and connection errors are retried).
    """

    connect_timeout_s: float
    read_timeout_s: float
    max_attempts: int

    @property
    def longest_call_s(self) -> float:
        """The most one call can take, in seconds: every attempt waits out both timeouts, and botocore's standard
        mode sleeps at most 2**i seconds (capped at 20) before retry i+1 (botocore.retries.standard)."""
        backoff_s = sum(min(2.0**attempt, 20.0) for attempt in range(self.max_attempts - 1))
        return self.max_attempts * (self.connect_timeout_s + self.read_timeout_s) + backoff_s


# botocore's defaults are a 60 s connect and a 60 s read timeout and up to 3 (legacy: 5) attempts: one stalled
# call would outlast the ingest function (Timeout 10 s), which then ends as an API Gateway 500 instead of the
# bridge's 503. This budget lets one stalled call fail in 5 s at most (3 s when the endpoint accepts and never
# answers), leaving time for the 503: SQS, DynamoDB, SSM and Secrets Manager answer in milliseconds, so 1 s per
# attempt is ample and the retry absorbs an occasional slow one. The sync function's 60 s allow the same budget
# within its deadline reserve (SYNC_DEADLINE_RESERVE, 5 s). tests/unit/app/test_aws_clients.py checks both fits.
DEFAULT_AWS_CALL_BUDGET: Final = AwsCallBudget(connect_timeout_s=1.0, read_timeout_s=1.0, max_attempts=2)


class AwsClients:
    """The boto3 clients of one execution environment, made from its variables, not from the process's.

    `env` is the environment's variables (os.environ on Lambda): AWS_REGION (or AWS_DEFAULT_REGION), the
    credentials AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN the Lambda runtime sets, and
    AWS_ENDPOINT_URL (where tests and the local stack point the clients at moto). A variable the mapping lacks
    falls back to boto3's own resolution. One boto3 session per environment, made on the first client: the same
    one-time cost as boto3's default session (which `boto3.client` would make), and nothing at import.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._session: Any = None

    def client(self, service: str, budget: AwsCallBudget = DEFAULT_AWS_CALL_BUDGET) -> Any:
        """A boto3 client with the budget's timeouts and retries, created on first use, not at import: no
        credential lookup at import, and tests can point it at moto (AWS_ENDPOINT_URL) or at a stalled endpoint."""
        import boto3
        from botocore.config import Config

        env = self._env
        if self._session is None:
            self._session = boto3.session.Session(
                aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
                aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
                aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
                region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            )
        config = Config(
            connect_timeout=budget.connect_timeout_s,
            read_timeout=budget.read_timeout_s,
            retries={"mode": "standard", "total_max_attempts": budget.max_attempts},
        )
        return self._session.client(service, config=config, endpoint_url=env.get("AWS_ENDPOINT_URL") or None)
