"""`heymarket-bridge local`, `demo` and `sandbox`: the bridge on this machine, with no AWS account and no Docker.

`local` and `demo` need the local stack's packages (moto, PyYAML: the `local` extra); without them they say how
to install them. `sandbox` needs only the base install. The sandbox's settings are options built from
`SandboxConfig`'s fields (sandboxopts.py), so a new setting appears here without a change to this file.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import click

from heymarket_bridge_tools.cli import CONTEXT_SETTINGS
from heymarket_bridge_tools.errors import EXIT_USAGE, CliError
from heymarket_bridge_tools.sandboxopts import apply_options, config_from_options, sandbox_options

LOCAL_EXTRA_HINT: Final = (
    "the local stack needs its packages: pip install 'heymarket-bridge[local]' "
    "(in a clone: make demo, or .venv/bin/pip install -e '.[local]')"
)
CREDENTIAL_VARIABLES: Final = ("HEYMARKET_SECRET_ID", "HEYMARKET_SECRET_KEY", "HEYMARKET_API_KEY")
LOG_DIR: Final = Path(".local/logs")
DEFAULT_API_PORT: Final = 3000  # local.DEFAULT_API_PORT, without importing the local stack for --help
DEFAULT_RETRY_DELAY_S: Final = 2  # local.DEFAULT_RETRY_DELAY_S
DEFAULT_INSPECTOR_PORT: Final = 0  # a free one: two stacks side by side never contend for it
SQS_MAX_VISIBILITY_S: Final = 43_200
PORT: Final = click.IntRange(0, 65_535)


def _sandbox_config_class() -> type[Any]:
    from heymarket_sandbox import SandboxConfig

    return SandboxConfig


def _require_local_stack() -> None:
    """Fail with the install hint when the `local` extra is missing."""
    import importlib

    try:
        for module in ("moto", "yaml"):
            importlib.import_module(module)
    except ModuleNotFoundError as error:
        raise CliError(f"{LOCAL_EXTRA_HINT} (missing: {error.name})") from None


def _examples(*lines: str) -> str:
    return "Examples:\n\n\b\n" + "\n".join(f"  {line}" for line in lines)


_TEMPLATE_OPTION: Final = click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The SAM template to run, next to its functions/ folder  [default: the checkout's template.yaml, or the "
    "copy this installation carries]",
)


def _template_path(template: Path | None) -> Path:
    """--template, else the project's (project_files.find_project); a CliError naming --template when there is none."""
    if template is not None:
        return template.resolve()
    from heymarket_local import project_files

    project = project_files.find_project()
    if project is None:
        raise CliError(
            "this installation carries no template.yaml (nor is it a checkout of the project): pass --template "
            "path/to/heymarket-bridge/template.yaml, or reinstall from a clone with pip install '.[local]'",
            EXIT_USAGE,
        )
    return project / "template.yaml"


# ---------------------------------------------------------------------- local

_LOCAL_SANDBOX: Final = sandbox_options(_sandbox_config_class(), prefix="sandbox-")


def _parse_overrides(values: tuple[str, ...]) -> dict[str, str | int]:
    """--parameter-overrides read as `sam deploy` reads it (parameter_overrides.py)."""
    from heymarket_bridge_tools.parameter_overrides import ParameterOverridesError, parse_overrides

    try:
        return dict(parse_overrides(values))
    except ParameterOverridesError as error:
        raise CliError(f"--parameter-overrides: {error}", EXIT_USAGE) from None


def _public_url(context: click.Context, parameter: click.Parameter, value: str | None) -> str | None:
    """--public-url: the https URL a tunnel gives this machine (cloudflared, ngrok), its origin only: the stack adds
    /webhooks/<source> to it, so a pasted webhook URL (a path) is refused, naming the origin to give instead."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment or " " in value:
        raise click.BadParameter("expected the tunnel's https URL, e.g. https://example.trycloudflare.com")
    if parts.path not in ("", "/"):
        raise click.BadParameter(
            f"give the tunnel's URL without a path: https://{parts.netloc} (the stack adds /webhooks/<source>; "
            f"{parts.path!r} would be doubled)"
        )
    return value.rstrip("/")


def _retry_delay(value: str) -> int | None:
    if value.lower() == "off":
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise click.BadParameter("expected a number of seconds or 'off'") from None
    if not 0 <= seconds <= SQS_MAX_VISIBILITY_S:
        raise click.BadParameter(f"must be between 0 and {SQS_MAX_VISIBILITY_S}")
    return seconds


def _heymarket_credentials() -> dict[str, str] | None:
    secret_id, secret_key, api_key = (os.environ.get(name, "").strip() for name in CREDENTIAL_VARIABLES)
    if secret_id and secret_key:
        return {"secret_id": secret_id, "secret_key": secret_key}
    if api_key:
        return {"api_key": api_key}
    return None


def _webhook_secrets(path: Path | None, *, public: bool) -> dict[str, str] | None:
    """--webhook-secrets read, with `demo-<name>-secret` for each source it does not name (as the demo reads it:
    signing.demo_webhook_secrets), so that events/webhook_secrets.json needs no entry for a new source.

    With a public URL (a tunnel: anyone can post) a source the file does not name gets a fresh random token instead
    of the documented demo one (read it from the state file, as `send --local` does)."""
    if path is None:
        return None
    from heymarket_bridge_tools.signing import with_demo_secrets

    try:
        secrets = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise CliError(f"--webhook-secrets: {path} is not JSON: {error}", EXIT_USAGE) from None
    if not isinstance(secrets, dict):
        raise CliError(f'--webhook-secrets: {path} must be a JSON object {{"<source>": "<token>"}}', EXIT_USAGE)
    from heymarket_bridge_tools.source_setup import entry_problem, held

    for key, value in secrets.items():
        # An entry as the deployed secret holds it: a token, {"token", "scopes"} or a list (ingest/scopes.py).
        problem = entry_problem(value) or (None if held(secrets, key) else "it is blank")
        if problem is not None:
            raise CliError(f"--webhook-secrets: {path}: the {key!r} entry cannot be read: {problem}", EXIT_USAGE)
    if public:
        from heymarket_local.stack_setup import generated_webhook_secrets

        return {**generated_webhook_secrets(), **secrets}
    return with_demo_secrets(secrets)


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge local",
        "heymarket-bridge local --webhook-secrets events/webhook_secrets.json --batching-window 1",
        "heymarket-bridge local --sandbox-fail-rate 0.3 --parameter-overrides MaxReceiveCount=2",
        "heymarket-bridge local --public-url https://example.trycloudflare.com   # a real sender through a tunnel",
        "heymarket-bridge local --parameter-overrides "
        r""""SourceMappings='{\"typeform\": {\"custom\": {\"Preferred clinic\": \"clinic\"}}}'" """.strip(),
        "HEYMARKET_SECRET_ID=... HEYMARKET_SECRET_KEY=... heymarket-bridge local --heymarket-url https://api.heymarket.com",
    ),
)
@click.option("--api-port", type=PORT, default=DEFAULT_API_PORT, metavar="PORT", help="Port of the webhook API.")
@click.option("--aws-port", type=PORT, default=0, metavar="PORT", help="Port of the local AWS (moto); 0: a free one.")
@click.option("--sandbox-port", type=PORT, default=0, metavar="PORT", help="Port of the Heymarket sandbox; 0: free.")
@click.option(
    "--heymarket-url",
    metavar="URL",
    help="A Heymarket-compatible API instead of the sandbox; credentials from HEYMARKET_SECRET_ID and "
    "HEYMARKET_SECRET_KEY, or HEYMARKET_API_KEY.",
)
@click.option(
    "--webhook-secrets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help='JSON object {"<source>": "<token>"}; a source it does not name gets demo-<source>-secret (with '
    "--public-url: a fresh random token)  [default: a fresh token for every source]",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), metavar="N", help="SQS batch size [default: BatchSize]")
@click.option(
    "--batching-window",
    type=click.IntRange(0, 300),
    metavar="SECONDS",
    help="Seconds to fill a batch [default: template.yaml's BatchingWindowSeconds]",
)
@click.option(
    "--retry-delay",
    default=str(DEFAULT_RETRY_DELAY_S),
    metavar="SECONDS|off",
    help="Local only: seconds before a message the sync function did not settle is received again; "
    "'off' waits the queue's VisibilityTimeout, as on AWS.",
)
@click.option(
    "--parameter-overrides",
    multiple=True,
    metavar="'KEY=VALUE ...'",
    help="template.yaml parameters, written as for `sam deploy --parameter-overrides`: pairs separated by spaces, "
    "a value with spaces in quotes, e.g. \"MaxReceiveCount=2 SourceMappings='{...}'\"; text that is no pair is "
    "refused. Repeatable; a later value wins.",
)
@click.option(
    "--public-url",
    metavar="URL",
    callback=_public_url,
    help="The https URL a tunnel (cloudflared, ngrok) forwards to --api-port: the stack's PublicBaseUrl, so that "
    "signatures covering the URL (HubSpot v3) verify for a real sender  [default: the URL the API serves, "
    "http://127.0.0.1:PORT]",
)
@click.option(
    "--inspector-port",
    type=PORT,
    default=DEFAULT_INSPECTOR_PORT,
    metavar="PORT",
    help="Port of the inspector page, http://127.0.0.1:PORT/_inspector (never tunnelled: its own port); 0: a free one.",
)
@click.option(
    "--reconsent-sources",
    metavar="SOURCE=FIELD,...",
    help="Sources whose dated consent may opt a person back in after an opt-out (template.yaml's "
    "ReconsentSources) [default: none]",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help=f"Where the handlers' raw JSON logs and metrics go [default: {LOG_DIR}/local-<api port>.log]",
)
@_TEMPLATE_OPTION
@lambda command: apply_options(command, _LOCAL_SANDBOX)
def local(
    api_port: int,
    aws_port: int,
    sandbox_port: int,
    heymarket_url: str | None,
    webhook_secrets: Path | None,
    batch_size: int | None,
    batching_window: int | None,
    retry_delay: str,
    parameter_overrides: tuple[str, ...],
    public_url: str | None,
    inspector_port: int,
    reconsent_sources: str | None,
    log_file: Path | None,
    template: Path | None,
    **sandbox_values: Any,
) -> int:
    """Run the whole bridge on 127.0.0.1 until Ctrl-C: the webhook API, SQS, the real handlers, Heymarket.

    AWS is served by moto and Heymarket by the sandbox (or --heymarket-url). Prints `READY {json}` once up, then
    one line per webhook and per sync batch; the handlers' raw logs go to --log-file. The operator commands
    (`send`, `status`, `dlq`, `import`) find this stack from the same folder through its state file,
    .local/stacks/<api port>.json. Webhook tokens are generated for every source unless --webhook-secrets.
    """
    _require_local_stack()
    from heymarket_local.stack import LocalStackConfig

    template_path = _template_path(template)
    overrides = _parse_overrides(parameter_overrides)
    if batch_size is not None:
        overrides["BatchSize"] = batch_size
    if batching_window is not None:
        overrides["BatchingWindowSeconds"] = batching_window
    if reconsent_sources is not None:
        overrides["ReconsentSources"] = reconsent_sources
    if public_url is not None:
        overrides["PublicBaseUrl"] = public_url
    credentials = None
    if heymarket_url is not None:
        if not heymarket_url.startswith(("http://", "https://")):
            raise CliError("--heymarket-url must be an http(s) URL", EXIT_USAGE)
        credentials = _heymarket_credentials()
        if credentials is None:
            raise CliError(
                "--heymarket-url needs credentials: set HEYMARKET_SECRET_ID and HEYMARKET_SECRET_KEY, "
                "or HEYMARKET_API_KEY",
                EXIT_USAGE,
            )
    config = LocalStackConfig(
        api_port=api_port,
        aws_port=aws_port,
        sandbox_port=sandbox_port,
        sandbox=config_from_options(_sandbox_config_class(), _LOCAL_SANDBOX, sandbox_values),
        heymarket_url=heymarket_url,
        heymarket_credentials=credentials,
        webhook_secrets=_webhook_secrets(webhook_secrets, public=bool(overrides.get("PublicBaseUrl"))),
        parameter_overrides=overrides,
        retry_delay_s=_retry_delay(retry_delay),
        template_path=template_path,
    )
    log_path = log_file or LOG_DIR / f"local-{api_port or os.getpid()}.log"
    from heymarket_bridge_tools.commands.local_session import exit_now, run_local

    exit_now(run_local(config, log_path, inspector_port=inspector_port))


# ---------------------------------------------------------------------- sandbox

_SANDBOX: Final = sandbox_options(_sandbox_config_class())


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge sandbox --port 8099",
        "heymarket-bridge sandbox --port 8099 --fail-rate 0.2 --latency-ms 50",
    ),
)
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", type=PORT, default=0, help="Port to listen on; 0 picks a free one.")
@lambda command: apply_options(command, _SANDBOX)
def sandbox(host: str, port: int, **values: Any) -> int:
    """Run only the Heymarket sandbox: Heymarket's contact API, in memory, with injectable faults.

    Prints `READY {"url": ...}` once listening; Ctrl-C stops it. Endpoints under /_sandbox/ (contacts, stats,
    reset, faults) need no credentials. Every setting below is also a field of POST /_sandbox/faults.
    """
    from heymarket_sandbox import HeymarketSandbox

    config = config_from_options(_sandbox_config_class(), _SANDBOX, values)
    stop_requested = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop_requested.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    server = HeymarketSandbox(config, host=host, port=port)
    try:
        try:
            server.start()
        except OSError as error:
            raise CliError(f"the sandbox cannot listen on {host}:{port}: {error.strerror or error}") from None
        click.echo("READY " + json.dumps({"url": server.url}))
        while not stop_requested.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


# ---------------------------------------------------------------------- demo

_DEMO_SANDBOX: Final = sandbox_options(_sandbox_config_class(), prefix="sandbox-")


@click.command(
    context_settings=CONTEXT_SETTINGS,
    epilog=_examples(
        "heymarket-bridge demo",
        "heymarket-bridge demo --fail-rate 0.3            # the sandbox fails 30% of requests: watch the retries",
        "heymarket-bridge demo --batching-window 1 --timeout 20",
    ),
)
@click.option(
    "--events",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder of sample events  [default: events/ next to the template]",
)
@click.option(
    "--webhook-secrets",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="JSON object source -> token  [default: webhook_secrets.json in the events folder]",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), metavar="N", help="SQS batch size [default: BatchSize]")
@click.option("--batching-window", type=click.IntRange(0, 300), metavar="SECONDS", help="Seconds to fill a batch.")
@click.option(
    "--fail-rate",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    metavar="FRACTION",
    help="Fraction of Heymarket requests the sandbox answers with a 500 (same as --sandbox-fail-rate).",
)
@click.option("--timeout", type=click.FloatRange(min=0.0), default=45.0, metavar="SECONDS", help="Wait to drain.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Where the handlers' logs go  [default: .local/demo/handlers.log]",
)
@_TEMPLATE_OPTION
@lambda command: apply_options(command, _DEMO_SANDBOX)
def demo(
    events: Path | None,
    webhook_secrets: Path | None,
    batch_size: int | None,
    batching_window: int | None,
    fail_rate: float,
    timeout: float,
    log_file: Path | None,
    template: Path | None,
    **sandbox_values: Any,
) -> int:
    """Post every sample webhook in events/ through a local stack, wait for the queue, and summarise.

    The summary accounts for every contact: received, accepted, rejected (with reasons), delivered, deleted,
    dead-lettered (with reasons), retried, and the Heymarket requests it took, with the 5xx and 429 answers when
    faults are injected. Exits 0 when every accepted contact ended delivered or dead-lettered, 1 otherwise.
    """
    _require_local_stack()
    from heymarket_bridge_tools import demo as demo_module

    template_path = _template_path(template)
    overrides: dict[str, str | int] = {}
    if batch_size is not None:
        overrides["BatchSize"] = batch_size
    if batching_window is not None:
        overrides["BatchingWindowSeconds"] = batching_window
    base = _sandbox_config_class()(fail_rate=fail_rate)
    sandbox_config = config_from_options(_sandbox_config_class(), _DEMO_SANDBOX, sandbox_values, base=base)
    try:
        return int(
            demo_module.run_demo(
                events_dir=events or template_path.parent / "events",
                template_path=template_path,
                webhook_secrets_file=webhook_secrets,
                log_file=log_file or demo_module.DEFAULT_LOG_FILE,
                parameter_overrides=overrides,
                sandbox=sandbox_config,
                drain_timeout_s=timeout,
                progress=True,
            )
        )
    except ValueError as error:  # a template parameter out of its allowed range
        raise CliError(str(error), EXIT_USAGE) from None
