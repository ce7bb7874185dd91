"""`python -m bench run`: run a suite, print its table of rows, write its report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.catalogue import (
    COMPILE_S,
    IMAGES_PER_S,
    PARAMS_DISCRIMINATOR,
    PARAMS_GENERATOR,
    PEAK_MEM_MB,
    STEP_MS_P50,
    STEP_MS_P90,
)
from bench.cli.common import EXIT_INTERRUPTED
from bench.config import ConfigError, Suite, load_suite, suite_names
from bench.executors import EXECUTORS
from bench.results import Row, rows_frame
from implementations.registry import FRAMEWORKS, variants

TABLE_COLUMNS = [
    "variant",
    "framework",
    "seed",
    "batch_size",
    "precision",
    "compile",
    IMAGES_PER_S.name,
    STEP_MS_P50.name,
    STEP_MS_P90.name,
    COMPILE_S.name,
    PEAK_MEM_MB.name,
    PARAMS_GENERATOR.name,
    PARAMS_DISCRIMINATOR.name,
    "status",
]


def register(commands: argparse._SubParsersAction) -> None:
    """The `run` sub-command."""
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
        "--threads",
        type=int,
        help="CPU threads per run in both frameworks; overrides the suite (1 where other "
        "jobs share the cores: two threads spin-wait on a busy CPU)",
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

    run.set_defaults(handler=command_run)


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
    if args.threads is not None:
        changes["threads"] = args.threads
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
        columns={PARAMS_GENERATOR.name: "params_G", PARAMS_DISCRIMINATOR.name: "params_D"}
    )
    return frame.to_string(index=False, float_format=lambda v: f"{v:,.1f}", na_rep="-")
