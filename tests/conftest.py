"""Shared fixtures: the embedded data set, and how to run the CLI as a user does."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from bench.worker_env import thread_environment

# One thread per test process, read by torch and tensorflow at import: the suite runs in
# pytest-xdist workers side by side, and OpenMP spin-waiting at 2 threads on a shared
# machine made one process swing 8x in speed. Workers a test starts get their suite's
# `threads`, whatever this says.
os.environ.update(thread_environment(1))

# torch before tensorflow: in this environment importing triton (which torch's
# first optimiser does, through torch._dynamo) after tensorflow segfaults.
import torch._dynamo  # noqa: F401

from bench.datasets import Dataset, load_dataset

REPO_ROOT = Path(__file__).resolve().parent.parent

# tests that share a module fixture of their module run on one xdist worker
pytest_plugins = ["tests.fixture_groups"]

# No download is ever tried at test time, in this process or the CLIs it starts; reference
# classifiers are cached outside the user's home, trained once (~3 s on digits) and shared.
os.environ["GANBENCH_OFFLINE"] = "1"
os.environ["GANBENCH_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "ganbench-test-cache")


# Tests that spend most of their time waiting on a clock (Slurm's time limit, ~90 s; the
# gpu_quick script's budget cut, ~120 s) share one xdist group: one worker waits through
# them one after another while the others keep both cores busy, instead of two waits at
# once leaving a core idle.
WAITING_GROUP = "mostly-waiting"


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one worker more than this process may use CPUs. A few tests mostly wait
    (gpu_quick's budget cut, a Slurm time limit, cluster start-up: ~200 s of a worker's time
    on a quiet 2-core machine), and the extra worker keeps the cores busy meanwhile; every
    test process runs one thread. 2 cores, 2026-12-04, the same code: 695 s of pytest at 3
    workers, 730 s at 4 (the bisect test's `bench ab` runs need more sessions under more
    load); 2 workers took 810 s before that day's changes."""
    return len(os.sched_getaffinity(0)) + 1


@pytest.fixture(scope="session")
def digits() -> Dataset:
    return load_dataset("digits")


def cli_environment(plugins: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if plugins:
        env["GANBENCH_PLUGINS"] = "tests.plugins.faulty"
    else:
        env.pop("GANBENCH_PLUGINS", None)
    return env


def skip_unless_ci(reason: str) -> None:
    """Skip, saying why; in CI (CI set, as .ci/run's caller sets it) what must run fails."""
    if os.environ.get("CI"):
        pytest.fail(f"in CI this test must run, but: {reason}")
    pytest.skip(reason)


def import_or_skip_unless_ci(module: str, reason: str) -> Any:
    """The module, or a skip saying `reason`; in CI a missing module fails the test."""
    try:
        return importlib.import_module(module)
    except ImportError:
        skip_unless_ci(reason)


def run_python(
    *args: str,
    plugins: bool = False,
    timeout_s: float = 600,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
) -> subprocess.CompletedProcess:
    """`python ARGS` in a fresh process in the repository, output captured.

    `env` replaces cli_environment(plugins); `prefix` goes before the interpreter (e.g.
    `unshare -n`)."""
    return subprocess.run(
        [*prefix, sys.executable, *args],
        cwd=cwd or REPO_ROOT,
        env=cli_environment(plugins) if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def run_cli(*args: str, **options: Any) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh process, as a user would type it (run_python's
    options)."""
    return run_python("-m", "bench", *args, **options)
