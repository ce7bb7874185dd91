"""python -m bench: the command line of ganbench (bench/cli/)."""

from __future__ import annotations

import sys

from bench.cli import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
