"""Runs as one Slurm job array, through submitit.

    python -m bench run --suite gpu --executor slurm --partition P [--account A] [--time HH:MM:SS]

Every run is one task of a job array (submitted when the runner flushes)
asking for the run's CPUs (`cpus_per_task` = threads), its GPU
(`gpus_per_node` = 1 with device cuda) and a time limit (the suite's
timeout_s plus a margin, or --time); at most `parallelism` tasks run at once.
Each task starts the run exactly as the local executor does
(local.WorkerProcess) and returns the row through submitit's result file;
only the driver writes rows. submitit's job files live in RESULTS/.submitit,
which must be on a file system the nodes share, as Slurm sites have.

A job that Slurm ends (time limit, cancel, node failure) or that fails
outside the run is a `timeout` / `killed` / `failed` row with its job id.
The job's state is read with `squeue --states=all`, which needs no
accounting database. submitit is imported only when this executor is asked
for (pip extra `slurm`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import ConfigError, RunSpec, Suite
from bench.executors.local import (
    RunCancelledError,
    WorkerProcess,
    driver_environment,
)
from bench.executors.progress import ProgressBoard, print_to_stderr
from bench.provenance import hostname
from bench.record import synthetic_row
from bench.results import ResultsError, Row

INSTALL_HINT = "pip install -e '.[slurm]' (the slurm extra: submitit==1.5.4)"
DEFAULT_PARALLELISM = 16  # array tasks at once unless --jobs says otherwise
TIME_MARGIN_MIN = 5  # Slurm's limit over timeout_s: start-up, imports, data, evaluation
POLL_S = 2.0  # how often the driver looks for finished jobs
RESULT_GRACE_S = 20.0  # after Slurm says a job ended, how long its result file may lag
SQUEUE_TIMEOUT_S = 30
ENDED_STATES = {
    "COMPLETED": "failed",  # ended, yet no result file: the job failed outside the run
    "FAILED": "failed",
    "TIMEOUT": "timeout",
    "DEADLINE": "timeout",
    "CANCELLED": "killed",
    "NODE_FAIL": "killed",
    "BOOT_FAIL": "killed",
    "OUT_OF_MEMORY": "killed",
    "PREEMPTED": "killed",
}
RUNNING_STATES = {"RUNNING", "COMPLETING", "CONFIGURING", "STAGE_OUT", "SIGNALING"}


def import_submitit() -> Any:
    """The submitit module, or a one-line error saying which extra to install."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(f"--executor slurm: submitit is not installed; {INSTALL_HINT}") from None
    return submitit


def parse_time_limit(text: str) -> int:
    """Slurm-style MM, MM:SS, HH:MM:SS or D-HH:MM:SS -> whole minutes (rounded up)."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise ConfigError(f"--time {text!r}; expected HH:MM:SS, MM:SS, MM or D-HH:MM:SS")
    days, first, second, third = match.groups()
    if third is not None:
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:
        seconds = (int(first) * 3600 + int(second) * 60) if days else int(first) * 60 + int(second)
    else:
        seconds = int(first) * (3600 if days else 60)
    minutes = math.ceil((int(days or 0) * 86400 + seconds) / 60)
    if minutes < 1:
        raise ConfigError(f"--time {text!r}; must be at least one minute")
    return minutes


@dataclass
class ArrayTask:
    """One run's job in an array, as the driver tracks it."""

    spec: RunSpec
    future: Future[Row]
    job: Any = None  # submitit.Job, once submitted
    ended_at: float | None = None  # when squeue first showed it ended (monotonic)
    state: str = "PENDING"
    node: str | None = None


class SlurmExecutor:
    """Submits RunSpecs as a Slurm job array; a driver thread collects the rows."""

    engine = "slurm"

    def __init__(
        self,
        folder: Path,
        partition: str | None = None,
        account: str | None = None,
        time_limit: str | None = None,
        parallelism: int = DEFAULT_PARALLELISM,
        write: Callable[[str], None] = print_to_stderr,
    ):
        self.submitit = import_submitit()
        self.job_errors = importlib.import_module("submitit.core.utils")  # UncompletedJobError
        if shutil.which("sbatch") is None or shutil.which("squeue") is None:
            raise ConfigError(
                "--executor slurm: sbatch/squeue not found on PATH; run this on a Slurm login node"
            )
        if parallelism < 1:
            raise ConfigError(f"--jobs {parallelism}; must be >= 1")
        self.folder = Path(folder)
        self.partition = partition
        self.account = account
        self.time_limit_min = parse_time_limit(time_limit) if time_limit else None
        self.parallelism = parallelism
        self.progress = ProgressBoard(self.engine, write)
        self.environment = driver_environment()
        self.queued: list[ArrayTask] = []
        self.tasks: list[ArrayTask] = []  # submitted, not finished
        self.array_ids: list[str] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self.collector = threading.Thread(target=self._collect, name="slurm-rows", daemon=True)

    def check(self, suite: Suite) -> None:
        """Ask Slurm whether it would take the suite's jobs (`sbatch --test-only` queues
        nothing), so that an unknown partition or account, or a GPU where there is none,
        is one line now rather than after the preflight."""
        command = [
            "sbatch",
            "--test-only",
            f"--time={self._limit_min(max(s.settings.timeout_s for s in suite.run_specs()))}",
            f"--cpus-per-task={suite.settings.threads}",
            "--nodes=1",
            "--ntasks-per-node=1",
            "--wrap=true",
        ]
        if suite.settings.device == "cuda":
            command.append("--gpus-per-node=1")
        if self.partition:
            command.append(f"--partition={self.partition}")
        if self.account:
            command.append(f"--account={self.account}")
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=SQUEUE_TIMEOUT_S, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise ConfigError(f"--executor slurm: sbatch did not answer: {error}") from None
        if done.returncode != 0:
            raise ConfigError(f"Slurm rejected the job array: {_complaint(done.stderr)}")

    def submit(self, spec: RunSpec) -> Future[Row]:
        task = ArrayTask(spec, Future())
        self.queued.append(task)
        return task.future

    def flush(self) -> None:
        """Submit the queued runs: one job array per set of resources (normally one)."""
        groups: dict[tuple, list[ArrayTask]] = {}
        for task in self.queued:
            groups.setdefault(self._resources(task.spec), []).append(task)
        self.queued = []
        for resources, tasks in groups.items():
            # one array, its time limit that of its longest run (variant_timeout_s)
            limit_min = max(self._limit_min(task.spec.settings.timeout_s) for task in tasks)
            self._submit_array({**dict(resources), "timeout_min": limit_min}, tasks)
        if not self.collector.is_alive() and self.tasks:
            self.collector.start()

    def _limit_min(self, timeout_s: float) -> int:
        return self.time_limit_min or math.ceil(timeout_s / 60) + TIME_MARGIN_MIN

    def _resources(self, spec: RunSpec) -> tuple:
        parameters = {
            "name": f"ganbench-{spec.suite}",
            "cpus_per_task": spec.settings.threads,
            "nodes": 1,
            "tasks_per_node": 1,
            "slurm_array_parallelism": self.parallelism,
        }
        if spec.settings.device == "cuda":
            parameters["gpus_per_node"] = 1
        if self.partition:
            parameters["slurm_partition"] = self.partition
        if self.account:
            parameters["slurm_account"] = self.account
        return tuple(sorted(parameters.items()))

    def _submit_array(self, parameters: dict[str, Any], tasks: list[ArrayTask]) -> None:
        executor = self.submitit.AutoExecutor(folder=self.folder, cluster="slurm")
        executor.update_parameters(**parameters)
        # submitit prints sbatch's complaint itself; it is kept for the one-line error
        complaint = io.StringIO()
        try:
            with contextlib.redirect_stderr(complaint), executor.batch():
                jobs = [
                    executor.submit(run_job, task.spec.to_dict(), self.environment)
                    for task in tasks
                ]
        except Exception as error:
            reason = _complaint(complaint.getvalue() + "\n" + str(error))
            raise ConfigError(f"Slurm rejected the job array: {reason}") from None
        for task, job in zip(tasks, jobs, strict=True):
            task.job = job
        array_id = str(jobs[0].job_id).split("_")[0]
        with self.lock:
            self.tasks.extend(tasks)
            self.array_ids.append(array_id)
        self.progress.submitted_runs(len(tasks))
        self.progress.write(
            f"slurm: job array {array_id}: {len(tasks)} runs, each {parameters['cpus_per_task']} "
            f"CPU(s), {parameters.get('gpus_per_node', 0)} GPU, {parameters['timeout_min']} min; "
            f"at most {parameters['slurm_array_parallelism']} at once; files in {self.folder}"
        )

    def shutdown(self, cancel_running: bool = False) -> None:
        if cancel_running:
            for array_id in list(self.array_ids):
                subprocess.run(["scancel", array_id], check=False, timeout=SQUEUE_TIMEOUT_S)
            with self.lock:
                cancelled, self.tasks = self.tasks, []
            for task in cancelled:
                task.future.set_exception(RunCancelledError(task.spec.run_id))
        self.closing.set()
        if self.collector.is_alive():
            self.collector.join()

    def _collect(self) -> None:
        """Resolve each future when its job's result file appears or Slurm says it ended."""
        while True:
            with self.lock:
                tasks = list(self.tasks)
            if not tasks:
                if self.closing.is_set():
                    return
                self.closing.wait(POLL_S)
                continue
            states = squeue_states(self.array_ids)
            for task in tasks:
                state, node = states.get(task.job.job_id, (task.state, task.node))
                task.state, task.node = state, node or task.node
                if task.state in ENDED_STATES and task.ended_at is None:
                    task.ended_at = time.monotonic()
                if self._result_ready(task):
                    self._finish(task)
            with self.lock:
                running = {
                    t.spec.run_id: t.node or "?" for t in self.tasks if t.state in RUNNING_STATES
                }
            self.progress.running_now(running)
            self.closing.wait(POLL_S)

    def _result_ready(self, task: ArrayTask) -> bool:
        if task.job.paths.result_pickle.exists():
            return True
        return task.ended_at is not None and time.monotonic() - task.ended_at > RESULT_GRACE_S

    def _finish(self, task: ArrayTask) -> None:
        with self.lock:
            if task not in self.tasks:  # cancelled meanwhile
                return
            self.tasks.remove(task)
        job_id = str(task.job.job_id)
        row = self._row(task, job_id)
        row = dataclasses.replace(
            row,
            engine=self.engine,
            job_id=job_id,
            node=row.node or task.node,
            attempts=row.attempts or 1,
            versions={**row.versions, "submitit": self.submitit.__version__},
        )
        self.progress.row_arrived(row)
        task.future.set_result(row)

    def _row(self, task: ArrayTask, job_id: str) -> Row:
        spec = task.spec
        if not task.job.paths.result_pickle.exists():
            status = ENDED_STATES.get(task.state, "failed")
            return synthetic_row(
                spec, status, f"slurm job {job_id} ended {task.state} without a row"
            )
        try:
            return Row.from_dict(task.job.result(), source=f"slurm job {job_id}")
        except self.job_errors.UncompletedJobError as error:  # raised outside the run
            lines = [line for line in str(error).splitlines() if line.strip()]
            last = next((line for line in reversed(lines) if not line.startswith("-")), "")
            return synthetic_row(spec, "failed", f"slurm job {job_id} failed: {last.strip()}")
        except ResultsError as error:
            return synthetic_row(spec, "failed", f"slurm job {job_id}: {error}")


def _complaint(text: str) -> str:
    """The line of sbatch's output that says what is wrong (the last error line)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["sbatch failed and said nothing"])[-1]


def squeue_states(array_ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """job id ("ARRAY_INDEX") -> (state, node) for the arrays' jobs Slurm still remembers."""
    if not array_ids:
        return {}
    try:
        listing = subprocess.run(
            [
                "squeue",
                "--noheader",
                "--states=all",
                "--array",
                "--format=%i|%T|%N",
                "--jobs",
                ",".join(array_ids),
            ],
            capture_output=True,
            text=True,
            timeout=SQUEUE_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}  # asked again at the next poll; result files still arrive meanwhile
    states: dict[str, tuple[str, str | None]] = {}
    for line in listing.splitlines():
        parts = line.strip().split("|")
        if len(parts) == 3:
            job_id, state, node = parts
            states[job_id] = (state.split()[0], node or None)
    return states


def run_job(spec_values: dict[str, Any], environment: dict[str, str]) -> dict:
    """The Slurm job: one run in a worker process on this node; returns its row as a dict.

    Before the job's time limit (90 s, up to 60 s more: Slurm's resolution) Slurm signals
    it, and submitit raises UncompletedJobError here (a run cannot be checkpointed): the
    run is stopped and its row says `timeout`. The default limit, timeout_s plus 5
    minutes, leaves the run's own timeout_s to act first.
    """
    from submitit.core.utils import UncompletedJobError

    spec = RunSpec.from_dict(spec_values)
    # Slurm sets CUDA_VISIBLE_DEVICES to the job's GPU; the worker inherits it.
    with tempfile.TemporaryDirectory(prefix="ganbench-slurm-") as scratch:
        worker = WorkerProcess(spec, Path(scratch), None, environment)
        try:
            row = worker.wait_for_row()
        except UncompletedJobError as error:
            row = synthetic_row(spec, "timeout", f"stopped at the Slurm time limit: {error}")
        finally:
            if worker.process.poll() is None:  # interrupted (time limit, requeue): stop it
                worker.stop()
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    return dataclasses.replace(
        row,
        engine="slurm",
        node=os.environ.get("SLURMD_NODENAME") or hostname(),
        attempts=restarts + 1,
    ).to_dict()
