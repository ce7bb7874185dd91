"""Suite -> RunSpecs -> an executor -> rows on disk, resumable.

The runner expands a suite, skips the runs whose rows are already in the
results folder (unless asked to rerun), hands the rest to an executor and
writes each row as it arrives. It is the only writer of rows. An interrupt
(Ctrl-C) stops the running workers and keeps every finished row; running the
same command again carries on where it stopped.
"""

from __future__ import annotations

import contextlib
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
from bench.lock import results_folder_lock
from bench.prepare import EXIT_BAD_INPUT, PrepareRequest
from bench.provenance import REPO_ROOT, git_commit
from bench.results import ResultsError, Row, read_row, row_path, write_row
from metrics import classifier_cache
from metrics.classifier_cache import TrainingSettings


@dataclass(frozen=True)
class SuiteOutcome:
    results_dir: Path
    rows: list[Row]  # every row of this suite's runs now on disk, new and old
    ran: int  # runs executed by this call
    skipped: int  # runs whose rows were already there


def check_inputs(suite: Suite, data_dir: str | None) -> tuple[Suite, Dataset]:
    """The preflight: the data set must be readable before anything trains.

    Returns the suite to run: the same one, or with its fallback_dataset when its data set
    can be neither read nor fetched (said on stderr; every row names its data set).
    """
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
    return suite, dataset


def _prepared_already(
    suite: Suite, dataset: Dataset, fid_weights: str | None, cache_dir: Path
) -> bool:
    """Nothing for bench.prepare to do: no weights file to check, no Inception FID wanted,
    and the reference classifier cached whole. Checked here without torch, it spares every
    `bench run` the ~4 s of a process that imports torch only to find that out."""
    if fid_weights is not None or suite.settings.inception_fid:
        return False
    return reference_classifier_cached(dataset, cache_dir)


def reference_classifier_cached(
    dataset: Dataset, cache_dir: Path, settings: TrainingSettings | None = None
) -> bool:
    """The data set's reference classifier is cached whole in `cache_dir` (no framework:
    metrics.classifier_cache on the Dataset's plain fields, as the worker will load it)."""
    return classifier_cache.is_cached(
        dataset.name,
        dataset.train_images,
        dataset.train_labels,
        dataset.num_classes,
        cache_dir,
        settings,
    )


def _prepare_metrics(
    suite: Suite, data_dir: str | None, fid_weights: str | None, cache_dir: Path
) -> None:
    """Do once what every worker would otherwise do at the same time (bench.prepare): check
    the FID weights file, train or check the cached reference classifier, and fetch the
    Inception weights when the suite wants them (GANBENCH_OFFLINE=1: never try). In a child
    process, because it uses torch and the driver imports no framework."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"cache folder {cache_dir} cannot be created: {error}") from None
    if not os.access(cache_dir, os.W_OK):
        raise ConfigError(f"cache folder {cache_dir} is not writable (set GANBENCH_CACHE_DIR)")
    request = PrepareRequest(
        suite.dataset, data_dir, str(cache_dir), fid_weights, suite.settings.inception_fid
    )
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "bench.prepare", request.to_json()],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode == EXIT_BAD_INPUT:
        raise ConfigError(done.stdout.strip())
    if done.returncode != 0:
        raise RuntimeError(
            f"preparing the metrics (python -m bench.prepare) failed with exit status "
            f"{done.returncode}; its error is above"
        )


def pending_specs(
    specs: list[RunSpec], results_dir: Path, rerun: bool, retry_failed: bool
) -> list[RunSpec]:
    """The runs still to do: no row yet, or every run with rerun, or non-ok with retry_failed.

    A row file that cannot be read (truncated, not JSON, another schema_version) is never
    trusted as finished: one line names it, its run is done again and the new row replaces it.
    """
    todo = []
    for spec in specs:
        path = row_path(results_dir, spec.run_id)
        if rerun or not path.is_file():
            todo.append(spec)
            continue
        try:
            row = read_row(path)
        except ResultsError as error:
            print(f"warning: {error}; running it again", file=sys.stderr)
            todo.append(spec)
            continue
        if retry_failed and row.status != "ok":
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

    on_start(runs to do, runs in the suite) is called once the preflight passed. The
    executor first checks that it can run the suite at all (a GPU where the runs go).
    The results folder is locked (bench.lock) before anything else is looked at, until
    the last row is written: a second run on it stops at once.
    """
    executor.check(suite)
    results_dir = Path(results_dir)
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    with results_folder_lock(results_dir):
        suite, dataset = check_inputs(suite, data_dir)
        if not _prepared_already(suite, dataset, fid_weights, cache_dir):
            _prepare_metrics(suite, data_dir, fid_weights, cache_dir)
        specs = suite.run_specs(data_dir, fid_weights, str(cache_dir))
        todo = pending_specs(specs, results_dir, rerun, retry_failed)
        if on_start is not None:
            on_start(len(todo), len(specs))
        ran = _execute(todo, results_dir, executor, on_row)
        rows = _readable_rows(results_dir, specs)
    return SuiteOutcome(results_dir, rows, ran=ran, skipped=len(specs) - len(todo))


def _execute(
    todo: list[RunSpec],
    results_dir: Path,
    executor: Executor,
    on_row: Callable[[Row], None] | None,
) -> int:
    """Submit the runs, write each row as it arrives; the number of rows written."""
    commit = git_commit()
    futures = {executor.submit(spec): spec for spec in todo}
    executor.flush()
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
    return ran


def _readable_rows(results_dir: Path, specs: list[RunSpec]) -> list[Row]:
    """This suite's rows on disk, by run_id; an unreadable file was named by pending_specs."""
    rows = []
    for spec in specs:
        path = row_path(results_dir, spec.run_id)
        with contextlib.suppress(ResultsError):  # read_row: a missing file is one too
            rows.append(read_row(path))
    return sorted(rows, key=lambda row: row.run_id)


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
