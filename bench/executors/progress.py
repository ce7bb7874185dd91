"""One line of progress per change, for executors whose runs happen out of sight.

Local runs show their own progress bars; runs on a cluster do not, so the
Ray and Slurm executors print, on stderr, a line for every row that arrives
and one whenever the counts (done, failed, running and where, pending) change.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from bench.results import Row


def print_to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def short_node(node: str | None) -> str:
    """A Ray node id is 56 hex digits; its first 8 name it well enough on a screen."""
    if not node:
        return "?"
    return node[:8] if len(node) > 16 else node


class ProgressBoard:
    """Counts of the runs of one suite; thread-safe, prints only when something changed."""

    def __init__(self, engine: str, write: Callable[[str], None] = print_to_stderr):
        self.engine = engine
        self.write = write
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.submitted = 0
        self.done = 0
        self.failed = 0  # rows whose status is not ok
        self.running: dict[str, str] = {}  # run_id -> node
        self.last_summary = ""

    def submitted_runs(self, count: int) -> None:
        with self.lock:
            self.submitted += count

    def row_arrived(self, row: Row) -> None:
        with self.lock:
            self.done += 1
            self.failed += row.status != "ok"
            self.running.pop(row.run_id, None)
            host = f" ({row.hostname})" if row.hostname and row.hostname != row.node else ""
            where = f"node {short_node(row.node)}{host}"
            extra = f", attempt {row.attempts}" if row.attempts and row.attempts > 1 else ""
            job = f", job {row.job_id}" if row.job_id and self.engine == "slurm" else ""
            self._say(f"{row.run_id}: {row.status} on {where}{extra}{job}")
            self._summarise()

    def running_now(self, running: Mapping[str, str]) -> None:
        """running: run_id -> node, for the runs not finished yet."""
        with self.lock:
            self.running = dict(running)
            self._summarise()

    def _summarise(self) -> None:
        per_node = Counter(short_node(node) for node in self.running.values())
        nodes = ", ".join(f"{node}: {count}" for node, count in sorted(per_node.items()))
        pending = max(self.submitted - self.done - len(self.running), 0)
        running = f"{len(self.running)} running" + (f" ({nodes})" if nodes else "")
        summary = (
            f"{self.done} of {self.submitted} done ({self.failed} not ok), {running}, "
            f"{pending} pending"
        )
        if summary != self.last_summary:
            self.last_summary = summary
            self._say(summary)

    def _say(self, text: str) -> None:
        self.write(f"{self.engine} +{time.monotonic() - self.started:.0f}s: {text}")
