"""Secrets Manager JSON secrets through Powertools parameters (cached, refreshable)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from heymarket_bridge.domain.failures import SecretMisconfigured, SecretUnavailable
from heymarket_bridge.settings import ConfigError

# Secrets Manager's error codes that no retry can fix (GetSecretValue, "Errors" in its API reference).
_MISCONFIGURED = frozenset(
    {
        "ResourceNotFoundException",
        "AccessDeniedException",
        "AccessDenied",
        "DecryptionFailure",
        "InvalidRequestException",
        "InvalidParameterException",
        "KMSAccessDeniedException",
    }
)


class JsonSecretStore:
    """Reads JSON-object secrets; a value is cached for `max_age_s` unless a refresh is asked for."""

    def __init__(self, provider: SecretsProvider, max_age_s: int = 300) -> None:
        self._provider = provider
        self._max_age_s = max_age_s

    def get(self, secret_id: str, *, refresh: bool = False) -> dict[str, Any]:
        try:
            value = self._provider.get(secret_id, transform="json", max_age=self._max_age_s, force_fetch=refresh)
        except TransformParameterError as exc:
            raise ConfigError(f"secret {secret_id} is not a JSON object") from exc
        except GetParameterError as exc:
            code = _error_code(exc)
            if code in _MISCONFIGURED:
                raise SecretMisconfigured(f"cannot read secret {secret_id}: {code}", code) from exc
            raise SecretUnavailable(f"cannot read secret {secret_id}" + (f": {code}" if code else "")) from exc
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id} is not a JSON object")
        return value


def _error_code(error: BaseException) -> str:
    """The AWS error code behind a Powertools parameters error (it wraps botocore's ClientError), or ''."""
    cause: BaseException | None = error
    while cause is not None:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            return str((response.get("Error") or {}).get("Code") or "")
        cause = cause.__cause__ or cause.__context__
    return ""
