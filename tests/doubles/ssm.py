"""SSM Parameter Store through Powertools, in memory: stands in for `SSMProvider` (its `get`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError


class FakeSsm:
    """An SSMProvider stand-in: answers with `value`, or raises as Powertools does when SSM fails."""

    def __init__(self, value: str) -> None:
        self.value = value
        self.unreachable = False
        self.reads = 0

    def get(self, name: str, **options: Any) -> str:
        self.reads += 1
        if self.unreachable:
            raise GetParameterError("timed out")
        return self.value
