"""`heymarket-bridge doctor`: a stack checked end to end, read-only, before any contact is refused or dead-lettered.

Three parts, each usable alone: the Heymarket credentials and every permission the bridge uses (`check_credentials`,
which `check-credentials` runs alone), the webhook secret against the sources (`check_webhook_secret`: an entry for
every source the mappings name, and the sources open without a token), and every tag, custom field and list the
mappings name against the Heymarket account (heymarket_bridge_tools.mapping_names). Nothing here writes: Heymarket
is read with the requests the sync function reads with, and probed with requests that cannot change anything.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final

from heymarket_bridge_tools.mapping_names import AccountNames, Finding, StackSwitches, check_names

if TYPE_CHECKING:
    from heymarket_bridge.adapters.heymarket import HeymarketHttp
    from heymarket_bridge.domain.mapping import SourceMapping
    from heymarket_bridge_tools.target import Target

# What check-credentials asks Heymarket, beyond GET /v1/inboxes (the credentials): each permission the bridge uses,
# probed so that nothing can change. A permission is granted when Heymarket answers the probe (2xx), refuses its body
# (400: the request was authorised, then found invalid) or answers its own 404; refused when it answers 401 or 403.
# (what, method, path, body)
PERMISSION_PROBES: Final[tuple[tuple[str, str, str, dict[str, Any]], ...]] = (
    (
        "search contacts",
        "POST",
        "/v2/contacts/search",
        {"contact_channels": [{"channel_type": "phone", "channel_ids": []}]},
    ),
    # A body Heymarket must refuse ("contacts" is not an array): nothing can be written.
    ("write contacts", "POST", "/v2/contacts", {"contacts": {}}),
    ("read tags", "POST", "/v1/tags", {}),
    ("read custom fields", "POST", "/v1/contact-fields", {}),
    # An update of list 0, which no account holds, that changes nothing even if it were held.
    ("write lists", "PUT", "/v2/lists/0", {}),
)


def heymarket_http(secretsmanager: Any, secret_arn: str, heymarket_url: str) -> HeymarketHttp:
    """The Heymarket client the checks use: credentials read from the stack's secret as the sync function reads them
    (Credentials.from_secret), short timeouts, a budget of 60 requests a minute. ConfigError (when a request is
    made) names a secret that is not a JSON object of credentials."""
    from heymarket_bridge.adapters.heymarket import Authenticator, Credentials, HeymarketHttp
    from heymarket_bridge.adapters.heymarket.ratelimit import RequestBudget
    from heymarket_bridge.settings import ConfigError

    def load(_refresh: bool) -> Credentials:
        text = secretsmanager.get_secret_value(SecretId=secret_arn)["SecretString"]
        try:
            secret = json.loads(text)
        except ValueError:
            raise ConfigError(
                'it is not JSON: store {"secret_id": "...", "secret_key": "..."} (or {"api_key": "..."})'
            ) from None
        if not isinstance(secret, dict):
            raise ConfigError('it is not a JSON object: store {"secret_id": "...", "secret_key": "..."}')
        return Credentials.from_secret(secret)

    return HeymarketHttp(heymarket_url, Authenticator(load), RequestBudget(60), connect_timeout_s=5, read_timeout_s=10)


def check_credentials(secretsmanager: Any, secret_arn: str, heymarket_url: str) -> tuple[bool, str]:
    """Sign a JWT from the stack's secret, call GET /v1/inboxes, then probe each permission the bridge uses
    (PERMISSION_PROBES, none of which can change anything): (all granted, what to tell the operator).

    The Heymarket client's own log lines and warnings (meant for CloudWatch) are kept out of the answer.
    """
    from heymarket_bridge.adapters.heymarket.failures import NotFound, Refused
    from heymarket_bridge.domain.failures import Deadline, GatewayFailure

    if not secret_arn:
        return False, "the stack has no Heymarket secret (no HeymarketSecretArn output)"
    http = heymarket_http(secretsmanager, secret_arn, heymarket_url)
    try:
        with quiet_layer():
            inboxes = http.call("GET", "/v1/inboxes", None, Deadline.after(20)).data
    except GatewayFailure as exc:
        request_id = f" (request id {exc.request_id})" if exc.request_id else ""
        return False, f"{exc.reason}{request_id}"
    except (NotFound, Refused) as exc:
        return False, f"could not check the credentials at {heymarket_url}: {exc}"
    count = len(inboxes) if isinstance(inboxes, list) else None
    suffix = f"; {count} inbox(es) visible" if count is not None else ""
    refused: list[str] = []
    for what, method, path, body in PERMISSION_PROBES:
        try:
            with quiet_layer():
                http.call(method, path, body, Deadline.after(20))
        except (NotFound, Refused):
            continue  # authorised, then refused for the probe's own body or id: the permission is there
        except GatewayFailure as exc:
            request_id = f", request id {exc.request_id}" if exc.request_id else ""
            refused.append(f"{what} ({method} {path}: {exc.reason}{request_id})")
    if refused:
        return False, f"the credentials work{suffix}, but Heymarket refuses what the bridge needs: " + "; ".join(
            refused
        )
    granted = ", ".join(what for what, *_ in PERMISSION_PROBES)
    return True, f"the credentials work{suffix}; granted: {granted}"


@contextmanager
def quiet_layer() -> Iterator[None]:
    """Keep the layer's JSON logs, metric lines and library warnings off the operator's terminal."""
    import logging

    from heymarket_bridge.observability import logger

    handler = logger.registered_handler
    sink = io.StringIO()
    previous = handler.setStream(sink) if isinstance(handler, logging.StreamHandler) else None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink):
            warnings.simplefilter("ignore")
            yield
    finally:
        if previous is not None and isinstance(handler, logging.StreamHandler):
            handler.setStream(previous)


# ---------------------------------------------------------------------------------------------- the whole stack

CREDENTIALS: Final = "Heymarket credentials"
WEBHOOK_SECRET: Final = "webhook secret"
MAPPINGS: Final = "mappings"
QUIET_SOURCES: Final = "quiet-source alarms"


def run_doctor(target: Target) -> list[Finding]:
    """Every check of `target`, in the order an operator fixes things: the Heymarket credentials, the mappings, the
    webhook secret, the names the mappings use (read from Heymarket only when the credentials work)."""
    from heymarket_bridge_tools.errors import CliError
    from heymarket_bridge_tools.source_setup import allowed_without_token, source_states

    queues = target.queues
    secretsmanager = target.clients("secretsmanager")
    ok, message = check_credentials(secretsmanager, queues.heymarket_secret_arn, queues.heymarket_url)
    findings = [Finding("ok" if ok else "fail", CREDENTIALS, message)]
    mappings, read = read_mappings(target)
    findings += read
    try:
        entries = target.webhook_secrets()
    except CliError as unreadable:
        findings.append(Finding("fail", WEBHOOK_SECRET, str(unreadable)))
    else:
        states = source_states(target, entries, allowed_without_token(target))
        findings += check_webhook_secret(states, mappings, entries, options=target.options)
        findings.append(check_deletes(entries))
    findings += check_quiet_sources(target.parameter("QuietSourceAlarms", ""), target.parameter("LogLevel", "INFO"))
    if not any(_names_something(mapping) for mapping in mappings.values()):
        return findings
    if not ok:
        findings.append(
            Finding(
                "fail",
                MAPPINGS,
                "the tags and custom fields the mappings name were not checked: the Heymarket credentials do not work",
            )
        )
        return findings
    switches = StackSwitches(create_missing_tags=target.parameter("CreateMissingTags", "false").lower() == "true")
    account = read_account(heymarket_http(secretsmanager, queues.heymarket_secret_arn, queues.heymarket_url))
    if isinstance(account, Finding):
        return [*findings, account]
    return findings + check_names(mappings, account, switches)


def check_quiet_sources(items: str, log_level: str) -> list[Finding]:
    """The QuietSourceAlarms parameter (`<source>=<hours>,...`) against the sources the bridge knows: an item naming
    no known source (a typo) never sees a delivery, so its alarm is always on; and a LogLevel that hides the
    "Webhook accepted" line the alarms count (the template's QuietSourcesNeedInfoLogs rule refuses it on deploy)."""
    from heymarket_bridge.ingest.sources import SOURCE_NAMES

    listed = [item.strip() for item in items.split(",") if item.strip()]
    if not listed:
        return []
    findings: list[Finding] = []
    for item in listed:
        name = item.partition("=")[0].strip()
        if name not in SOURCE_NAMES:
            findings.append(
                Finding(
                    "note",
                    QUIET_SOURCES,
                    f"{item}: no source is named {name!r}, so no delivery ever counts and its alarm is always on:"
                    f" fix the name in QuietSourceAlarms (sources: {', '.join(sorted(SOURCE_NAMES))})",
                )
            )
    if log_level.strip().upper() not in ("DEBUG", "INFO"):
        findings.append(
            Finding(
                "note",
                QUIET_SOURCES,
                f'LogLevel {log_level} hides the "Webhook accepted" lines the alarms count: every one is always on',
            )
        )
    return findings or [Finding("ok", QUIET_SOURCES, f"watching {', '.join(listed)}")]


def _names_something(mapping: SourceMapping) -> bool:
    return bool(mapping.custom or mapping.constants or "tags" in mapping.fields or "lists" in mapping.fields)


def read_mappings(target: Target) -> tuple[dict[str, SourceMapping], list[Finding]]:
    """The field mappings the ingest function reads (its SSM parameter, the stack's SourceMappingsParameterName
    output), parsed by the product's own reader (heymarket_bridge.settings.parse_source_mappings); with what to
    report about them."""
    from heymarket_bridge.ingest.sources import SOURCE_NAMES
    from heymarket_bridge.settings import ConfigError, parse_source_mappings

    name = target.outputs.get("SourceMappingsParameterName")
    if not name:
        return {}, [Finding("note", MAPPINGS, "not read: the stack names no SourceMappingsParameterName")]
    try:
        raw = target.clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except Exception as error:  # noqa: BLE001 - any failure to read is reported, the other checks still run
        return {}, [Finding("fail", MAPPINGS, f"the SSM parameter {name} cannot be read: {error}")]
    try:
        mappings = parse_source_mappings(str(raw), f"the SSM parameter {name}", SOURCE_NAMES)
    except ConfigError as invalid:
        return {}, [Finding("fail", MAPPINGS, f"{invalid}: the ingest function cannot start with it")]
    named = ", ".join(sorted(mappings)) or "none (every source's defaults)"
    return mappings, [Finding("ok", MAPPINGS, f"{name} is valid; sources mapped: {named}")]


def check_webhook_secret(
    states: Iterable[Any],
    mappings: Mapping[str, SourceMapping],
    entries: Mapping[str, Any] | None = None,
    *,
    options: str = "",
) -> list[Finding]:
    """For each source (heymarket_bridge_tools.source_setup.SourceState): configured (with its tokens' scopes, never
    a token), open without a token, or missing an entry. A source the mappings name and the secret lacks fails
    (each delivery is refused with 401); another with some entries but not all is a note; an entry the ingest
    function cannot read fails (it answers 503). `options`: the target's options for the hints (Target.options)."""
    from heymarket_bridge_tools.source_setup import describe_scopes, entry_problem

    held = entries or {}
    findings = [
        Finding("fail", WEBHOOK_SECRET, f"{key}: the entry cannot be read ({problem}): its source is answered 503")
        for key, problem in ((key, entry_problem(value)) for key, value in held.items())
        if problem is not None
    ]
    absent: list[str] = []
    for state in states:
        missing = [entry for entry, present in state.entries if not present]
        if not missing:
            scopes = describe_scopes(held.get(state.name))
            findings.append(
                Finding(
                    "ok", WEBHOOK_SECRET, f"{state.name}: configured ({state.url})" + (f"; {scopes}" if scopes else "")
                )
            )
        elif state.open_without_token:
            findings.append(
                Finding(
                    "note",
                    WEBHOOK_SECRET,
                    f"{state.name}: open without a token (AllowUnauthenticatedSources): anyone who knows "
                    f"{state.url} can post contacts",
                )
            )
        elif state.name in mappings or len(missing) < len(state.entries):
            findings.append(_missing(state.name, missing, mapped=state.name in mappings, options=options))
        else:
            absent.append(state.name)
    if absent:
        findings.append(
            Finding("note", WEBHOOK_SECRET, f"not set up (their deliveries are refused with 401): {', '.join(absent)}")
        )
    return findings


def _missing(name: str, missing: list[Any], *, mapped: bool, options: str) -> Finding:
    """A source without some of its entries: a failure when a mapping names it (it is meant to be used), a note
    for one half set up that no mapping names."""
    keys = ", ".join(f"{entry.key} ({entry.what})" for entry in missing)
    return Finding(
        "fail" if mapped else "note",
        WEBHOOK_SECRET,
        f"{name}: the secret has no {keys}: every delivery from {name} is refused (401); "
        f"run `heymarket-bridge sources add {name}{options}`",
    )


def check_deletes(entries: Mapping[str, Any]) -> Finding:
    """Whether the bulk delete (DeleteContactsUrl) takes requests: it needs a `deletes` token of its own
    (heymarket_bridge.ingest.deletes.authenticate_delete refuses every request while it is absent or equals another
    entry)."""
    from heymarket_bridge.ingest.deletes import DELETE_CREDENTIAL
    from heymarket_bridge_tools.source_setup import entry_secrets

    token = entries.get(DELETE_CREDENTIAL)
    own = {token.strip()} if isinstance(token, str) and token.strip() else set()  # a string only, as deletes.py
    if not own:
        return Finding(
            "note", WEBHOOK_SECRET, f"bulk delete: off (no {DELETE_CREDENTIAL!r} entry): every request is refused"
        )
    shared = sorted(
        str(name)
        for name, value in entries.items()
        if name != DELETE_CREDENTIAL and own & {item.token for item in entry_secrets(value)}
    )
    if shared:
        return Finding(
            "fail",
            WEBHOOK_SECRET,
            f"bulk delete: the {DELETE_CREDENTIAL!r} token is the same as the {', '.join(shared)} entry, so every "
            f"delete request is refused (403): give {DELETE_CREDENTIAL!r} a long random token of its own",
        )
    return Finding("ok", WEBHOOK_SECRET, f"bulk delete: on (its {DELETE_CREDENTIAL!r} token is its own)")


def read_account(http: HeymarketHttp) -> AccountNames | Finding:
    """The account's tags and custom fields, read as the sync function reads them (HeymarketSegments.tags,
    V2Gateway.custom_fields: `POST /v1/tags` page by page, `POST /v1/contact-fields`); a Finding when Heymarket
    cannot be read."""
    from heymarket_bridge.adapters.heymarket import V2Gateway
    from heymarket_bridge.adapters.heymarket.segments import HeymarketSegments
    from heymarket_bridge.domain.failures import Deadline, GatewayFailure

    gateway = V2Gateway(http, max_batch=100)
    deadline = Deadline.after(120)
    try:
        with quiet_layer():
            tags = HeymarketSegments(gateway.client, http, max_batch=100).tags(deadline)
            fields = gateway.custom_fields(deadline)
    except GatewayFailure as failure:
        return Finding("fail", MAPPINGS, f"the account's tags and custom fields could not be read: {failure.reason}")
    return AccountNames(tuple(tags), tuple(fields))
