"""The one place that creates the Logger and Metrics; every other module imports them from here."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "heymarket-bridge"
NAMESPACE = "HeymarketBridge"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


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
