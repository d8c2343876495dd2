"""The sandbox's settings: one frozen dataclass, validated on creation, and the command-line options derived from it.

Every field carries `metadata={"help": ..., "choices": ...}` (plus, where needed, `flags` for older option spellings,
`aliases` for older value spellings and `parse` for one command-line string), so that a new setting gets its
`heymarket-bridge sandbox` option, its `/_sandbox/faults` field and its `configure()` keyword without editing
anything else. `setting_options()` gives the same description to any command-line library.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# Every API endpoint the sandbox serves, named as the stats and the *_endpoints settings name them.
API_ENDPOINTS: Final = (
    "POST /v2/contacts",
    "DELETE /v2/contacts",
    "POST /v2/contacts/search",
    "POST /v2/contact",
    "GET /v2/contact/{id}",
    "PUT /v2/contact/{id}",
    "DELETE /v2/contact/{id}",
    "POST /v1/contact",
    "POST /v1/contact/get",
    "GET /v1/contact/{id}",
    "PUT /v1/contact/{id}",
    "DELETE /v1/contact/{id}",
    "POST /v1/batch/contacts",
    "POST /v1/contact-fields",
    "GET /v1/inboxes",
    "POST /v1/tags",
    "POST /v1/tag",
    "GET /v1/tag/{id}",
    "DELETE /v1/tag/{id}",
    "POST /v2/lists",
    "PUT /v2/lists/{id}",
    "DELETE /v2/lists/{id}",
)

ANSWER_FAULTS: Final = (
    "none",
    "non_json",
    "empty",
    "truncated",
    "other_shape",
    "non_object_items",
    "redirect",
    "not_found",
    "trickle",
)
# Ways Contact objects and bulk answers may deviate from the reference while meaning one thing only: the UUID as
# `id` (no integer id), the integer id as a decimal string, the phone with "+", fields the reference does not list,
# and a bulk answer without `contacts` when every contact failed.
ANSWER_DEVIATIONS: Final = (
    "id_as_uuid",
    "id_as_text",
    "phone_with_plus",
    "extra_fields",
    "no_contacts_when_all_failed",
)
# Heymarket documents no body limit; the default only protects the sandbox from runaway clients.
DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024 * 1024


def _setting(default: Any, help: str, choices: tuple[Any, ...] | None = None, **extra: Any) -> Any:
    """A dataclass field with the metadata the command line, the faults endpoint and the docs read."""
    return field(default=default, metadata={"help": help, "choices": choices, **extra})


def _pair_option(option: str) -> tuple[int, str]:
    """One ID=NAME command-line value."""
    item_id, separator, name = option.partition("=")
    if not separator or not item_id.strip().isdigit():
        raise ValueError(f"expected ID=NAME, got {option!r}")
    return int(item_id), name


def _text_option(option: str) -> str:
    """One PHONE:KEYWORD command-line value, normalised (ValueError: not one)."""
    return parse_texts([option])[0]


@dataclass(frozen=True)
class SandboxConfig:
    """Credentials, limits, the undocumented behaviours Heymarket may have, and injected faults; validated on
    creation (ValueError names the bad setting). Change a running sandbox with `HeymarketSandbox.configure`."""

    # Credentials ------------------------------------------------------------------------------------------------
    secret_id: str = _setting("sandbox-secret-id", "JWT secret id (the iss claim)")
    secret_key: str = _setting("sandbox-secret-key", "JWT secret key (HMAC key is SECRET_ID||SECRET_KEY)")
    api_key: str | None = _setting("sandbox-api-key", "legacy team API key; an empty string disables it")

    # Limits ------------------------------------------------------------------------------------------------------
    rate_limit_per_minute: int = _setting(
        500, "API requests admitted in any 60 s; beyond that 429 (documented: 500)", flags=("--rate-limit",)
    )
    max_bulk_contacts: int = _setting(
        1000,
        "contacts (or ids) per bulk write, search or delete; more answers 413 (NOT documented)",
        flags=("--max-bulk",),
    )
    max_body_bytes: int = _setting(DEFAULT_MAX_BODY_BYTES, "request body size; larger answers 413 (NOT documented)")
    retry_after_s: int | None = _setting(
        None, "seconds sent in a Retry-After header with every 429 (none by default: Heymarket documents none)"
    )

    # Undocumented behaviours ---------------------------------------------------------------------------------------
    duplicate_create: str = _setting(
        "refuse",
        "what a create does for a phone already held: refuse it (a failed contact or a 400), update the existing "
        "contact, or create a second contact with the same phone",
        ("refuse", "update", "duplicate"),
        aliases={"fail": "refuse"},
    )
    update_phone_held: str = _setting(
        "refuse",
        "what an update by contact_id does with a phone another contact holds: refuse it (a failed contact), keep "
        "the contact's own phone (its other fields written, answered 2xx), write onto the phone's holder instead "
        "(answered as that contact), or share the phone (two contacts hold it; also when duplicate_create is "
        "duplicate)",
        ("refuse", "keep", "holder", "share"),
    )
    identifiers: str = _setting(
        "uuid",
        'which identifiers Contact objects carry: "uuid" next to the integer id, or the integer id only (the UUID is '
        "then only in the answers of POST /v1/contact and PUT /v1/contact/{id})",
        ("uuid", "integer"),
    )
    answer_deviations: tuple[str, ...] = _setting(
        (),
        "how Contact objects and bulk answers deviate from the reference while meaning one thing only: id_as_uuid "
        "(the UUID as id, no integer id), id_as_text (the integer id as a string), phone_with_plus, extra_fields "
        "(fields the reference does not list), no_contacts_when_all_failed (a bulk answer without contacts); "
        "repeat the option for more",
        ANSWER_DEVIATIONS,
        flags=("--answer-deviation",),
        metavar="KIND",
    )
    delete_unknown: str = _setting(
        "ok",
        'what a delete of an unknown contact answers: "ok" (known ones deleted), 400 bad_data or 404 not_found '
        "(nothing deleted)",
        ("ok", "bad_data", "not_found"),
    )
    list_local_id_repeat: str = _setting(
        "existing",
        "what POST /v2/lists does with a local_id already used: answer the existing list, refuse it (400), or "
        "create a second list",
        ("existing", "refuse", "duplicate"),
    )
    update_omitted: str = _setting(
        "keep",
        "what an update does with the contact fields it leaves out: keep them, or clear them (the update replaces "
        "the whole contact)",
        ("keep", "clear"),
    )
    update_custom: str = _setting(
        "replace",
        "what a v2 update does with the custom map it sends: replace the stored map, or merge it key by key",
        ("replace", "merge"),
    )
    opt_in_over_stop: str = _setting(
        "accept",
        "what a write of is_opted_out false does to a contact opted out: accept it, ignore it (answered as stored, "
        "the contact stays opted out, its other fields change), or refuse it (400 for a single write, a failed "
        "contact in a bulk write)",
        ("accept", "ignore", "refuse"),
    )
    texts: tuple[str, ...] = _setting(
        (),
        "PHONE:KEYWORD texted to the account's number, applied when set to the contacts holding PHONE as Heymarket's "
        "app does (no API request): STOP, STOPALL, UNSUBSCRIBE, CANCEL, END or QUIT opt them out; START, YES or "
        "UNSTOP opt them back in; repeat the option for more. Given at startup it changes only the contacts held "
        'then (none on a fresh stack): text once they exist with POST /_sandbox/faults {"texts": ["PHONE:STOP"]}',
        flags=("--text",),
        parse=_text_option,
        metavar="PHONE:KEYWORD",
    )
    custom_fields: tuple[tuple[int, str], ...] = _setting(
        (),
        "a custom field (ID=TITLE) listed by POST /v1/contact-fields; repeat the option for more",
        flags=("--custom-field",),
        parse=_pair_option,
        metavar="ID=TITLE",
    )
    account_tags: tuple[tuple[int, str], ...] = _setting(
        ((1, "VIP"), (2, "Newsletter")),
        "a tag (ID=NAME) the account holds from the start and after a reset; repeat the option for more (by "
        "default tags 1 and 2, which the sample events in events/ put on contacts)",
        flags=("--account-tag",),
        parse=_pair_option,
        metavar="ID=NAME",
    )

    # Faults: errors -----------------------------------------------------------------------------------------------
    fail_rate: float = _setting(0.0, "fraction of API requests answered 500 (nothing done)")
    throttle_burst: int = _setting(0, "answer the next N API requests 429 (nothing done)")
    contact_error_rate: float = _setting(0.0, "fraction of contacts in bulk writes that fail (failed_contacts)")
    forbidden_endpoints: tuple[str, ...] = _setting(
        (),
        'an endpoint ("POST /v2/lists") answering 403 to valid credentials; repeat the option for more',
        API_ENDPOINTS,
        flags=("--forbidden-endpoint",),
        metavar="ENDPOINT",
    )

    # Faults: answers ----------------------------------------------------------------------------------------------
    answer_fault: str = _setting(
        "none",
        "how matching answers are mangled: non_json, empty, truncated, other_shape and non_object_items answer 200 "
        "AFTER the request took effect; redirect and not_found answer 3xx/404 with nothing done; trickle sends the "
        "documented answer a few bytes at a time over trickle_seconds",
        ANSWER_FAULTS,
    )
    answer_fault_rate: float = _setting(1.0, "fraction of matching API requests whose answer is mangled")
    answer_fault_endpoints: tuple[str, ...] = _setting(
        (),
        'an endpoint ("POST /v2/contacts") whose answers answer_fault mangles; repeat the option for more; '
        "none given: every API endpoint",
        API_ENDPOINTS,
        flags=("--answer-fault-endpoint",),
        metavar="ENDPOINT",
    )
    trickle_seconds: float = _setting(60.0, "how long a trickled answer takes to arrive")
    redirect_status: int = _setting(301, "the status of a redirect answer", (301, 302, 303, 307, 308))

    # Faults: transport --------------------------------------------------------------------------------------------
    latency_ms: int = _setting(0, "delay added to every API request, in milliseconds")
    latency_endpoints: tuple[str, ...] = _setting(
        (),
        'an endpoint ("POST /v2/contacts") that latency_ms slows; repeat the option for more; none given: every '
        "API endpoint",
        API_ENDPOINTS,
        flags=("--latency-endpoint",),
        metavar="ENDPOINT",
    )
    reset_rate: float = _setting(
        0.0, "fraction of API requests whose connection is reset AFTER the request took effect (answer lost)"
    )
    seed: int | None = _setting(None, "seed of the random faults")

    def __post_init__(self) -> None:
        for name, value in _normalised(self).items():
            object.__setattr__(self, name, value)


_INTEGER_MINIMUMS: Final = {
    "rate_limit_per_minute": 1,
    "max_bulk_contacts": 1,
    "max_body_bytes": 1,
    "latency_ms": 0,
    "throttle_burst": 0,
}
_FRACTIONS: Final = ("fail_rate", "contact_error_rate", "reset_rate", "answer_fault_rate")


def _normalised(config: SandboxConfig) -> dict[str, Any]:
    """The fields whose values must change type or spelling (JSON and argparse hand lists and ints over);
    raises ValueError naming the first bad setting."""
    _check_credentials(config)
    changes = _numbers(config)
    changes.update(_choices(config))
    changes["texts"] = parse_texts(config.texts)
    changes["custom_fields"] = _id_name_pairs("custom_fields", config.custom_fields)
    changes["account_tags"] = _id_name_pairs("account_tags", config.account_tags)
    return changes


def _check_credentials(config: SandboxConfig) -> None:
    for name in ("secret_id", "secret_key"):
        value = getattr(config, name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a non-empty string")
    if config.api_key is not None and (not isinstance(config.api_key, str) or not config.api_key):
        raise ValueError("api_key must be a non-empty string or None")


def _numbers(config: SandboxConfig) -> dict[str, Any]:
    """The numeric settings checked; the fractions and trickle_seconds as floats."""
    changes: dict[str, Any] = {}
    for name, minimum in _INTEGER_MINIMUMS.items():
        if not _is_integer(getattr(config, name)) or getattr(config, name) < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}")
    for name in _FRACTIONS:
        value = getattr(config, name)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be a number between 0 and 1")
        changes[name] = float(value)
    if not _is_number(config.trickle_seconds) or config.trickle_seconds <= 0:
        raise ValueError("trickle_seconds must be a number > 0")
    changes["trickle_seconds"] = float(config.trickle_seconds)
    for name in ("seed", "retry_after_s"):
        value = getattr(config, name)
        if value is not None and not _is_integer(value):
            raise ValueError(f"{name} must be an integer or None")
    if config.retry_after_s is not None and config.retry_after_s < 0:
        raise ValueError("retry_after_s must be >= 0")
    return changes


def _choices(config: SandboxConfig) -> dict[str, Any]:
    """The settings with a list of choices, spelled as the choices are (aliases resolved); lists as tuples."""
    changes: dict[str, Any] = {}
    for spec in dataclasses.fields(SandboxConfig):
        choices = spec.metadata["choices"]
        if choices is None:
            continue
        value = getattr(config, spec.name)
        aliases: Mapping[str, str] = spec.metadata.get("aliases", {})
        if isinstance(spec.default, tuple):
            if not isinstance(value, list | tuple):
                raise ValueError(f"{spec.name} must be a list of {', '.join(map(str, choices))}")
            changes[spec.name] = tuple(_choice(spec.name, item, choices, aliases) for item in value)
        else:
            changes[spec.name] = _choice(spec.name, value, choices, aliases)
    return changes


# Heymarket's help centre, "Opt-Out Management": the keywords that opt a contact out, and back in.
STOP_KEYWORDS: Final = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS: Final = frozenset({"START", "YES", "UNSTOP"})


def parse_texts(value: object) -> tuple[str, ...]:
    """PHONE:KEYWORD items (E.164 digits, a keyword of STOP_KEYWORDS or START_KEYWORDS), normalised."""
    if not isinstance(value, list | tuple):
        raise ValueError("texts must be a list of PHONE:KEYWORD")
    texts: list[str] = []
    for item in value:
        phone, _, keyword = str(item).partition(":")
        phone, keyword = phone.strip().lstrip("+"), keyword.strip().upper()
        if not phone.isdigit() or keyword not in STOP_KEYWORDS | START_KEYWORDS:
            raise ValueError(f"texts: {item!r} is not PHONE:KEYWORD (digits, then STOP, START, ...)")
        texts.append(f"{phone}:{keyword}")
    return tuple(texts)


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choice(name: str, value: object, choices: tuple[Any, ...], aliases: Mapping[str, str]) -> Any:
    if isinstance(value, str) and value in aliases:
        return aliases[value]
    # A bool is an int to Python: True must not pass for a status code.
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def _id_name_pairs(setting: str, value: object) -> tuple[tuple[int, str], ...]:
    error = f"{setting} must be a list of [id, name] pairs with positive integer ids and non-empty names"
    if not isinstance(value, list | tuple):
        raise ValueError(error)
    pairs: list[tuple[int, str]] = []
    for pair in value:
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(error)
        field_id, title = pair
        if not _is_integer(field_id) or field_id <= 0 or not isinstance(title, str) or not title.strip():
            raise ValueError(error)
        pairs.append((field_id, title))
    return tuple(pairs)


SETTING_NAMES: Final = frozenset(spec.name for spec in dataclasses.fields(SandboxConfig))
DEFAULT_CONFIG: Final = SandboxConfig()


# Command line ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingOption:
    """One SandboxConfig field as a command-line option, for argparse here and any other CLI library."""

    name: str  # the SandboxConfig field
    flags: tuple[str, ...]  # the option's spellings, the canonical one (--field-name) first
    help: str
    choices: tuple[Any, ...] | None  # accepted command-line values, older spellings included
    default: Any
    parse: Callable[[str], Any]  # one command-line string -> the value (one item of it when `multiple`)
    multiple: bool  # a tuple field: the option is repeated, once per item
    metavar: str | None


def _optional_text(value: str) -> str | None:
    return value or None


def _optional_integer(value: str) -> int | None:
    return None if value.strip().lower() in ("", "none") else int(value)


_PARSERS: Final[Mapping[object, Callable[[str], Any]]] = {
    str: str,
    int: int,
    float: float,
    str | None: _optional_text,
    int | None: _optional_integer,
}


def setting_options() -> list[SettingOption]:
    """Every SandboxConfig field as a command-line option, in field order."""
    hints = typing.get_type_hints(SandboxConfig)
    options: list[SettingOption] = []
    for spec in dataclasses.fields(SandboxConfig):
        hint = hints[spec.name]
        multiple = typing.get_origin(hint) is tuple
        parse = spec.metadata.get("parse") or _PARSERS[typing.get_args(hint)[0] if multiple else hint]
        choices = spec.metadata["choices"]
        if choices is not None:
            choices = (*choices, *spec.metadata.get("aliases", {}))
        canonical = "--" + spec.name.replace("_", "-")
        flags = tuple(dict.fromkeys((canonical, *spec.metadata.get("flags", ()))))
        options.append(
            SettingOption(
                name=spec.name,
                flags=flags,
                help=spec.metadata["help"],
                choices=choices,
                default=spec.default,
                parse=parse,
                multiple=multiple,
                metavar=spec.metadata.get("metavar"),
            )
        )
    return options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --host, --port and one option per SandboxConfig field (defaults are SandboxConfig's)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    for option in setting_options():
        help_text = option.help.replace("%", "%%")
        if option.multiple:
            parser.add_argument(
                *option.flags,
                dest=option.name,
                action="append",
                type=option.parse,
                choices=option.choices,
                default=None,
                metavar=option.metavar,
                help=help_text,
            )
            continue
        parser.add_argument(
            *option.flags,
            dest=option.name,
            type=option.parse,
            choices=option.choices,
            default=option.default,
            metavar=option.metavar,
            help=help_text + " (default: %(default)s)",
        )


def config_from_args(ns: argparse.Namespace) -> SandboxConfig:
    """Build a SandboxConfig from options added by add_arguments(); raises ValueError on bad values."""
    values = {name: getattr(ns, name) for name in SETTING_NAMES if getattr(ns, name, None) is not None}
    for option in setting_options():
        if option.multiple and option.name in values:  # given at least once: the items given, in order
            values[option.name] = tuple(values[option.name])
    if getattr(ns, "api_key", "") is None:
        values["api_key"] = None  # an empty --api-key disables the legacy key
    return SandboxConfig(**values)
