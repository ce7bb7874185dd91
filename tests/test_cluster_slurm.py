"""`--executor slurm` on a real one-node Slurm (Debian's slurmctld, slurmd, munge) through
submitit, never mocked, started by the fixture inside a private network namespace that
holds only `lo`. Needs root and the Debian packages (.ci/run installs them); elsewhere
the test skips and says why, but in CI (CI=true) it must run, so there it fails instead.
"""

from __future__ import annotations

import re
import time

import pytest

from bench.results import read_rows
from tests.clusters import (
    Namespace,
    SlurmCluster,
    processes,
    run_bench,
    slurm_unavailable,
    wait_until,
    write_suite,
)
from tests.conftest import WAITING_GROUP, import_or_skip_unless_ci, skip_unless_ci

# One xdist worker runs these tests, one Slurm cluster at a time, with the other tests that
# mostly wait (tests/conftest.py).
pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(300),
    pytest.mark.xdist_group(WAITING_GROUP),
]


@pytest.fixture(scope="module")
def slurm():
    import_or_skip_unless_ci("submitit", "submitit is not installed (pip install -e '.[slurm]')")
    reason = slurm_unavailable()
    if reason:
        skip_unless_ci(reason)
    namespace = Namespace("ganbench-slurm")
    cluster = SlurmCluster(namespace)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        namespace.delete()


def test_a_suite_through_slurm_returns_its_rows_with_job_ids(tmp_path, slurm):
    assert slurm.namespace.interfaces() == ["lo"]
    # the hanging run first, so that it holds the array's first slot while the others run;
    # its own limit is short (variant_timeout_s), the others keep the suite's 300 s
    body = (
        'variants = ["faulty_hang", "vanilla", "faulty_raise"]\nsteps = 30\ntimeout_s = 300\n'
        "variant_timeout_s = { faulty_hang = 10 }\n"
    )
    suite = write_suite(tmp_path, "slurm", body)
    started = time.monotonic()
    options = ["--partition", "debug", "--account", "bench", "--jobs", "2"]
    done = run_bench(
        slurm.bench("run", "--suite", str(suite), "--out", str(tmp_path / "o"), *options),
        slurm.env,
        timeout_s=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row.variant: row for row in read_rows(tmp_path / "o")}
    assert sorted(rows) == ["faulty_hang", "faulty_raise", "vanilla"]
    job_ids = {variant: row.job_id for variant, row in rows.items()}
    assert all(re.fullmatch(r"\d+_[0-2]", job_id) for job_id in job_ids.values()), job_ids
    assert len({job_id.split("_")[0] for job_id in job_ids.values()}) == 1  # one array

    assert rows["vanilla"].status == "ok" and rows["vanilla"].images_per_s > 0
    # an exception inside the run is a failed row, as locally
    assert rows["faulty_raise"].status == "failed"
    assert rows["faulty_raise"].error == "RuntimeError: injected failure in train_step"
    # a run past the suite's timeout_s is stopped inside its job: a timeout row
    assert rows["faulty_hang"].status == "timeout"
    assert rows["faulty_hang"].error == "exceeded timeout_s = 10"
    for row in rows.values():
        assert row.engine == "slurm" and row.node and row.attempts == 1
        assert row.versions["submitit"] == "1.5.4"
    # one array, its limit that of the longest run: 300 s (5 min) plus 5 minutes
    announced = r"slurm: job array \d+: 3 runs, each 1 CPU\(s\), 0 GPU, 10 min; at most 2 at once"
    assert re.search(announced, done.stderr)
    print(
        f"\nslurm suite: {time.monotonic() - started:.0f} s\n"
        + "\n".join(
            f"{row.variant}: {row.status} job {row.job_id} on {row.node}: {row.error}"
            for row in rows.values()
        )
        + "\n"
        + "\n".join(line for line in done.stderr.splitlines() if line.startswith("slurm"))
    )


def test_a_submission_slurm_rejects_is_one_line(tmp_path, slurm):
    suite = write_suite(tmp_path, "rejected", 'variants = ["vanilla"]\nsteps = 30\n')
    options = ["--partition", "nosuchpartition"]
    done = run_bench(
        slurm.bench("run", "--suite", str(suite), "--out", str(tmp_path / "o"), *options),
        slurm.env,
        timeout_s=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("python -m bench run: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "Slurm rejected the job array" in errors[0]
    assert "partition" in errors[0].lower()
    assert not list((tmp_path / "o").glob("rows/*.json"))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_run_slurm_stops_at_its_time_limit_is_a_timeout_row(tmp_path, slurm):
    # The run's own timeout_s (600 s) is far off: Slurm's limit (--time, three minutes) ends
    # it. submitit asks Slurm for a signal 90 s before the limit, which Slurm (checking every
    # ~30 s) sends 90-120 s into the job; the job stops the run and reports a timeout row.
    # With a one-minute limit the signal came at once, and under load it could arrive while
    # submitit was still unpickling the job, before its handler was set: the job died of
    # SIGUSR2 (FAILED, no row; seen 2026-12-04 beside the training tests).
    body = 'variants = ["faulty_hang"]\nsteps = 30\ntimeout_s = 600\n'
    suite = write_suite(tmp_path, "limit", body)
    started = time.monotonic()
    options = ["--partition", "debug", "--time", "00:03:00"]
    done = run_bench(
        slurm.bench("run", "--suite", str(suite), "--out", str(tmp_path / "o"), *options),
        slurm.env,
        timeout_s=600,
    )
    elapsed_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    [row] = read_rows(tmp_path / "o")
    assert row.status == "timeout", row.error
    # Slurm's signal ended it, not the run's own timeout_s ("exceeded timeout_s = 600")
    assert row.error.startswith("stopped at the Slurm time limit"), row.error
    assert row.engine == "slurm" and re.fullmatch(r"\d+(_0)?", row.job_id), row.job_id
    assert "slurm: job array" in done.stderr and ", 3 min;" in done.stderr
    # the hanging run was stopped with its job, not left training
    assert wait_until(lambda: not worker_processes_of(row.run_id), timeout_s=30)
    print(f"\nslurm time limit: {elapsed_s:.0f} s; {row.status} job {row.job_id}: {row.error}")


def worker_processes_of(run_id: str) -> list[int]:
    return [
        pid for pid, _, command in processes() if "bench.worker" in command and run_id in command
    ]
