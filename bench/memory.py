"""The memory cap of one run, and how a failed allocation is recognised.

A suite's `max_mem_mb` caps each run's address space from the moment its framework,
model and reference classifier are loaded (`memory_cap`); an allocation past it fails,
and `is_out_of_memory` tells such a failure from any other, in either framework, without
importing one. Linux only (RLIMIT_AS, /proc/self/status).
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator
from pathlib import Path

# How frameworks name a failed allocation: torch.OutOfMemoryError (CPU and CUDA), TensorFlow's
# ResourceExhaustedError ("OOM when allocating tensor"), and the messages of older paths.
OOM_ERROR_NAMES = frozenset({"OutOfMemoryError", "ResourceExhaustedError"})
OOM_MESSAGES = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "oom when allocating",
    "bad_alloc",
)


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a failed allocation.

    Judged by class name and message, so neither framework is imported to ask.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        if any(cls.__name__ in OOM_ERROR_NAMES for cls in type(current).__mro__):
            return True
        message = str(current).lower()
        if any(marker in message for marker in OOM_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def memory_cap(max_mem_mb: int | None) -> Iterator[None]:
    """Keep the run's memory under max_mem_mb for the block (RLIMIT_AS); None: no cap.

    RLIMIT_AS limits address space, not resident memory, and torch and TensorFlow reserve
    gigabytes of address space they never touch as they are imported. So the worker sets
    the limit itself, after the framework is imported, the model built and the reference
    classifier loaded: the address space may grow by max_mem_mb minus the resident size at
    that point (none when that is already over the cap). An allocation past it fails
    (MemoryError, torch's OutOfMemoryError, TensorFlow's ResourceExhaustedError) and the
    row is "oom". Only the soft limit is lowered, and it is restored when the block ends.
    Freed memory the process still maps is reused without counting. Linux only.
    """
    if max_mem_mb is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = _proc_status_kib(("VmSize", "VmRSS"))
    headroom_kib = max(0, max_mem_mb * 1024 - status["VmRSS"])
    limit = (status["VmSize"] + headroom_kib) * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def process_peak_rss_mb() -> float:
    """This process's peak resident memory so far: the CPU's peak_mem_mb."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _proc_status_kib(names: tuple[str, ...]) -> dict[str, int]:
    """Fields of /proc/self/status given in kB (VmSize: address space, VmRSS: resident)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0])
    return values
