"""`python -m bench report`: a results folder as one self-contained HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.cli.common import add_command

REPORT_HELP = """\
render a results folder as one self-contained HTML file

Render the rows of RESULTS_DIR as one HTML file that opens with no network.

A row file that cannot be read (truncated, not JSON, another schema_version) is
skipped: one line on stderr names it and why, the report's environment lists it, and
the report is made from the other rows (exit 0). A folder that is missing, or has no
readable row at all, is exit 2. A --baseline that cannot be read is exit 2, as in
`compare`."""


def register(commands: argparse._SubParsersAction) -> None:
    """The `report` sub-command (reports/)."""
    report = add_command(commands, "report", REPORT_HELP)
    report.add_argument(
        "results_dir", type=Path, metavar="RESULTS_DIR", help="a results folder (rows/*.json)"
    )
    report.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="default: RESULTS_DIR/report.html"
    )
    report.add_argument(
        "--baseline",
        type=Path,
        metavar="BASELINE",
        help="a baseline file or results folder: colour each line by the regression check",
    )
    report.set_defaults(handler=command_report)


def command_report(args: argparse.Namespace) -> int:
    from reports.html import report

    def warn(line: str) -> None:
        print(f"python -m bench report: warning: skipped {line}", file=sys.stderr)

    path = report(args.results_dir, output=args.output, baseline=args.baseline, on_skip=warn)
    print(f"report: {path.resolve()}")
    return 0
