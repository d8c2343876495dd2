"""The one place that creates the Logger and Metrics; every other module imports them from here."""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

NAMESPACE = "HeymarketBridge"
# An email, then (in the text left) a phone-shaped run, each tried only where its run starts (the lookbehinds):
# trying every position of a long run without an "@" was quadratic (a 100 KB value cost 15 s).
_EMAIL = re.compile(r"(?<![^\s@\"'<>])[^\s@\"'<>]+@[^\s@\"'<>]+")
_PHONE = re.compile(r"(?<!\d)\+?\d[\d\s().-]{6,}\d")
# How far past the kept part redaction looks, so that an email or a phone cut by the limit is still recognised.
_REDACTION_MARGIN = 320
DEFAULT_SERVICE = "heymarket-bridge"

# The service name comes from POWERTOOLS_SERVICE_NAME, which the template sets to the stack name: two stacks
# in one account (dev and prod) keep separate metrics, and each stack's dashboard and alarms see only its own.
# Read when this module is first imported, as Powertools itself does; Lambda sets it before any import.
_SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE


def _log_line(record: dict[str, Any]) -> str:
    """Powertools' JSON log line (UTF-8, compact), with what UTF-8 cannot encode (a lone surrogate a sender sent as a
    JSON escape) written as its JSON escape: writing the line to stdout would otherwise fail and lose it."""
    line = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    return line.encode("utf-8", "backslashreplace").decode("utf-8")


logger = Logger(service=_SERVICE, json_serializer=_log_line)
metrics = Metrics(namespace=NAMESPACE, service=_SERVICE)
# An invocation may end with no metric in the set: a request refused before its source is known records its refusal
# with emit_metric (already written), a batch that failed before settling records nothing. Powertools would then warn
# "No application metrics to publish" at every such invocation; its documentation silences it this way.
warnings.filterwarnings("ignore", "No application metrics to publish*")


def service_name() -> str:
    """The `service` dimension of every metric (the stack name when deployed)."""
    return _SERVICE


def emit_metric(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """One metric with dimensions of its own, written at once (for dimensions that vary within an invocation)."""
    with single_metric(
        name=name, unit=unit, value=value, namespace=NAMESPACE, default_dimensions={"service": _SERVICE}
    ) as metric:
        for dimension, dimension_value in dimensions.items():
            metric.add_dimension(name=dimension, value=dimension_value)


def mask_phone(phone: str | None) -> str:
    """Keep the country prefix and the last four digits: enough to find a contact, not enough to dial it."""
    if not phone:
        return ""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) <= 6:
        return "*" * len(digits)
    return f"{digits[:2]}{'*' * (len(digits) - 6)}{digits[-4:]}"


def mask_email(email: str | None) -> str:
    """Keep the first character of the local part and the domain."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def redact(text: str, limit: int = 300) -> str:
    """Text for the logs with phone numbers and emails replaced (Heymarket's error texts may echo them), cut to
    `limit` characters; it costs the limit's length, not the text's (the text is cut before it is searched)."""
    window = text[: limit + _REDACTION_MARGIN]
    return _PHONE.sub("<redacted>", _EMAIL.sub("<redacted>", window))[:limit]
