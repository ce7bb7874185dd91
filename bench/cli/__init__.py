"""python -m bench {run,compare,save-baseline,ab,report,gpu-check,list,env}: the command line.

Each sub-command lives in one module of this package with a `register(commands)`
that adds its parser and sets its handler (`handler(args) -> exit status`);
COMMANDS lists those modules in the order `--help` shows them. Adding a
sub-command is one module and one line here.

Bad input (an unknown name, a bad suite file, a missing data file) ends in
one line on stderr naming the bad value and what is allowed, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bench.cli import ab, compare, info, report, run
from bench.cli.common import EXIT_BAD_INPUT, OneLineParser
from bench.config import ConfigError
from bench.datasets import DatasetUnavailableError
from bench.results import ResultsError

# modules with register(commands); their order is the order of `--help`
COMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    run.register,
    compare.register,
    ab.register,
    report.register,
    info.register,
)
DESCRIPTION = "python -m bench SUB-COMMAND: the command line of ganbench (sub-commands below)."


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m bench", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for register in COMMANDS:
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ConfigError, ResultsError, DatasetUnavailableError, ValueError) as error:
        print(f"python -m bench {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
