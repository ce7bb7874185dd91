"""What the executor tells a worker process through its environment.

Kept apart from bench.worker, which imports torch at once: the executors that
start workers on other nodes (Ray tasks, Slurm jobs) import this without
paying for a framework they never use.
"""

from __future__ import annotations

# Set by the executor to its own PID: a worker whose parent is already gone when it starts
# (the driver was killed while this process was still importing) stops at once.
PARENT_PID_ENV = "GANBENCH_WORKER_PARENT_PID"

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)


def thread_environment(threads: int) -> dict[str, str]:
    """Environment that pins both frameworks to `threads` CPU threads (read at import)."""
    env = dict.fromkeys(THREAD_ENV_VARS, str(threads))
    env["TF_NUM_INTEROP_THREADS"] = "1"  # torch runs ops one after another too
    return env
