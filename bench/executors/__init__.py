"""Where runs execute. An executor turns a RunSpec into a future of its row.

The runner only calls `submit(run_spec) -> Future[Row]` and `shutdown()`;
it does not know which engine ran a run.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Protocol

from bench.config import RunSpec
from bench.results import Row


class Executor(Protocol):
    def submit(self, spec: RunSpec) -> Future[Row]:
        """Start one run; the future resolves to its row, whatever happened to the run."""

    def shutdown(self, cancel_running: bool = False) -> None:
        """Wait for (or, with cancel_running, stop) the runs still going."""
