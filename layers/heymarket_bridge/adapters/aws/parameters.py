"""The field mappings in their SSM parameter, through Powertools parameters: read at start-up, then re-read."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping

from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from heymarket_bridge.domain.mapping import SourceMapping
from heymarket_bridge.ingest.sources.base import SOURCE_NAMES
from heymarket_bridge.observability import logger
from heymarket_bridge.settings import ConfigError, parse_source_mappings


class MappingsUnavailable(RuntimeError):
    """SSM could not be read right now (transient: try again later)."""


class SourceMappingsParameter(Mapping[str, SourceMapping]):
    """The mappings held in one SSM String parameter, as a read-only mapping of source name to SourceMapping.

    Read and validated when created (the function's start-up): a value that is not valid mappings raises
    ConfigError naming the parameter, an unreachable SSM raises MappingsUnavailable. Afterwards the parameter is
    read again at most every `max_age_s` seconds, so that a deploy that changes it reaches warm instances too;
    a new value that is invalid is logged and the last valid mappings stay in use, and so do they while SSM
    cannot be reached (retried after another `max_age_s`, so that a stalled SSM does not slow every webhook).
    """

    def __init__(
        self,
        provider: SSMProvider,
        name: str,
        max_age_s: float = 300,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._name = name
        self._max_age_s = max_age_s
        self._clock = clock
        self._raw = self._fetch()
        self._mappings = self._parse(self._raw)
        self._read_again_at = clock() + max_age_s

    def _fetch(self) -> str:
        try:
            return str(self._provider.get(self._name, max_age=0, force_fetch=True))
        except GetParameterError as exc:
            raise MappingsUnavailable(f"cannot read SSM parameter {self._name}") from exc

    def _parse(self, raw: str) -> dict[str, SourceMapping]:
        return parse_source_mappings(raw, f"SSM parameter {self._name} (SOURCE_MAPPINGS_PARAMETER)", SOURCE_NAMES)

    def _current(self) -> Mapping[str, SourceMapping]:
        now = self._clock()
        if now < self._read_again_at:
            return self._mappings
        self._read_again_at = now + self._max_age_s
        try:
            raw = self._fetch()
            if raw != self._raw:
                self._mappings, self._raw = self._parse(raw), raw
                logger.info("Source mappings read again", extra={"parameter": self._name, "sources": len(self)})
        except MappingsUnavailable:
            logger.warning("Source mappings not re-read: SSM unreachable", extra={"parameter": self._name})
        except ConfigError as exc:
            logger.error("Source mappings not re-read: invalid", extra={"parameter": self._name, "error": str(exc)})
        return self._mappings

    def __getitem__(self, source: str) -> SourceMapping:
        return self._current()[source]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current())

    def __len__(self) -> int:
        return len(self._mappings)
