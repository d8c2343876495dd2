"""Every test runs with fake AWS credentials and no endpoint of a real account, so nothing can leak out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heymarket_local.moto_dynamodb import item_scoped_transactions

# moto backs every transaction up by copying whole tables; the contact state table's would take minutes and gigabytes.
item_scoped_transactions()

FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "heymarket-bridge",
    "POWERTOOLS_METRICS_NAMESPACE": "HeymarketBridge",
}


@pytest.fixture(autouse=True)
def fake_aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    for name, value in FAKE_AWS_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    """Each test starts with no metrics or dimensions pending, as each Lambda invocation does (log_metrics flushes)."""
    from heymarket_bridge.observability import metrics

    metrics.clear_metrics()
    yield
    metrics.clear_metrics()
