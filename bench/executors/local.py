"""The default executor: each run in a worker process on this machine.

Each worker is started in a session (process group) of its own, so that a
time-out or a Ctrl-C stops the worker and every process it started, and so
that a terminal's Ctrl-C reaches only the driver, which decides what to stop.
`jobs` workers run at once (threads here only wait on processes).

`WorkerProcess` is that one run in its own process; the Ray and Slurm
executors start it the same way on their nodes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bench.config import ConfigError, RunSpec, Suite
from bench.provenance import REPO_ROOT, hostname
from bench.record import synthetic_row
from bench.results import Row, read_row
from bench.worker_env import PARENT_PID_ENV, thread_environment
from implementations.registry import check_installed

KILL_GRACE_S = 5.0  # after SIGTERM, how long a worker gets before SIGKILL


class LocalExecutor:
    """Runs RunSpecs as `python -m bench.worker` processes, `jobs` at a time."""

    engine = "local"

    def __init__(
        self, jobs: int = 1, scratch_dir: Path | None = None, gpus: list[str] | None = None
    ):
        """`gpus`: device ids a CUDA run may be pinned to, one run per GPU at a time."""
        if jobs < 1:
            raise ValueError(f"jobs = {jobs}; must be >= 1")
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run")
        self.gpus = GpuSlots(gpus or [])
        self.scratch_dir = Path(scratch_dir or tempfile.mkdtemp(prefix="ganbench-"))
        self.running: dict[str, WorkerProcess] = {}
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def check(self, suite: Suite) -> None:
        check_installed(suite.frameworks)  # a torch-only machine runs --only torch
        if suite.settings.device == "cuda" and not has_nvidia_gpu():
            raise ConfigError("device 'cuda' requested but this machine has no NVIDIA GPU; use cpu")

    def submit(self, spec: RunSpec) -> Future[Row]:
        return self.pool.submit(self._run, spec)

    def flush(self) -> None:
        """Nothing to do: each run starts as soon as a job slot is free."""

    def shutdown(self, cancel_running: bool = False) -> None:
        if cancel_running:
            self.cancelled.set()
            with self.lock:
                workers = list(self.running.values())
            for worker in workers:
                worker.stop()
        self.pool.shutdown(wait=True, cancel_futures=cancel_running)

    def _run(self, spec: RunSpec) -> Row:
        if self.cancelled.is_set():
            raise RunCancelledError(spec.run_id)
        with self.gpus.hold(spec.settings.device == "cuda") as gpu:
            worker = WorkerProcess(spec, self.scratch_dir, gpu)
            with self.lock:
                self.running[spec.run_id] = worker
            try:
                row = worker.wait_for_row(self.cancelled)
            finally:
                with self.lock:
                    self.running.pop(spec.run_id, None)
        if self.cancelled.is_set():
            raise RunCancelledError(spec.run_id)
        return dataclasses.replace(row, engine=self.engine, node=hostname(), attempts=1)


class RunCancelledError(Exception):
    """The suite was interrupted; this run has no row and will run again on resume."""


class WorkerProcess:
    """One run as `python -m bench.worker SPEC ROW` in a session of its own, started at once.

    `wait_for_row` waits up to the run's timeout_s and always returns a row: the worker's
    own, or one saying it timed out, was killed, or exited without a row.
    """

    def __init__(
        self,
        spec: RunSpec,
        scratch_dir: Path,
        gpu: str | None = None,
        environment: Mapping[str, str] | None = None,
    ):
        """`environment`: variables for the worker on top of this process's own."""
        self.spec = spec
        scratch_dir.mkdir(parents=True, exist_ok=True)
        spec_path = scratch_dir / f"{spec.run_id}.spec.json"
        self.row_path = scratch_dir / f"{spec.run_id}.row.json"
        self.row_path.unlink(missing_ok=True)
        spec_path.write_text(json.dumps(spec.to_dict()))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", str(spec_path), str(self.row_path)],
            cwd=REPO_ROOT,
            env=worker_environment(spec, gpu, environment),
            start_new_session=True,
        )

    def wait_for_row(self, cancelled: threading.Event | None = None) -> Row:
        """`cancelled` set (Ctrl-C) when the worker ends: RunCancelledError, and no row is
        built, since a synthetic row imports bench.worker (torch): a minute on a busy machine
        that Ctrl-C would wait for."""
        spec = self.spec
        try:
            returncode = self.process.wait(timeout=spec.settings.timeout_s)
            if cancelled is not None and cancelled.is_set():
                raise RunCancelledError(spec.run_id)
        except subprocess.TimeoutExpired:
            self.stop()
            self.process.wait()
            limit = f"exceeded timeout_s = {spec.settings.timeout_s:g}"
            return synthetic_row(spec, "timeout", limit)
        if returncode == 0 and self.row_path.is_file():
            return read_row(self.row_path)
        if returncode < 0:
            name = signal.Signals(-returncode).name
            return synthetic_row(spec, "killed", f"worker killed by {name}")
        return synthetic_row(spec, "failed", f"worker exited with code {returncode} and no row")

    def stop(self) -> None:
        """SIGTERM the worker's whole process group, then SIGKILL what is left."""
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


class GpuSlots:
    """GPU ids lent to one run at a time, so `--jobs N` on N GPUs runs one run per GPU."""

    def __init__(self, gpus: list[str]):
        self.free: queue.Queue[str] = queue.Queue()
        for gpu in gpus:
            self.free.put(gpu)
        self.count = len(gpus)

    @contextlib.contextmanager
    def hold(self, wanted: bool) -> Iterator[str | None]:
        """A free GPU id for the block (waits for one), or None if not wanted or none known."""
        if not wanted or self.count == 0:
            yield None
            return
        gpu = self.free.get()
        try:
            yield gpu
        finally:
            self.free.put(gpu)


def worker_environment(
    spec: RunSpec, gpu: str | None = None, environment: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The worker's environment: threads pinned, and CUDA_VISIBLE_DEVICES when given a GPU."""
    env = {**os.environ, **(environment or {})}
    env.update(thread_environment(spec.settings.threads))
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env[PARENT_PID_ENV] = str(os.getpid())  # the worker stops if it outlives this process
    return env


def driver_environment() -> dict[str, str]:
    """The GANBENCH_* variables of this process, which every run gets wherever it executes."""
    return {name: value for name, value in os.environ.items() if name.startswith("GANBENCH_")}


def has_nvidia_gpu() -> bool:
    """Whether a CUDA device could exist here, asked without importing a framework."""
    return Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi") is not None
