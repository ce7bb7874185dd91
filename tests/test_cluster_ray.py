"""`--executor ray` on real Ray clusters, never mocked, every byte on loopback.

One node runs without a namespace (Ray bound to 127.0.0.1); the fake-GPU head and the
two-node cluster run inside a private network namespace that holds only `lo`, which
needs root (CI is root; elsewhere those tests skip and say why). Each test stops every
process it started. Runs are tiny (tests/clusters.py TINY).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest

from bench.results import Row, read_rows
from tests.clusters import (
    Namespace,
    RayCluster,
    bench,
    cluster_environment,
    descendants,
    namespace_unavailable,
    processes,
    ray_process_ids,
    run_bench,
    stop_leftovers,
    wait_until,
    write_suite,
)
from tests.conftest import REPO_ROOT, skip_unless_ci
from tests.plugins.names import MARKS_ENV, PROBE_ERROR

# One xdist worker runs these tests: one Ray cluster at a time on a machine.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300), pytest.mark.xdist_group("ray-cluster")]

# one node, no namespace: Ray binds 127.0.0.1 only, no authentication to set up
SINGLE_NODE = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
ON_A_LOCAL_RAY = ("--executor", "ray", "--address", "local")  # a Ray for this command only
QUALITY_FIELDS = (
    "parzen_ll",
    "parzen_sigma",
    "fid_classifier",
    "kid_classifier",
    "probe_accuracy",
    "final_losses",
    "params_generator",
    "params_discriminator",
    "flops_per_step",
    "error",
)


@pytest.fixture
def ray_processes_stopped():
    """After the test, no Ray process it started is left (any found is killed and fails it)."""
    if importlib.util.find_spec("ray") is None:
        skip_unless_ci("Ray is not installed (pip install -e '.[ray]')")
    before = ray_process_ids()
    yield
    wait_until(lambda: not (ray_process_ids() - before), timeout_s=20)
    left = stop_leftovers(before)
    assert not left, f"Ray processes left running: {sorted(left)}"


def start_bench(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def by_run_id(rows: list[Row]) -> dict[str, Row]:
    return {row.run_id: row for row in rows}


def test_a_suite_through_ray_gives_the_rows_and_metrics_of_a_local_run(
    tmp_path, ray_processes_stopped
):
    suite = write_suite(tmp_path, "same", 'variants = ["vanilla"]\nsteps = 30\nseeds = [0]\n')
    env = cluster_environment(SINGLE_NODE)
    # both at once: they share nothing but the machine (timings differ; the metrics may not)
    local = start_bench(bench("run", "--suite", str(suite), "--out", str(tmp_path / "l")), env)
    remote = start_bench(
        bench("run", "--suite", str(suite), "--out", str(tmp_path / "r"), *ON_A_LOCAL_RAY), env
    )
    _, local_err = local.communicate(timeout=240)
    _, remote_err = remote.communicate(timeout=240)
    assert local.returncode == 0, local_err[-2000:]
    assert remote.returncode == 0, remote_err[-3000:]

    local_rows = by_run_id(read_rows(tmp_path / "l"))
    ray_rows = by_run_id(read_rows(tmp_path / "r"))
    assert {(i, r.status) for i, r in ray_rows.items()} == {
        (i, r.status) for i, r in local_rows.items()
    }
    assert [r.status for r in ray_rows.values()] == ["ok"]  # (failed rows: the tests below)
    for run_id, row in ray_rows.items():
        twin = local_rows[run_id]
        # fixed seed, one thread, CPU: the same training, so the same numbers
        for name in QUALITY_FIELDS:
            assert getattr(row, name) == getattr(twin, name), (run_id, name)
        assert (row.engine, row.attempts) == ("ray", 1)
        assert len(row.node) == 56 and row.job_id  # Ray's node and task ids
        assert row.versions["ray"] == version("ray") and row.versions["torch"] == version("torch")
        assert (twin.engine, twin.attempts, twin.node) == ("local", 1, twin.hostname)
        assert row.threads == 1
    # the driver said where runs went and how many were done
    assert "ray +" in remote_err and "1 of 1 done (0 not ok)" in remote_err


@pytest.fixture
def namespace():
    reason = namespace_unavailable()
    if reason:
        skip_unless_ci(reason)
    space = Namespace("ganbench-ray")
    yield space
    space.delete()


@pytest.fixture
def ray_cluster(namespace, tmp_path, ray_processes_stopped):
    cluster = RayCluster(namespace, tmp_path)
    yield cluster
    cluster.stop()


def test_runs_asking_one_gpu_each_see_their_own_cuda_visible_devices(tmp_path, ray_cluster):
    assert ray_cluster.namespace.interfaces() == ["lo"]
    ray_cluster.start_head(num_cpus=2, num_gpus=2)  # fake GPUs: only a resource count
    suite = write_suite(
        tmp_path, "probe", 'variants = ["gpu_probe"]\nsteps = 30\ndevice = "cuda"\nseeds = [0, 1]\n'
    )
    done = run_bench(
        ray_cluster.bench("run", "--suite", str(suite), "--out", str(tmp_path / "o")),
        ray_cluster.env,
        timeout_s=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rows(tmp_path / "o")
    # both runs held a GPU at the same time (the probe holds it 3 s), so each had its own
    assert sorted(row.cuda_visible_devices for row in rows) == ["0", "1"]
    for row in rows:  # the probe cannot train without a real GPU, and says so
        assert row.status == "failed" and row.error == f"RuntimeError: {PROBE_ERROR}"
        assert row.device == "cuda" and row.engine == "ray"


WORKER_NODE_PORT = 62365  # the second node's raylet, to find it among processes


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """A head and a second node, one CPU each, no GPU, for the tests below (in this order)."""
    if importlib.util.find_spec("ray") is None:
        skip_unless_ci("Ray is not installed (pip install -e '.[ray]')")
    reason = namespace_unavailable()
    if reason:
        skip_unless_ci(reason)
    before = ray_process_ids()
    namespace = Namespace("ganbench-ray")
    cluster = RayCluster(namespace, tmp_path_factory.mktemp("two-nodes"))
    try:
        assert namespace.interfaces() == ["lo"]
        cluster.start_head(num_cpus=1)
        cluster.add_worker(num_cpus=1, node_manager_port=WORKER_NODE_PORT)
        yield cluster
    finally:
        cluster.stop()
        namespace.delete()
    wait_until(lambda: not (ray_process_ids() - before), timeout_s=20)
    left = stop_leftovers(before)
    assert not left, f"Ray processes left running: {sorted(left)}"


def test_a_gpu_suite_on_a_cluster_without_gpus_stops_at_once_with_one_line(tmp_path, two_nodes):
    suite = write_suite(tmp_path, "nogpu", 'variants = ["vanilla"]\nsteps = 30\ndevice = "cuda"\n')
    started = time.monotonic()
    done = run_bench(
        two_nodes.bench("run", "--suite", str(suite), "--out", str(tmp_path / "o")),
        two_nodes.env,
        timeout_s=90,  # a task no node can hold would wait forever
    )
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("python -m bench")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert errors[0] == (
        "python -m bench run: error: suite nogpu needs 1 CPU and 1 GPU (device cuda) per run, "
        f"and no node of the Ray cluster at {two_nodes.address} has that: 2 nodes, 2 CPUs in "
        "all (at most 1 on one node), no GPU"
    )
    assert time.monotonic() - started < 60
    assert not (tmp_path / "o" / "rows").exists()


def raylet_of_second_node() -> int | None:
    for pid, _, command in processes():
        if "/raylet" in command and f"--node_manager_port={WORKER_NODE_PORT}" in command:
            return pid
    return None


def training_runs_under(root: int, marks: Path) -> list[int]:
    """bench.worker processes below `root` that have begun training (their mark is there)."""
    below = descendants(root)
    return [
        pid
        for pid, _, command in processes()
        if pid in below and "bench.worker" in command and (marks / str(pid)).exists()
    ]


def run_id_of(pid: int) -> str | None:
    """The run a bench.worker process trains (its spec file is named after it)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    spec_path = next((part.decode() for part in command if part.endswith(b".spec.json")), "")
    return Path(spec_path).name.removesuffix(".spec.json") or None


def second_round_run(raylet: int, marks: Path, results: Path, seen: set[str]) -> int | None:
    """A run training below `raylet` once another run seen there has written its row."""
    training = {pid: run_id_of(pid) for pid in training_runs_under(raylet, marks)}
    seen.update(run_id for run_id in training.values() if run_id)
    if not any((results / "rows" / f"{run_id}.json").exists() for run_id in seen):
        return None
    return next(
        (
            pid
            for pid, run_id in training.items()
            if run_id and not (results / "rows" / f"{run_id}.json").exists()
        ),
        None,
    )


def ray_runs_below(raylet: int) -> set[int]:
    """A node's Ray task workers (proc title ray::...) and the training processes they run."""
    below = descendants(raylet)
    return {
        pid
        for pid, _, command in processes()
        if pid in below and (command.startswith("ray::") or "bench.worker" in command)
    }


@pytest.mark.slow
def test_a_run_on_a_node_that_dies_is_retried_on_the_head_and_no_row_is_lost(tmp_path, two_nodes):
    marks = tmp_path / "marks"
    marks.mkdir()
    # four runs, one at a time per node, spread: two rounds over the two nodes
    suite = write_suite(
        tmp_path, "kill", 'variants = ["steady"]\nsteps = 30\nseeds = [0, 1, 2, 3]\n'
    )
    results = tmp_path / "o"
    env = {**two_nodes.env, MARKS_ENV: str(marks)}
    started = time.monotonic()
    driver = subprocess.Popen(
        two_nodes.bench("run", "--suite", str(suite), "--out", str(results)),
        cwd=REPO_ROOT,
        env=env,
        stdout=(tmp_path / "driver.out").open("w"),
        stderr=(tmp_path / "driver.err").open("w"),
    )
    try:
        raylet = raylet_of_second_node()
        assert raylet is not None, "the second node's raylet is not running"
        # wait for the second round there: one of its rows back, another run training
        seen: set[str] = set()
        victim, deadline = None, time.monotonic() + 150
        while victim is None and time.monotonic() < deadline and driver.poll() is None:
            victim = second_round_run(raylet, marks, results, seen)
            time.sleep(0.2)
        assert victim is not None, "no second run trained on the second node"
        victim_run = run_id_of(victim)
        doomed = ray_runs_below(raylet)
        killed_at = time.monotonic() - started
        os.kill(raylet, signal.SIGKILL)  # the second node dies

        victim_row = results / "rows" / f"{victim_run}.json"
        assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in doomed), 30), (
            "the dead node's task or training process outlived it"
        )
        orphans_gone_at = time.monotonic() - started
        assert wait_until(victim_row.exists, timeout_s=150)
        retried_row_at = time.monotonic() - started
        returncode = driver.wait(timeout=150)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    stdout, stderr = (tmp_path / "driver.out").read_text(), (tmp_path / "driver.err").read_text()
    assert returncode == 0, stderr[-3000:]

    rows = by_run_id(read_rows(results))
    assert len(rows) == 4 and "ran 4, kept 0" in stdout  # none lost, none written twice
    retried = rows[victim_run]
    assert retried.status == "ok" and retried.attempts == 2
    others = [row for run_id, row in rows.items() if run_id != victim_run]
    assert all(row.status == "ok" and row.attempts == 1 for row in others)
    assert len({row.node for row in rows.values()}) == 2  # runs landed on both nodes
    finished_on_second = [rows[run_id] for run_id in seen if run_id != victim_run]
    second_node = finished_on_second[0].node
    assert all(row.node == second_node for row in finished_on_second)
    assert retried.node != second_node  # it finished on the head, the one node left
    print(
        f"\ntimeline (s since the driver started): second node's raylet SIGKILLed at "
        f"{killed_at:.1f} while {victim_run} trained (pid {victim}); its task and training "
        f"processes gone by {orphans_gone_at:.1f}; its row (attempt 2, on the head) written at "
        f"{retried_row_at:.1f}; driver exited at {time.monotonic() - started:.1f}\n"
        + "\n".join(line for line in stderr.splitlines() if line.startswith("ray +")),
        file=sys.stderr,
    )
