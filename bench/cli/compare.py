"""`python -m bench compare` and `save-baseline`: the regression check and its baselines."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.common import EXIT_REGRESSION, add_command

COMPARE_HELP = """\
hold a run against a baseline; exit 1 on a regression

Compare the rows of CURRENT with those of BASELINE, identity by identity.

Exit status: 0 no regression, 1 something regressed (slower, worse, changed, failed),
2 bad input. Throughput is called slower only when its median over timing windows
dropped by more than the tolerance AND by more than the inter-quartile range of the
windows of both runs. Default tolerance: derived from the noise both inputs show
(z(0.975) x the larger of window and seed spread, both sides combined; never below 5%),
and the line says the smallest change it could have detected; `bench ab` measures
small changes on a CPU. On a CPU, or when the device
names differ, images/s relative to a reference matmul timed in the same process is
compared (the output says which figure it used). FLOPs per step and parameter counts
must match exactly. Quality is worse when a metric's mean over seeds moved the wrong
way by more than max(its floor, --max-quality-loss % of the baseline, 2 x the pooled
seed std). See bench/compare.py.

Unreadable input stops the check (exit 2, one line naming the file): a truncated or
non-JSON row file, or a row or baseline of another schema_version, in either side. A
regression check never runs on part of the rows."""


def register(commands: argparse._SubParsersAction) -> None:
    """The `compare` and `save-baseline` sub-commands (bench/compare/, bench/baseline_file.py)."""
    compare = add_command(commands, "compare", COMPARE_HELP)
    for name, what in (
        ("baseline", "a baseline file or a results folder"),
        ("current", "a results folder or a baseline file"),
    ):
        compare.add_argument(name, type=Path, metavar=name.upper(), help=what)
    compare.add_argument(
        "--max-slowdown",
        type=float,
        metavar="PCT",
        help="throughput tolerance in percent (default: from the noise of both inputs)",
    )
    compare.add_argument(
        "--max-quality-loss",
        type=float,
        metavar="PCT",
        default=5.0,
        help="quality tolerance in percent of the baseline mean (default: 5)",
    )
    compare.set_defaults(handler=command_compare)
    save = commands.add_parser(
        "save-baseline",
        help="write a results folder's rows as one baseline file (e.g. reports/baselines/)",
    )
    save.add_argument(
        "results_dir", type=Path, metavar="RESULTS_DIR", help="a results folder (rows/*.json)"
    )
    save.add_argument("file", type=Path, metavar="FILE", help="the baseline file to write")
    save.set_defaults(handler=command_save_baseline)


def command_compare(args: argparse.Namespace) -> int:
    from bench.baseline_file import load_rows
    from bench.compare import compare_rows, format_comparison

    comparison = compare_rows(
        load_rows(args.baseline),
        load_rows(args.current),
        max_slowdown_pct=args.max_slowdown,
        max_quality_loss_pct=args.max_quality_loss,
    )
    print(format_comparison(comparison, str(args.baseline), str(args.current)))
    return EXIT_REGRESSION if comparison.regressed else 0


def command_save_baseline(args: argparse.Namespace) -> int:
    from bench.baseline_file import save_baseline

    rows = save_baseline(args.results_dir, args.file)
    print(f"baseline: {len(rows)} rows from {args.results_dir} -> {args.file}")
    return 0
