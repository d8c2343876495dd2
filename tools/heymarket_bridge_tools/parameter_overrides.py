"""`--parameter-overrides` read as `sam deploy` reads it, so that one line works for both commands.

The grammar is aws-sam-cli's (samcli/cli/types.py, `CfnParameterOverridesType`, the `sam deploy` and `sam local`
option of the same name: https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/
sam-cli-command-reference-sam-deploy.html): pairs separated by spaces, each `Key=Value` or
`ParameterKey=Key,ParameterValue=Value`; a value may be wrapped in double or single quotes to hold spaces, and
inside it `\\"`, `\\'` and `\\ ` stand for the character. Its regular expressions are mirrored here (not imported:
aws-sam-cli is a development tool, not a dependency of the `local` extra); tests/tools/test_parameter_overrides.py
checks both give the same values on the same lines.

One deliberate difference: text that is no pair (`a b`, a value cut by an unquoted space: `Title=Preferred clinic`)
is refused, where sam skips it without a word; a mapping silently cut short would send contacts
to the wrong field. `file://` references are not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

# samcli/cli/types.py: PARAM_AND_METADATA_KEY_REGEX and _generate_match_regex(match_pattern=".", delim=" ").
_KEY: Final = r"""([A-Za-z0-9"']+)"""
_VALUE: Final = r"""("(?:\\.|[^"\\]+)*"|'(?:\\.|[^'\\]+)*'|(?:\\.|[^ "\\]+)+)"""
_PAIRS: Final = (
    re.compile(rf"(?:ParameterKey={_KEY},ParameterValue={_VALUE})"),
    re.compile(rf"(?:(?: ){_KEY}={_VALUE})"),
)
EXAMPLE: Final = "Key=Value Other='a value with spaces'"


class ParameterOverridesError(ValueError):
    """A `--parameter-overrides` value that is no list of pairs; the message names the text and where it is."""


def unquote(value: str) -> str:
    r"""A value without its wrapping quotes, with `\ `, `\"` and `\'` read as the character (samcli's
    `_unquote_wrapped_quotes`)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


def parse_overrides(values: Iterable[str]) -> dict[str, str]:
    """Parameter name -> value from each `--parameter-overrides` given (a later one wins, as in sam).

    Raises ParameterOverridesError for a value holding text that is not a pair.
    """
    parameters: dict[str, str] = {}
    for value in values:
        parameters.update(_parse_one(value))
    return parameters


def _parse_one(value: str) -> dict[str, str]:
    if not value.strip():
        return {}
    # sam prefixes a space so that the first pair matches the space-delimited pattern too.
    line = " " + value.strip()
    for pattern in _PAIRS:
        matches = list(pattern.finditer(line))
        if matches:
            _refuse_leftovers(line, matches)
            return {unquote(match.group(1)): unquote(match.group(2)) for match in matches}
    raise ParameterOverridesError(f"expected KEY=VALUE pairs separated by spaces (e.g. {EXAMPLE}), got {value!r}")


def _refuse_leftovers(line: str, matches: list[re.Match[str]]) -> None:
    """Refuse any text between or after the pairs other than spaces (sam ignores it)."""
    position = 0
    for match in [*matches, None]:
        end = len(line) if match is None else match.start()
        leftover = line[position:end].strip()
        if leftover:
            raise ParameterOverridesError(
                f"{leftover!r} is not a KEY=VALUE pair: a value with spaces goes in quotes, e.g. {EXAMPLE}"
            )
        if match is not None:
            position = match.end()
