"""What every sub-command shares: exit statuses and a parser whose errors are one line."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

EXIT_REGRESSION = 1  # python -m bench compare found a regression
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


@dataclass(frozen=True)
class CommandText:
    """What `--help` says of a sub-command: a line in the list, a description, an epilog
    (exit statuses, what bad input does) whose line breaks are kept."""

    name: str
    summary: str
    description: str
    epilog: str


def add_command(commands: argparse._SubParsersAction, text: CommandText) -> argparse.ArgumentParser:
    """The parser of one sub-command, from its text."""
    return commands.add_parser(
        text.name,
        help=text.summary,
        description=text.description,
        epilog=text.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
