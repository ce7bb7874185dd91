"""The command line is a list of sub-command modules, each registering its parser and handler.

A new sub-command is one module with `register(commands)` and one entry in
bench.cli.COMMANDS; its bad input gets the same one-line error and exit status 2.
"""

from __future__ import annotations

import argparse

import bench.cli
from bench.cli import build_parser, main

SUB_COMMANDS = ["run", "compare", "save-baseline", "ab", "report", "gpu-check", "list", "env"]


def sub_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_sub_command_has_one_handler_in_help_order():
    parsers = sub_parsers(build_parser())
    assert list(parsers) == SUB_COMMANDS
    for name, parser in parsers.items():
        assert callable(parser.get_default("handler")), name


def register_hello(commands: argparse._SubParsersAction) -> None:
    hello = commands.add_parser("hello", help="say hello")
    hello.add_argument("--times", type=int, default=1)
    hello.set_defaults(handler=say_hello)


def say_hello(args: argparse.Namespace) -> int:
    if args.times < 1:
        raise ValueError(f"--times {args.times}; must be >= 1")
    print("hello " * args.times)
    return 0


def test_a_registered_module_adds_a_sub_command(monkeypatch, capsys):
    monkeypatch.setattr(bench.cli, "COMMANDS", (*bench.cli.COMMANDS, register_hello))
    assert main(["hello", "--times", "2"]) == 0
    assert capsys.readouterr().out == "hello hello \n"
    assert main(["hello", "--times", "0"]) == 2
    assert capsys.readouterr().err == "python -m bench hello: error: --times 0; must be >= 1\n"
