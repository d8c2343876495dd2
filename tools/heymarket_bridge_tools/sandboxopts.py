"""Command-line options built from `SandboxConfig`'s fields, so that a new sandbox setting needs no CLI change.

Each dataclass field becomes an option (`--fail-rate` for `fail_rate`, with a prefix for `local` and `demo`:
`--sandbox-fail-rate`), typed from its annotation, with the field's default, and `help` and `choices` from the
field's metadata (`field(default=..., metadata={"help": "...", "choices": (...)})`). Booleans are flags
(`--x/--no-x`); `X | None` takes an empty value or `none` for None; any other type (tuples, lists) takes JSON, which
SandboxConfig validates like the faults endpoint's.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import click

from heymarket_bridge_tools.errors import EXIT_USAGE, CliError

F = TypeVar("F", bound=Callable[..., Any])
_NONE_WORDS: Final = ("", "none", "null")


@dataclasses.dataclass(frozen=True)
class SandboxOption:
    field_name: str
    option: str  # "--sandbox-fail-rate"
    parameter: str  # the click parameter name: "sandbox_fail_rate"
    decorator: Callable[[F], F]


def sandbox_options(config_class: type[Any], prefix: str = "") -> list[SandboxOption]:
    """One option per field of `config_class` (a dataclass), named `--<prefix><field-with-dashes>`."""
    hints = typing.get_type_hints(config_class)
    defaults = config_class()
    options = []
    for field in dataclasses.fields(config_class):
        if not field.init:
            continue
        option = f"--{prefix}{field.name.replace('_', '-')}"
        parameter = f"{prefix.replace('-', '_')}{field.name}"
        options.append(
            SandboxOption(
                field.name, option, parameter, _decorator(field, hints[field.name], option, parameter, defaults)
            )
        )
    return options


def apply_options(command: F, options: list[SandboxOption]) -> F:
    for option in reversed(options):
        command = option.decorator(command)
    return command


def config_from_options(
    config_class: type[Any], options: list[SandboxOption], values: Mapping[str, Any], base: Any = None
) -> Any:
    """A `config_class` with the options given on the command line over `base` (default: the class's defaults)."""
    context = click.get_current_context(silent=True)

    def given(parameter: str) -> bool:
        if context is None:
            return parameter in values
        source = context.get_parameter_source(parameter)
        return source is not None and source is not click.core.ParameterSource.DEFAULT

    changes = {option.field_name: values[option.parameter] for option in options if given(option.parameter)}
    try:
        return dataclasses.replace(base if base is not None else config_class(), **changes)
    except (TypeError, ValueError) as error:
        message = str(error)
        for option in options:  # SandboxConfig names the field first: name the option instead
            if message.startswith(option.field_name + " "):
                message = option.option + message[len(option.field_name) :]
                break
        raise CliError(f"invalid sandbox setting: {message}", EXIT_USAGE) from None


# Help for the settings the sandbox had before its fields carried metadata; a field's own "help" wins.
_FALLBACK_HELP: Final = {
    "secret_id": "JWT secret id (the iss claim).",
    "secret_key": "JWT secret key.",
    "api_key": "Legacy API key; empty or 'none' disables it.",
    "rate_limit_per_minute": "API requests accepted per 60 s.",
    "max_bulk_contacts": "Contacts per bulk request.",
    "duplicate_create": "What a create of a phone Heymarket already holds does.",
    "fail_rate": "Fraction of API requests answered 500.",
    "latency_ms": "Delay added to each API request, in ms.",
    "contact_error_rate": "Fraction of contacts in bulk writes that fail.",
    "throttle_burst": "Answer the next N requests 429.",
    "reset_rate": "Fraction of requests whose connection is reset after they took effect.",
    "seed": "Seed of the random faults.",
    "custom_fields": 'The team\'s custom fields, as JSON [[id, "title"], ...].',
}


def _decorator(
    field: dataclasses.Field[Any], annotation: Any, option: str, parameter: str, defaults: Any
) -> Callable[[F], F]:
    default = getattr(defaults, field.name)
    metadata: Mapping[str, Any] = field.metadata or {}
    fallback = _FALLBACK_HELP.get(field.name) or field.name.replace("_", " ").capitalize() + "."
    help_text = str(metadata.get("help") or fallback)
    choices = metadata.get("choices")
    if choices:
        choices = (*choices, *metadata.get("aliases", {}))
    inner, optional = _unwrap_optional(annotation)
    common: dict[str, Any] = {"help": help_text, "default": default, "show_default": True}
    if typing.get_origin(inner) is tuple and (choices or metadata.get("parse")):
        # A tuple setting whose items the field can read one by one: the option is repeated, once per item.
        item: click.ParamType = _Choice(choices) if choices else _Parsed(metadata["parse"])
        return click.option(
            option, parameter, type=item, multiple=True, default=(), help=help_text, metavar=metadata.get("metavar")
        )
    if default is None:
        common["show_default"] = False
    elif isinstance(default, tuple | list):
        common["default"] = json.dumps(default)
        common["show_default"] = json.dumps(default)
    if inner is bool:
        return click.option(f"{option}/--no-{option[2:]}", parameter, **common)
    if choices:
        return click.option(option, parameter, type=_Nullable(_Choice(choices), optional), **common)
    if inner in (int, float, str):
        scalar = {int: click.INT, float: click.FLOAT, str: click.STRING}[inner]
        return click.option(option, parameter, type=_Nullable(scalar, optional), **common)
    return click.option(option, parameter, type=_Json(optional), metavar="JSON", **common)


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        arguments = [argument for argument in typing.get_args(annotation) if argument is not type(None)]
        if len(arguments) == 1:
            return arguments[0], True
    return annotation, False


class _Nullable(click.ParamType):
    """A scalar type that, for an optional field, also reads an empty value or 'none' as None."""

    def __init__(self, inner: click.ParamType, optional: bool) -> None:
        self.inner = inner
        self.optional = optional
        self.name = inner.name

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str | None:
        # click 8.2 and later pass `ctx` by keyword (.venv313 gets such a click; aws-sam-cli keeps .venv on 8.1).
        return self.inner.get_metavar(param, *args, **kwargs)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None:
            return None
        if self.optional and isinstance(value, str) and value.strip().lower() in _NONE_WORDS:
            return None
        return self.inner.convert(value, param, ctx)


class _Choice(click.Choice):
    """One of a field's choices, given as text on the command line and turned back into the choice's own value
    (301 for "301")."""

    def __init__(self, choices: tuple[Any, ...]) -> None:
        self.values = {str(choice): choice for choice in choices}
        super().__init__(list(self.values))

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return self.values[super().convert(str(value), param, ctx)]


class _Parsed(click.ParamType):
    """One item of a repeated option, read by the field's own parser (ValueError: a usage error)."""

    name = "item"

    def __init__(self, parse: Callable[[str], Any]) -> None:
        self.parse = parse

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Json(click.ParamType):
    name = "json"

    def __init__(self, optional: bool) -> None:
        self.optional = optional

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return value
        if self.optional and value.strip().lower() in _NONE_WORDS:
            return None
        try:
            return json.loads(value)
        except ValueError as error:
            self.fail(f"{value!r} is not JSON: {error}", param, ctx)
