"""python -m bench {run,compare,save-baseline,list,env}: the command line of ganbench.

Bad input (an unknown name, a bad suite file, a missing data file) ends in
one line on stderr naming the bad value and what is allowed, exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.config import ConfigError, Suite, load_suite, suite_names
from bench.datasets import DATASETS, DatasetUnavailableError
from bench.executors import EXECUTORS
from bench.results import ResultsError, Row, rows_frame
from implementations.registry import FRAMEWORKS, registrations, variants

EXIT_REGRESSION = 1  # python -m bench compare found a regression
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
TABLE_COLUMNS = [
    "variant",
    "framework",
    "seed",
    "batch_size",
    "precision",
    "compile",
    "images_per_s",
    "step_ms_p50",
    "step_ms_p90",
    "compile_s",
    "peak_mem_mb",
    "params_generator",
    "params_discriminator",
    "status",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line, like every other bad input."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m bench", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    run = commands.add_parser("run", help="run a suite and print its table of rows")
    run.add_argument(
        "--suite",
        default="smoke",
        help=f"a suite name ({', '.join(suite_names())}) or a .toml path",
    )
    run.add_argument(
        "--only",
        default="",
        help=f"comma-separated variants and/or frameworks to keep, e.g. 'vanilla,tf' "
        f"(frameworks: {', '.join(FRAMEWORKS)})",
    )
    run.add_argument("--device", choices=["cpu", "cuda"], help="override the suite's device")
    run.add_argument(
        "--steps",
        type=int,
        help="steps of every run (warm-up included); replaces steps and variant_steps",
    )
    run.add_argument("--seeds", help="override seeds, comma-separated, e.g. 0,1,2")
    run.add_argument("--out", type=Path, help="results folder (default: results/SUITE)")
    run.add_argument("--data-dir", type=Path, help="folder holding the data set's standard files")
    run.add_argument(
        "--jobs",
        type=int,
        help="runs at once: local processes (default 1), or the Slurm array's parallelism "
        "(default 16); Ray runs as many as the cluster's CPUs and GPUs hold",
    )
    run.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where runs execute: processes on this machine (default), a Ray cluster, or a "
        "Slurm job array (README: Running on a cluster)",
    )
    run.add_argument(
        "--address",
        help="--executor ray: the cluster's HOST:PORT (default: $RAY_ADDRESS, else a cluster "
        "started on this machine; 'local' starts one for this command)",
    )
    run.add_argument("--partition", help="--executor slurm: the partition (default: Slurm's)")
    run.add_argument("--account", help="--executor slurm: the account to charge")
    run.add_argument(
        "--time",
        help="--executor slurm: each job's time limit, HH:MM:SS (default: the suite's "
        "timeout_s plus 5 minutes)",
    )
    run.add_argument("--rerun", action="store_true", help="run again even runs that have rows")
    run.add_argument(
        "--retry-failed", action="store_true", help="run again the runs whose status is not ok"
    )
    run.add_argument(
        "--eval-samples",
        type=int,
        help="generated images per evaluation (Parzen kernels, FID); overrides the suite",
    )
    run.add_argument(
        "--fid-weights",
        type=Path,
        help="pytorch-fid's Inception weights file (default: the torch hub cache)",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        help="reference-classifier cache (default: $GANBENCH_CACHE_DIR or ~/.cache/ganbench)",
    )

    add_compare_parsers(commands)
    add_report_parser(commands)
    commands.add_parser(
        "gpu-check", help="exit 2 unless both torch and tensorflow see a GPU (tox -e bench-gpu)"
    )
    commands.add_parser("list", help="registered implementations, suites and data sets")
    commands.add_parser("env", help="library versions, devices and threads")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return command_run(args)
        if args.command == "compare":
            return command_compare(args)
        if args.command == "save-baseline":
            return command_save_baseline(args)
        if args.command == "report":
            return command_report(args)
        if args.command == "gpu-check":
            return command_gpu_check()
        if args.command == "list":
            return command_list()
        return command_env()
    except (ConfigError, ResultsError, DatasetUnavailableError, ValueError) as error:
        print(f"python -m bench {args.command}: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


def suite_with_overrides(args: argparse.Namespace) -> Suite:
    """The suite file with the command line's overrides applied and validated."""
    suite = load_suite(args.suite)
    changes: dict[str, object] = {}
    if args.only:
        changes.update(_only_filters(args.only, suite))
    if args.device:
        changes["device"] = args.device
    if args.steps is not None:
        changes.update(steps=args.steps, variant_steps={})  # one count for every variant
    if args.eval_samples is not None:
        changes["eval_samples"] = args.eval_samples
    if args.seeds is not None:
        changes["seeds"] = _parse_seeds(args.seeds)
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}; must be >= 1")
    try:
        return suite.with_changes(**changes)
    except ConfigError as error:
        raise ConfigError(f"with the command line's overrides: {error}") from None


def _only_filters(only: str, suite: Suite) -> dict[str, tuple[str, ...]]:
    names = [name.strip() for name in only.split(",") if name.strip()]
    known_variants = variants()
    for name in names:
        if name not in known_variants and name not in FRAMEWORKS:
            raise ConfigError(
                f"--only: unknown name {name!r}; allowed variants: {', '.join(known_variants)}; "
                f"frameworks: {', '.join(FRAMEWORKS)}"
            )
    changes: dict[str, tuple[str, ...]] = {}
    chosen_variants = tuple(n for n in names if n in known_variants)
    chosen_frameworks = tuple(n for n in names if n in FRAMEWORKS)
    if chosen_variants:
        changes["variants"] = chosen_variants
    if chosen_frameworks:
        changes["frameworks"] = chosen_frameworks
    return changes


def _parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r}; expected comma-separated integers, e.g. 0,1,2"
        ) from None
    if not seeds:
        raise ConfigError("--seeds is empty; give at least one seed, e.g. 0")
    return seeds


def command_run(args: argparse.Namespace) -> int:
    from bench.runner import run_suite

    suite = suite_with_overrides(args)
    results_dir = args.out or Path("results") / suite.name
    data_dir = str(args.data_dir) if args.data_dir else None
    executor = build_executor(args, suite, results_dir)

    def announce(todo: int, total: int) -> None:
        print(f"suite {suite.name}: {todo} of {total} runs to do -> {results_dir}", file=sys.stderr)

    try:
        outcome = run_suite(
            suite,
            results_dir,
            executor,
            data_dir=data_dir,
            rerun=args.rerun,
            retry_failed=args.retry_failed,
            fid_weights=str(args.fid_weights) if args.fid_weights else None,
            cache_dir=args.cache_dir,
            on_start=announce,
        )
    except KeyboardInterrupt:
        print(
            f"interrupted: finished rows are kept in {results_dir}; "
            "run the same command again to continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    print(format_table(outcome.rows))
    print(f"ran {outcome.ran}, kept {outcome.skipped} finished earlier")
    print(f"results: {outcome.results_dir.resolve()}")
    if outcome.rows:
        from reports.html import REPORT_FILE, write_report

        path = write_report(outcome.rows, results_dir / REPORT_FILE, source=str(results_dir))
        print(f"report: {path.resolve()}")
    return 0


def build_executor(args: argparse.Namespace, suite: Suite, results_dir: Path):
    """The executor --executor names, with its own options (bench/executors/)."""
    foreign = {
        "--address": ("ray", args.address),
        "--partition": ("slurm", args.partition),
        "--account": ("slurm", args.account),
        "--time": ("slurm", args.time),
    }
    for option, (engine, value) in foreign.items():
        if value is not None and args.executor != engine:
            raise ConfigError(f"{option} is an option of --executor {engine}")
    if args.executor == "ray":
        from bench.executors.ray import RayExecutor

        if args.jobs is not None:
            raise ConfigError(
                "--jobs does not apply to --executor ray: Ray runs as many runs at once as "
                "the cluster's CPUs and GPUs hold"
            )
        return RayExecutor(address=args.address, max_retries=suite.max_retries)
    if args.executor == "slurm":
        from bench.executors.slurm import DEFAULT_PARALLELISM, SlurmExecutor

        return SlurmExecutor(
            folder=results_dir / ".submitit",
            partition=args.partition,
            account=args.account,
            time_limit=args.time,
            parallelism=args.jobs or DEFAULT_PARALLELISM,
        )
    from bench.executors.local import LocalExecutor
    from bench.runner import visible_gpus

    jobs = args.jobs or 1
    gpus = visible_gpus() if suite.settings.device == "cuda" else []
    if suite.settings.device == "cuda" and gpus and jobs > len(gpus):
        raise ConfigError(
            f"--jobs {jobs} with device cuda: one run per GPU, and this machine shows "
            f"{len(gpus)} ({', '.join(gpus)}); use --jobs {len(gpus)} or fewer"
        )
    return LocalExecutor(jobs=jobs, scratch_dir=results_dir / ".work", gpus=gpus)


def format_table(rows: list[Row]) -> str:
    """The rows as a fixed-width text table, one line per run."""
    if not rows:
        return "(no rows)"
    frame = rows_frame(rows)[TABLE_COLUMNS].rename(
        columns={"params_generator": "params_G", "params_discriminator": "params_D"}
    )
    return frame.to_string(index=False, float_format=lambda v: f"{v:,.1f}", na_rep="-")


COMPARE_HELP = """\
Exit status: 0 no regression, 1 something regressed (slower, worse, changed, failed),
2 bad input. Throughput is called slower only when its median over timing windows
dropped by more than the tolerance AND by more than the inter-quartile range of the
windows of both runs. Default tolerance: 25% on a CPU (two processes on a 2-core CPU
were seen 40% apart for the same step), 5% on a GPU. On a CPU, or when the device
names differ, images/s relative to a reference matmul timed in the same process is
compared (the output says which figure it used). FLOPs per step and parameter counts
must match exactly. Quality is worse when a metric's mean over seeds moved the wrong
way by more than max(its floor, --max-quality-loss % of the baseline, 2 x the pooled
seed std). See bench/compare.py.

Unreadable input stops the check (exit 2, one line naming the file): a truncated or
non-JSON row file, or a row or baseline of another schema_version, in either side. A
regression check never runs on part of the rows."""

REPORT_HELP = """A row file that cannot be read (truncated, not JSON, another schema_version) is
skipped: one line on stderr names it and why, the report's environment lists it, and
the report is made from the other rows (exit 0). A folder that is missing, or has no
readable row at all, is exit 2. A --baseline that cannot be read is exit 2, as in
`compare`."""


def add_compare_parsers(commands: argparse._SubParsersAction) -> None:
    """The `compare` and `save-baseline` subcommands (bench/compare.py)."""
    compare = commands.add_parser(
        "compare",
        help="hold a run against a baseline; exit 1 on a regression",
        description="Compare the rows of CURRENT with those of BASELINE, identity by identity.",
        epilog=COMPARE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "baseline", type=Path, metavar="BASELINE", help="a baseline file or a results folder"
    )
    compare.add_argument(
        "current", type=Path, metavar="CURRENT", help="a results folder or a baseline file"
    )
    compare.add_argument(
        "--max-slowdown",
        type=float,
        metavar="PCT",
        help="throughput tolerance in percent (default: 25 on cpu, 5 on cuda)",
    )
    compare.add_argument(
        "--max-quality-loss",
        type=float,
        metavar="PCT",
        default=5.0,
        help="quality tolerance in percent of the baseline mean (default: 5)",
    )
    save = commands.add_parser(
        "save-baseline",
        help="write a results folder's rows as one baseline file (e.g. reports/baselines/)",
    )
    save.add_argument(
        "results_dir", type=Path, metavar="RESULTS_DIR", help="a results folder (rows/*.json)"
    )
    save.add_argument("file", type=Path, metavar="FILE", help="the baseline file to write")


def command_compare(args: argparse.Namespace) -> int:
    from bench.compare import compare_rows, format_comparison, load_rows

    comparison = compare_rows(
        load_rows(args.baseline),
        load_rows(args.current),
        max_slowdown_pct=args.max_slowdown,
        max_quality_loss_pct=args.max_quality_loss,
    )
    print(format_comparison(comparison, str(args.baseline), str(args.current)))
    return EXIT_REGRESSION if comparison.regressed else 0


def command_save_baseline(args: argparse.Namespace) -> int:
    from bench.compare import save_baseline

    rows = save_baseline(args.results_dir, args.file)
    print(f"baseline: {len(rows)} rows from {args.results_dir} -> {args.file}")
    return 0


def add_report_parser(commands: argparse._SubParsersAction) -> None:
    """The `report` subcommand (reports/html.py)."""
    report = commands.add_parser(
        "report",
        help="render a results folder as one self-contained HTML file",
        description="Render the rows of RESULTS_DIR as one HTML file that opens with no network.",
        epilog=REPORT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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


def command_report(args: argparse.Namespace) -> int:
    from reports.html import report

    def warn(line: str) -> None:
        print(f"python -m bench report: warning: skipped {line}", file=sys.stderr)

    path = report(args.results_dir, output=args.output, baseline=args.baseline, on_skip=warn)
    print(f"report: {path.resolve()}")
    return 0


def command_gpu_check() -> int:
    from bench.gpu_check import missing_gpu_reason, tensorflow_gpus, torch_gpus

    seen = [torch_gpus(), tensorflow_gpus()]
    for entry in seen:
        print(entry.describe())
    reason = missing_gpu_reason(seen)
    if reason is not None:
        print(f"python -m bench gpu-check: error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def command_list() -> int:
    print("implementations (variant/framework):")
    for registration in registrations():
        print(f"  {registration.variant}/{registration.framework}")
    print(f"suites: {', '.join(suite_names())}")
    print(f"data sets: {', '.join(DATASETS)} (default: digits, embedded)")
    return 0


def command_env() -> int:
    import os

    from bench.provenance import cpu_name, git_commit, package_versions

    versions = package_versions(("torch", "tensorflow", "keras", "scikit-learn", "pytorch-fid"))
    for package, version in versions.items():
        print(f"{package}: {version}")
    print(f"cpu: {cpu_name()} ({os.cpu_count()} logical cores)")
    print(f"git commit: {git_commit()}")
    import torch

    print(f"torch threads: {torch.get_num_threads()}, CUDA GPUs: {torch.cuda.device_count()}")
    for index in range(torch.cuda.device_count()):
        print(f"  cuda:{index}: {torch.cuda.get_device_name(index)}")
    import tensorflow as tf

    print(f"tensorflow GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
