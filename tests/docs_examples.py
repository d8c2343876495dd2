"""The command examples of the README and the docs site: every line of every ```sh block, and how each is checked.

Each example has a kind, from its first word: `make` (the target exists), `local-start` (the one `heymarket-bridge
local` line, which the e2e test starts), `local` (run against that local stack: `heymarket-bridge` without
`--stack-name`, `curl` to 127.0.0.1, `printf`), `api` (a `curl` to a deployed stack's placeholder URL: run against
the local stack with the placeholders filled in), `deployed` (`heymarket-bridge ... --stack-name`: run against a
stack on a local AWS), `aws` and `sam` (they need AWS itself: checked against botocore's service models and SAM
CLI's own options), `shell` (`umask`, `rm`). A line of no kind is a failure: a new example needs a way to be checked.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.support import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Other fences a shell example could hide in, unchecked: every shell example is a ```sh block.
UNCHECKED_FENCES = re.compile(r"^```(bash|shell|console|zsh|text-shell)\s*$", re.MULTILINE)
PLACEHOLDER = re.compile(r"<[^<>\n]*>")
SUBSTITUTION = re.compile(r"\$\(((?:[^()]|\([^()]*\))*)\)")
SHELL_UTILITIES = ("umask", "rm")


@dataclass(frozen=True)
class Example:
    """One command of a ```sh block: its page (relative to the checkout), the block's position on the page, the
    command with continuation lines joined, and the `# {...}` answer the page shows right after it, if any."""

    page: str
    block: int
    command: str
    shown_answer: str | None = None

    @property
    def words(self) -> str:
        """The command without the `.venv/bin/` prefix of the checkout's tools."""
        return self.command.removeprefix(".venv/bin/")

    @property
    def kind(self) -> str:
        words = self.words
        first = words.split(maxsplit=1)[0]
        if first == "make":
            return "make"
        if words.startswith("heymarket-bridge local"):
            return "local-start"
        if first == "heymarket-bridge":
            return "deployed" if "--stack-name" in words else "local"
        if first == "curl":
            if "http://127.0.0.1:" in words:
                return "local"
            return "api" if ".execute-api." in words else "unknown"
        if first in SHELL_UTILITIES:
            return "shell"
        return {"printf": "local", "aws": "aws", "sam": "sam"}.get(first, "unknown")


def shell_blocks(text: str) -> list[list[tuple[str, str | None]]]:
    """Each ```sh block's commands, continuation lines joined, each with the `# {...}` answer line after it."""
    blocks = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL):
        commands: list[tuple[str, str | None]] = []
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            command = (pending + line).strip()
            pending = ""
            if command.startswith("# {") and commands:
                commands[-1] = (commands[-1][0], command[2:])
            elif command and not command.startswith("#"):
                commands.append((command, None))
        blocks.append(commands)
    return blocks


def examples(pages: list[Path] = PAGES) -> list[Example]:
    """Every example of `pages`, in page order, then block order, then line order."""
    found = []
    for page in pages:
        for number, block in enumerate(shell_blocks(page.read_text())):
            for command, answer in block:
                found.append(Example(str(page.relative_to(ROOT)), number, command, answer))
    return found


def arguments(command: str) -> list[str]:
    """The words of an `aws` or `sam` command as its parser sees them: placeholders and command substitutions made
    one word, comments and output redirections dropped."""
    text = SUBSTITUTION.sub("PLACEHOLDER", PLACEHOLDER.sub("PLACEHOLDER", command))
    words = shlex.split(text, comments=True)
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in (">", ">>", "2>"):
            skip = True
        else:
            kept.append(word)
    return kept


def substitutions(command: str) -> list[str]:
    """The commands inside `$(...)`, which must be checked too."""
    return [inner for inner in SUBSTITUTION.findall(PLACEHOLDER.sub("PLACEHOLDER", command))]


def options(words: list[str]) -> dict[str, str | None]:
    """`--name value` and `--name=value` pairs of a command's words; a flag followed by another option has None."""
    found: dict[str, str | None] = {}
    for position, word in enumerate(words):
        if not word.startswith("--"):
            continue
        name, equals, value = word[2:].partition("=")
        following = words[position + 1] if position + 1 < len(words) else None
        found[name] = value if equals else (following if following and not following.startswith("--") else None)
    return found


def positionals(words: list[str]) -> list[str]:
    """The words that are neither an option nor an option's value."""
    taken: list[str] = []
    previous_was_option = False
    for word in words:
        if word.startswith("--"):
            previous_was_option = "=" not in word
            continue
        if not previous_was_option:
            taken.append(word)
        previous_was_option = False
    return taken
