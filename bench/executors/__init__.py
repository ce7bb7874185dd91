"""Where runs execute. An executor turns a RunSpec into a future of its row.

The runner only calls `check(suite)`, `submit(run_spec) -> Future[Row]`,
`flush()` and `shutdown()`; it does not know which engine ran a run.

- local.py: worker processes on this machine (the default, `--jobs N`)
- ray.py: one Ray task per run on a Ray cluster (`--executor ray`)
- slurm.py: one Slurm job array through submitit (`--executor slurm`)

Every engine starts a run the same way, as `python -m bench.worker` in a
process of its own (local.WorkerProcess), and only the driver writes rows.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from bench.config import RunSpec, Suite
from bench.results import Row

EXECUTORS = ("local", "ray", "slurm")


class Executor(Protocol):
    def check(self, suite: Suite) -> None:
        """Raise ConfigError, before anything is submitted, if the suite cannot run here."""

    def submit(self, spec: RunSpec) -> Future[Row]:
        """Start one run; the future resolves to its row, whatever happened to the run."""

    def flush(self) -> None:
        """Send the runs submitted so far, for engines that send them as one batch (Slurm)."""

    def shutdown(self, cancel_running: bool = False) -> None:
        """Wait for (or, with cancel_running, stop) the runs still going."""
