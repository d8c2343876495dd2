"""Secrets Manager JSON secrets through Powertools parameters (cached, refreshable)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from heymarket_bridge.settings import ConfigError


class SecretUnavailable(RuntimeError):
    """Secrets Manager could not be read right now (transient: try again later)."""


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
            raise SecretUnavailable(f"cannot read secret {secret_id}") from exc
        if not isinstance(value, dict):
            raise ConfigError(f"secret {secret_id} is not a JSON object")
        return value
