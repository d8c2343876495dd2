"""`heymarket-bridge`: operate a deployed bridge, or run the whole bridge on this machine.

Commands are loaded only when used (`LazyGroup`), so `--help` and `--version` import click and nothing else;
each command module keeps boto3, the layer and the local stack inside its functions. Every error ends the same
way (errors.py): one line saying what to fix, a non-zero exit, and the traceback only with `--debug`.
Measured on this machine (median of 9, interleaved): `heymarket-bridge --help` took 0.60 s when every command was
imported up front (moto, boto3, the local stack), 0.06 s now; `dlq --help` 0.66 s, now 0.07 s.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, Final

import click

from heymarket_bridge_tools.errors import EXIT_INTERRUPTED, explain

PROG: Final = "heymarket-bridge"
DEBUG_VARIABLE: Final = "HEYMARKET_BRIDGE_DEBUG"
CONTEXT_SETTINGS: Final[dict[str, Any]] = {
    "help_option_names": ["-h", "--help"],
    "show_default": True,
    "max_content_width": 110,
}

# name -> (module under heymarket_bridge_tools.commands, attribute, one-line help shown without importing the module)
COMMANDS: Final = {
    "send": ("send", "send", "Post a sample webhook (or your own body), signed as its source signs."),
    "import": (
        "import_contacts",
        "import_contacts",
        "Send a CSV or JSON-lines contact export through a stack.",
    ),
    "status": ("operate", "status", "Queue and DLQ depth; on AWS, alarms and the last hour's counts."),
    "dlq": ("operate", "dlq", "Inspect, export and redrive the dead-letter queue."),
    "check-credentials": (
        "setup",
        "check_credentials",
        "Check the stack's Heymarket credentials and permissions (doctor's first part).",
    ),
    "sources": ("setup", "sources", "List the sources; add or rotate their secrets; show the vendor's steps."),
    "doctor": ("setup", "doctor", "Check a stack end to end (credentials, secrets, mapped names), read-only."),
    "explain": ("explain", "explain", "Show, offline, how a recorded delivery maps and what it would write."),
    "consent": (
        "consent",
        "consent",
        "Export the consent record (every SMS consent change), per phone or all.",
    ),
    "samples": ("send", "samples", "List the bundled sample webhooks, or print one to edit."),
    "local": (
        "local",
        "local",
        "Run the whole bridge on this machine until Ctrl-C (needs the 'local' extra).",
    ),
    "demo": ("local", "demo", "Post every sample through a local stack and summarise (needs 'local')."),
    "sandbox": ("local", "sandbox", "Run only the Heymarket sandbox, an in-memory Heymarket API."),
}
SECTIONS: Final = (
    ("Set up a stack (deployed: --stack-name; local: --local)", ("sources", "doctor", "check-credentials", "explain")),
    (
        "Operate a stack (deployed: --stack-name; local: --local)",
        ("send", "import", "status", "dlq", "consent", "samples"),
    ),
    ("Run on this machine (no AWS account, no Docker)", ("local", "demo", "sandbox")),
)


class LazyGroup(click.Group):
    """A group whose commands are imported on first use; its help lists them from COMMANDS."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attribute, _ = entry
        command = getattr(importlib.import_module(f"heymarket_bridge_tools.commands.{module_name}"), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}.{attribute} is not a click command")
        _accept_debug(command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        for title, names in SECTIONS:
            with formatter.section(title):
                formatter.write_dl([(name, COMMANDS[name][2]) for name in names])


def _accept_debug(command: click.Command) -> None:
    """Let `--debug` follow the command too (`send typeform --debug`): an option that does nothing, since main() reads
    it from the whole command line, but that the command then accepts and lists."""
    if not any(param.name == "debug" for param in command.params):
        command.params.append(
            click.Option(["--debug"], is_flag=True, expose_value=False, help="On an error, print the traceback too.")
        )
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            _accept_debug(subcommand)


def _print_version(ctx: click.Context, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"{PROG} {_version()}")
        ctx.exit()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PROG)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


@click.group(
    cls=LazyGroup,
    context_settings=CONTEXT_SETTINGS,
    epilog="Examples:\n\n\b\n"
    "  heymarket-bridge local                                  # the whole bridge on 127.0.0.1, Ctrl-C stops it\n"
    "  heymarket-bridge send typeform                          # a sample Typeform webhook to it, signed\n"
    "  heymarket-bridge dlq list --stack-name heymarket-bridge  # dead letters of a deployed stack, by error\n"
    "\nRun `heymarket-bridge COMMAND --help` for a command's options and examples.",
)
@click.option(
    "--version",
    "-V",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=lambda ctx, param, value: _print_version(ctx, value),
    help="Show the version and exit.",
)
@click.option(
    "--debug",
    is_flag=True,
    help=f"On an error, print the traceback too (or set {DEBUG_VARIABLE}=1).",
)
def root(debug: bool) -> None:
    """Push contacts from webhooks into Heymarket: operate a deployed stack, or run one on this machine."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 failure, 2 usage, 130 interrupted)."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Wherever it is: before the command, or after it (each command accepts it, see _accept_debug).
    debug = "--debug" in args[: args.index("--")] if "--" in args else "--debug" in args
    debug = debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        result = root.main(args=args, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo(f"{PROG}: interrupted", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as usage:
        usage.show()
        return usage.exit_code
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - the one place every error is reported
        from heymarket_bridge_tools.terminal import echo  # imported here: `--help` need not load it

        explanation = explain(error)
        if debug:
            traceback.print_exc()
        echo(f"{PROG}: error: {explanation.message}", err=True)
        return explanation.exit_code
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
