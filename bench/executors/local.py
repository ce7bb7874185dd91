"""The default executor: each run in a worker process on this machine.

Each worker is started in a session (process group) of its own, so that a
time-out or a Ctrl-C stops the worker and every process it started, and so
that a terminal's Ctrl-C reaches only the driver, which decides what to stop.
`jobs` workers run at once (threads here only wait on processes).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from bench.config import RunSpec
from bench.provenance import REPO_ROOT
from bench.results import Row, read_row
from bench.worker import identity_fields, thread_environment

KILL_GRACE_S = 5.0  # after SIGTERM, how long a worker gets before SIGKILL


class LocalExecutor:
    """Runs RunSpecs as `python -m bench.worker` processes, `jobs` at a time."""

    def __init__(
        self, jobs: int = 1, scratch_dir: Path | None = None, gpus: list[str] | None = None
    ):
        """`gpus`: device ids a CUDA run may be pinned to, one run per GPU at a time."""
        if jobs < 1:
            raise ValueError(f"jobs = {jobs}; must be >= 1")
        self.pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="run")
        self.gpus = GpuSlots(gpus or [])
        self.scratch_dir = Path(scratch_dir or tempfile.mkdtemp(prefix="ganbench-"))
        self.running: dict[str, subprocess.Popen] = {}
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def submit(self, spec: RunSpec) -> Future[Row]:
        return self.pool.submit(self._run, spec)

    def shutdown(self, cancel_running: bool = False) -> None:
        if cancel_running:
            self.cancelled.set()
            with self.lock:
                processes = list(self.running.values())
            for process in processes:
                _stop_group(process)
        self.pool.shutdown(wait=True, cancel_futures=cancel_running)

    def _run(self, spec: RunSpec) -> Row:
        if self.cancelled.is_set():
            raise RunCancelledError(spec.run_id)
        self.scratch_dir.mkdir(parents=True, exist_ok=True)
        spec_path = self.scratch_dir / f"{spec.run_id}.spec.json"
        row_path = self.scratch_dir / f"{spec.run_id}.row.json"
        row_path.unlink(missing_ok=True)
        spec_path.write_text(json.dumps(spec.to_dict()))
        with self.gpus.hold(spec.device == "cuda") as gpu:
            process = subprocess.Popen(
                [sys.executable, "-m", "bench.worker", str(spec_path), str(row_path)],
                cwd=REPO_ROOT,
                env=worker_environment(spec, gpu),
                start_new_session=True,
            )
            with self.lock:
                self.running[spec.run_id] = process
            try:
                returncode = process.wait(timeout=spec.timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _stop_group(process)
                returncode, timed_out = process.wait(), True
            finally:
                with self.lock:
                    self.running.pop(spec.run_id, None)
        if self.cancelled.is_set():
            raise RunCancelledError(spec.run_id)
        if timed_out:
            return _synthetic_row(spec, "timeout", f"exceeded timeout_s = {spec.timeout_s:g}")
        if returncode == 0 and row_path.is_file():
            return read_row(row_path)
        if returncode < 0:
            name = signal.Signals(-returncode).name
            return _synthetic_row(spec, "killed", f"worker killed by {name}")
        return _synthetic_row(spec, "failed", f"worker exited with code {returncode} and no row")


class RunCancelledError(Exception):
    """The suite was interrupted; this run has no row and will run again on resume."""


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


def worker_environment(spec: RunSpec, gpu: str | None = None) -> dict[str, str]:
    """The worker's environment: threads pinned, and CUDA_VISIBLE_DEVICES when given a GPU."""
    env = dict(os.environ)
    env.update(thread_environment(spec.threads))
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the worker's whole process group, then SIGKILL what is left."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _synthetic_row(spec: RunSpec, status: str, error: str) -> Row:
    """The row of a run that could not report itself."""
    return Row(**{**identity_fields(spec), "status": status, "error": error})
