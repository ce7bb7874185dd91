"""Suite -> RunSpecs -> an executor -> rows on disk, resumable.

The runner expands a suite, skips the runs whose rows are already in the
results folder (unless asked to rerun), hands the rest to an executor and
writes each row as it arrives. It is the only writer of rows. An interrupt
(Ctrl-C) stops the running workers and keeps every finished row; running the
same command again carries on where it stopped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import as_completed
from dataclasses import dataclass, replace
from pathlib import Path

from bench.config import ConfigError, RunSpec, Suite, default_cache_dir
from bench.datasets import Dataset, DatasetUnavailableError, load_dataset
from bench.executors import Executor
from bench.executors.local import RunCancelledError
from bench.provenance import git_commit
from bench.results import Row, read_row, read_rows, row_path, write_row


@dataclass(frozen=True)
class SuiteOutcome:
    results_dir: Path
    rows: list[Row]  # every row of this suite's runs now on disk, new and old
    ran: int  # runs executed by this call
    skipped: int  # runs whose rows were already there


def preflight(
    suite: Suite,
    results_dir: Path,
    data_dir: str | None,
    fid_weights: str | None = None,
    cache_dir: Path | None = None,
) -> Suite:
    """Check, before anything trains or is written, what would otherwise fail an hour in.

    Returns the suite to run: the same one, or with its fallback_dataset when its data
    set can be neither read nor fetched (said on stderr; every row names its data set).

    Also does once what every worker would otherwise do at the same time: fills the
    keras data cache, trains (or checks) the data set's cached reference classifier, and,
    when the suite wants the Inception FID and its weights are absent, tries once to
    fetch them (set GANBENCH_OFFLINE=1 to never try).
    """
    if suite.device == "cuda" and not _has_nvidia_gpu():
        raise ConfigError("device 'cuda' requested but this machine has no NVIDIA GPU; use cpu")
    if fid_weights is not None and not Path(fid_weights).is_file():
        raise ConfigError(f"--fid-weights {fid_weights}: no such file")
    import torch._dynamo  # noqa: F401  before keras/tensorflow (a download) or it segfaults

    try:
        dataset = load_dataset(suite.dataset, Path(data_dir) if data_dir else None)
    except DatasetUnavailableError as error:
        if not suite.fallback_dataset:
            raise
        print(
            f"note: {error}; this suite falls back to {suite.fallback_dataset!r}",
            file=sys.stderr,
        )
        suite = replace(suite, dataset=suite.fallback_dataset)
        dataset = load_dataset(suite.dataset, Path(data_dir) if data_dir else None)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"results folder {results_dir} cannot be created: {error}") from None
    if not os.access(results_dir, os.W_OK):
        raise ConfigError(f"results folder {results_dir} is not writable")
    _prepare_metrics(suite, dataset, fid_weights, cache_dir or default_cache_dir())
    return suite


def _prepare_metrics(
    suite: Suite, dataset: Dataset, fid_weights: str | None, cache_dir: Path
) -> None:
    from metrics.classifier import load_or_train
    from metrics.inception import InceptionFeatures, fetch_weights

    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cache folder {cache_dir} cannot be created: {error}") from None
    if not os.access(cache_dir, os.W_OK):
        raise ConfigError(f"cache folder {cache_dir} is not writable (set GANBENCH_CACHE_DIR)")
    load_or_train(dataset, cache_dir)
    wants_download = suite.inception_fid and fid_weights is None
    offline = bool(os.environ.get("GANBENCH_OFFLINE"))
    if wants_download and not offline and not InceptionFeatures.available()[0]:
        fetched, reason = fetch_weights()
        if not fetched:
            print(f"note: {reason}; fid_inception will be null", file=sys.stderr)


def pending_specs(
    specs: list[RunSpec], results_dir: Path, rerun: bool, retry_failed: bool
) -> list[RunSpec]:
    """The runs still to do: no row yet, or every run with rerun, or non-ok with retry_failed."""
    todo = []
    for spec in specs:
        path = row_path(results_dir, spec.run_id)
        if rerun or not path.is_file() or (retry_failed and read_row(path).status != "ok"):
            todo.append(spec)
    return todo


def run_suite(
    suite: Suite,
    results_dir: Path,
    executor: Executor,
    data_dir: str | None = None,
    rerun: bool = False,
    retry_failed: bool = False,
    fid_weights: str | None = None,
    cache_dir: Path | None = None,
    on_row: Callable[[Row], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> SuiteOutcome:
    """Run every pending run of the suite through the executor; rows land as they finish.

    on_start(runs to do, runs in the suite) is called once the preflight passed.
    """
    results_dir = Path(results_dir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    suite = preflight(suite, results_dir, data_dir, fid_weights, cache_dir)
    specs = suite.run_specs(data_dir, fid_weights, str(cache_dir))
    todo = pending_specs(specs, results_dir, rerun, retry_failed)
    if on_start is not None:
        on_start(len(todo), len(specs))
    commit = git_commit()
    futures = {executor.submit(spec): spec for spec in todo}
    ran = 0
    try:
        for future in as_completed(futures):
            try:
                row = future.result()
            except RunCancelledError:
                continue
            write_row(results_dir, replace(row, git_commit=row.git_commit or commit))
            ran += 1
            if on_row is not None:
                on_row(row)
    except KeyboardInterrupt:
        executor.shutdown(cancel_running=True)
        raise
    executor.shutdown()
    wanted = {spec.run_id for spec in specs}
    rows = [row for row in read_rows(results_dir) if row.run_id in wanted]
    return SuiteOutcome(results_dir, rows, ran=ran, skipped=len(specs) - len(todo))


def visible_gpus() -> list[str]:
    """GPU ids this machine offers runs: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's list."""
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        return [gpu.strip() for gpu in declared.split(",") if gpu.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(listing.splitlines()) if line.startswith("GPU ")]


def _has_nvidia_gpu() -> bool:
    """Whether a CUDA device could exist here, asked without importing a framework."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None
