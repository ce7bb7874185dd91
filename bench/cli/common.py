"""What every sub-command shares: exit statuses and a parser whose errors are one line."""

from __future__ import annotations

import argparse

EXIT_REGRESSION = 1  # python -m bench compare found a regression
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def add_command(
    commands: argparse._SubParsersAction, name: str, text: str
) -> argparse.ArgumentParser:
    """A sub-command's parser from its help text: the first line is its line in the
    command list, the next paragraph its description, the rest its epilog (exit statuses,
    what bad input does), printed with its line breaks."""
    summary, description, epilog = text.split("\n\n", 2)
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
