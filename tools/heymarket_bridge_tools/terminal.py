"""Every line the `heymarket-bridge` tools print, with the control characters a sender could put in it escaped.

A source name from a URL path, a payload field read by `explain`, a dead letter's text: any of them may carry ESC
sequences that a terminal would run (retitle the window, hide text, write a hyperlink). Each line goes through
`heymarket_bridge.domain.text.printable` (an escape such as `\\x1b` instead of the byte); line breaks are kept.
Light on purpose (no rich): the commands that print plain lines import it without paying for rich.
"""

from __future__ import annotations

import click

from heymarket_bridge.domain.text import printable


def terminal_text(text: str) -> str:
    """`text` with every non-printable character escaped (`printable`), its line breaks kept."""
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """`click.echo` of `text` with its control characters escaped (`terminal_text`): stdout, or stderr with `err`."""
    click.echo(terminal_text(text), err=err, nl=nl)
