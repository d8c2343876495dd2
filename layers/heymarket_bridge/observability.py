"""The one place that creates the Logger and Metrics; every other module imports them from here."""

from __future__ import annotations

import json
import os
import re
import warnings
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

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


# Keys Powertools adds to every line that the log group (one per function) and Lambda's own REPORT line already say:
# about 130 bytes a line, billed per byte ingested. `function_request_id` and `cold_start` stay.
_SAID_BY_THE_LOG_GROUP: Final = ("function_arn", "function_memory_size", "function_name")


def _log_line(record: dict[str, Any]) -> str:
    """Powertools' JSON log line (UTF-8, compact), with what UTF-8 cannot encode (a lone surrogate a sender sent as a
    JSON escape) written as its JSON escape: writing the line to stdout would otherwise fail and lose it. Keys the
    log group already says are left out."""
    for key in _SAID_BY_THE_LOG_GROUP:
        record.pop(key, None)
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


# The custom metric series, each with the `service` dimension only: CloudWatch bills every (name, dimensions) pair a
# month is written in ($0.30 per series-month, https://aws.amazon.com/cloudwatch/pricing/), so per-source and per-kind
# detail goes into the structured logs (below), read by the template's saved Logs Insights queries, never into a
# dimension. Each is here for an alarm or because an operator reads it at a glance; a count of zero is not written
# (an hour without a write costs nothing, and the alarms treat missing data as not breaching).
METRICS: Final = {
    "WebhooksReceived": "webhooks that reached the ingest function (by source: the webhook summary line)",
    "WebhooksRefused": "webhooks answered 4xx/5xx (by source and code: the webhook summary line)",
    "ContactsEnqueued": "contacts put on ContactQueue",
    "RefusalLettersWritten": "contacts refused for their content, written to the DLQ (RefusalLettersAlarm)",
    "ContactsDelivered": "contacts Heymarket stored",
    "ContactsWaiting": "contacts put back on the queue while the bridge is misconfigured",
    "HeymarketThrottles": "429 answers (HeymarketThrottleAlarm)",
    "HeymarketAuthFailures": "credentials refused after a fresh read of the secret (HeymarketAuthAlarm)",
    "HeymarketConfigurationErrors": "Heymarket unreachable as configured (HeymarketConfigurationAlarm)",
    "ConsentRecordsFailed": "consent changes not written to the consent record (ConsentRecordAlarm)",
}
"""Metric name -> what it counts. At most 10 series, so that a stack with two sources stays within 12 with the
quiet-source log metric filter (one series per source)."""

FETCH_METRICS: Final = {
    "FetchConfigurationErrors": "a vendor refused the fetch credentials (FetchConfigurationAlarm)",
    "FetchThrottled": "a vendor answered a fetch with its quota reached (FetchQuotaAlarm)",
}
"""The metrics only FetchFunction writes, for the sources whose leads it fetches (Meta Lead Ads, Acuity), and only
when a fetch fails so: a stack whose sources all post their contacts never has these series."""

# The one line per webhook: the ingest function writes exactly one line per request with both keys below, whatever
# its outcome ("Webhook accepted", "Repeated delivery answered as the first one", "Delete request accepted", or
# "Webhook refused"); log metric filters and saved queries match on these two keys, which stay as they are:
#   source   the source's name from the URL ("deletes" for the bulk delete, an unknown name cut to 60 characters)
#   outcome  one of WEBHOOK_OUTCOMES
WEBHOOK_OUTCOMES: Final = ("accepted", "duplicate", "refused")
"""accepted: answered 202 with contacts queued or refused in it; duplicate: a repeat answered as the first delivery
(nothing queued again); refused: answered 4xx or 5xx (`status` and `code` say which)."""

COUNTED_MESSAGE: Final = "Counted"
"""The message of the log line a count outside METRICS is written as: {"metric": name, "value": n, ...detail}."""


def emit_metric(name: str, value: float = 1, **detail: str) -> None:
    """Count `value` of `name` in this invocation: a metric series (the `service` dimension only, written when the
    invocation ends) for a name in METRICS or FETCH_METRICS, else one INFO line `Counted` with the name, the value
    and `detail` (`kind=...`), for Logs Insights (saved query `counts`). A zero is not written."""
    if not value:
        return
    if (name in METRICS or name in FETCH_METRICS) and not detail:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return
    logger.info(COUNTED_MESSAGE, extra={"metric": name, "value": value, **detail})


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
