"""Runs on a Ray cluster: one Ray task per run, asking for the run's CPUs and GPU.

    python -m bench run --suite gpu --executor ray --address HOST:PORT

Each task starts the run exactly as the local executor does
(local.WorkerProcess: `python -m bench.worker` in a session of its own,
threads set in its environment, CUDA_VISIBLE_DEVICES the GPU Ray gave the
task) and returns the row; only the driver writes rows, so the nodes need
no shared file system. Tasks are spread over the nodes.

Faults: Ray starts a task again, on any node, when its node or worker died
(`max_retries`, a suite key); a run that raised is a `failed` row and is
never retried. A small actor on the head node counts the starts of each run
(the row's `attempts`) and knows where each run is, for the progress lines.
Ray is imported only when this executor is asked for (pip extra `ray`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
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

INSTALL_HINT = "pip install -e '.[ray]' (the ray extra: ray==2.60.0)"
POLL_S = 1.0  # how often the driver collects finished tasks and asks where runs are
HEAD_RESOURCE = "node:__internal_head__"  # Ray's marker resource of the head node
CANCEL_WAIT_S = 30.0  # on Ctrl-C, how long to wait for cancelled tasks to be gone


def import_ray() -> Any:
    """The ray module, or a one-line error saying which extra to install."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray: ray is not installed; {INSTALL_HINT}") from None
    return ray


class RayExecutor:
    """Sends RunSpecs to a Ray cluster as tasks; a driver thread collects the rows."""

    engine = "ray"

    def __init__(
        self,
        address: str | None = None,
        max_retries: int = 2,
        write: Callable[[str], None] = print_to_stderr,
    ):
        """address: HOST:PORT of a running cluster; None: $RAY_ADDRESS, else a cluster started
        on this machine with `ray start`, else a new one for this command ("local": always new).
        """
        self.ray = import_ray()
        self.address = address or os.environ.get("RAY_ADDRESS")
        self.max_retries = max_retries
        self.progress = ProgressBoard(self.engine, write)
        self.environment = driver_environment()
        self.pending: dict[Any, tuple[RunSpec, Future[Row]]] = {}  # ObjectRef -> run
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._connect()
        self.task = self.ray.remote(run_on_node)
        self.log = self._start_run_log()
        self.collector = threading.Thread(target=self._collect, name="ray-rows", daemon=True)
        self.collector.start()

    def _connect(self) -> None:
        where = self._where()
        try:
            self.ray.init(
                address=self.address,
                logging_level=logging.WARNING,
                log_to_driver=False,  # runs report through rows and the progress lines
            )
        except Exception as error:  # ConnectionError, RuntimeError, ValueError, ...
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ConfigError(f"--executor ray: cannot reach Ray {where}: {first_line}") from None

    def _start_run_log(self) -> Any:
        """The actor that counts run starts, pinned to the head node (it outlives workers)."""
        options: dict[str, Any] = {"num_cpus": 0}
        if HEAD_RESOURCE in self.ray.cluster_resources():
            options["resources"] = {HEAD_RESOURCE: 0.001}
        return self.ray.remote(RunLog).options(**options).remote()

    def check(self, suite: Suite) -> None:
        """A task no node can hold waits forever in Ray: say so now instead."""
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        gpus_per_run = 1 if suite.settings.device == "cuda" else 0
        if any(
            node.get("CPU", 0) >= suite.settings.threads and node.get("GPU", 0) >= gpus_per_run
            for node in nodes
        ):
            return
        needs = f"{suite.settings.threads} CPU" + ("s" if suite.settings.threads > 1 else "")
        if gpus_per_run:
            needs += " and 1 GPU (device cuda)"
        raise ConfigError(
            f"suite {suite.name} needs {needs} per run, and no node of the Ray cluster "
            f"{self._where()} has that: {describe_nodes(nodes)}"
        )

    def _where(self) -> str:
        if self.address in (None, "local", "auto"):
            return "on this machine"
        return f"at {self.address}"

    def submit(self, spec: RunSpec) -> Future[Row]:
        future: Future[Row] = Future()
        ref = self.task.options(
            num_cpus=spec.settings.threads,
            num_gpus=1 if spec.settings.device == "cuda" else 0,
            max_retries=self.max_retries,
            retry_exceptions=False,
            scheduling_strategy="SPREAD",
            name=f"ganbench {spec.run_id}",
        ).remote(spec.to_dict(), self.environment, self.log)
        with self.lock:
            self.pending[ref] = (spec, future)
        self.progress.submitted_runs(1)
        return future

    def flush(self) -> None:
        """Nothing to do: each task was sent at submit."""

    def shutdown(self, cancel_running: bool = False) -> None:
        if cancel_running:
            with self.lock:
                refs = list(self.pending)
            for ref in refs:
                self.ray.cancel(ref, force=True)  # kills the task's worker, and so the run
        self.closing.set()
        self.collector.join(timeout=CANCEL_WAIT_S if cancel_running else None)
        if self.ray.is_initialized():
            self.ray.shutdown()

    def _collect(self) -> None:
        """Resolve each future as its task ends; between tasks, show where runs are."""
        while True:
            with self.lock:
                refs = list(self.pending)
            if not refs:
                if self.closing.is_set():
                    return
                self.closing.wait(POLL_S)
                continue
            ready, _ = self.ray.wait(refs, num_returns=len(refs), timeout=POLL_S)
            starts = self._starts()
            for ref in ready:
                self._finish(ref, starts)
            with self.lock:
                waiting = {spec.run_id for spec, _ in self.pending.values()}
            self.progress.running_now(
                {run_id: start[0] for run_id, start in starts.items() if run_id in waiting}
            )

    def _starts(self) -> dict[str, tuple[str, str, int]]:
        try:
            return self.ray.get(self.log.snapshot.remote(), timeout=30)
        except self.ray.exceptions.RayError:
            return {}

    def _finish(self, ref: Any, starts: Mapping[str, tuple[str, str, int]]) -> None:
        with self.lock:
            spec, future = self.pending.pop(ref)
        exceptions = self.ray.exceptions
        try:
            row = Row.from_dict(self.ray.get(ref), source=f"the Ray task of {spec.run_id}")
            # the starts the run log counted (a task's own count would make it wait)
            row = dataclasses.replace(row, attempts=starts.get(spec.run_id, (0, 0, 1))[2])
        except exceptions.TaskCancelledError:
            future.set_exception(RunCancelledError(spec.run_id))
            return
        except exceptions.RayTaskError as error:  # the task's own code raised, not the run
            row = self._lost_row(spec, "failed", error, starts)
        except exceptions.RayError as error:  # its node or worker died, max_retries + 1 times
            row = self._lost_row(spec, "killed", error, starts)
        except ResultsError as error:
            row = self._lost_row(spec, "failed", error, starts)
        self.progress.row_arrived(row)
        future.set_result(row)

    def _lost_row(
        self,
        spec: RunSpec,
        status: str,
        error: Exception,
        starts: Mapping[str, tuple[str, str, int]],
    ) -> Row:
        """The row of a run whose task returned none: where it last started, and why."""
        node, host, attempts = starts.get(spec.run_id, (None, None, 0))
        first_line = (str(error).strip().splitlines() or [""])[0]
        row = synthetic_row(spec, status, f"ray: {type(error).__name__}: {first_line}")
        return dataclasses.replace(
            row,
            engine=self.engine,
            node=node,
            hostname=host,
            attempts=attempts,
            versions={**row.versions, "ray": self.ray.__version__},
        )


def run_on_node(spec_values: dict[str, Any], environment: dict[str, str], log: Any) -> dict:
    """The Ray task: one run in a worker process on this node; returns its row as a dict."""
    import ray

    spec = RunSpec.from_dict(spec_values)
    context = ray.get_runtime_context()
    node = context.get_node_id()
    # Not waited for: a task blocked in ray.get lends its CPU to another task meanwhile.
    log.started.remote(spec.run_id, node, hostname())
    gpu_ids = ray.get_gpu_ids() if spec.settings.device == "cuda" else []
    gpu = ",".join(str(gpu_id) for gpu_id in gpu_ids) or None
    with tempfile.TemporaryDirectory(prefix="ganbench-ray-") as scratch:
        row = WorkerProcess(spec, Path(scratch), gpu, environment).wait_for_row()
    return dataclasses.replace(
        row,
        engine="ray",
        node=node,
        job_id=context.get_task_id(),
        versions={**row.versions, "ray": ray.__version__},
    ).to_dict()


class RunLog:
    """A Ray actor: each run's starts (node, host), in order; a retried run has several.

    Its snapshot is read after a task's result is ready, long after that task told it
    of its start, so a row's `attempts` counts every start.
    """

    def __init__(self) -> None:
        self.starts: dict[str, list[tuple[str, str]]] = {}

    def started(self, run_id: str, node: str, host: str) -> None:
        self.starts.setdefault(run_id, []).append((node, host))

    def snapshot(self) -> dict[str, tuple[str, str, int]]:
        """run_id -> (node, host, starts) of its latest start."""
        return {run_id: (*starts[-1], len(starts)) for run_id, starts in self.starts.items()}


def describe_nodes(nodes: list[dict[str, float]]) -> str:
    """'2 nodes: 4 CPUs in all, no GPU' or '... 1 GPU at most on a node'."""
    if not nodes:
        return "no live node"
    cpus = sum(node.get("CPU", 0) for node in nodes)
    most_cpus = max(node.get("CPU", 0) for node in nodes)
    most_gpus = max(node.get("GPU", 0) for node in nodes)
    gpus = f"at most {most_gpus:g} GPUs on one node" if most_gpus else "no GPU"
    count = f"{len(nodes)} node" + ("s" if len(nodes) > 1 else "")
    return f"{count}, {cpus:g} CPUs in all (at most {most_cpus:g} on one node), {gpus}"
