"""Faults caused for real, in real `python -m bench run` processes: each ends as documented.

- two suites on one results folder: the second stops at once, naming the holder;
- the driver SIGKILLed mid-suite: its worker dies with it, the rerun completes, finished
  rows are kept byte for byte and present once;
- a run over the suite's memory cap: row `oom` with the batch size, the suite goes on;
- corrupt artefacts, as the rerun after that kill meets them: a half-written row is run
  again, a corrupt cached reference classifier is rebuilt, each said in one line; an
  unreadable row is skipped by `report` and stops `compare`, naming the file;
- no network: a suite of both frameworks passes with every outgoing connection refused,
  in the driver and in its workers.

Runs use the "tiny" preset and a few dozen steps, so each costs seconds, not minutes.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bench.datasets import load_dataset
from bench.lock import OWNER_FILE
from bench.memory import is_out_of_memory
from bench.results import Row, read_row, read_rows, write_row
from metrics.classifier import ClassifierCacheWarning, load_or_train
from metrics.classifier_cache import TrainingSettings, cache_paths
from tests.conftest import REPO_ROOT, cli_environment, run_cli
from tests.plugins.names import SLEEP_ENV
from tests.suite_files import write_suite


def bench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench", *args]


def live_worker_pids(results: Path, run_name: str = "") -> list[int]:
    """bench.worker processes of this results folder that are alive (zombies are dead)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        ours = "bench.worker" in command and str(results) in command and run_name in command
        if ours and state != "Z":
            pids.append(int(entry.name))
    return pids


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C a driver the test started (it stops its worker), SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ----------------------------------------------------------------------------- the lock


def test_a_second_run_on_the_same_folder_stops_at_once_naming_the_folder_and_holder(tmp_path):
    hanging = write_suite(tmp_path, "locked", variants=["faulty_hang"])
    other = write_suite(tmp_path, "other", variants=["vanilla"])
    results = tmp_path / "out"
    first = subprocess.Popen(
        bench_command("run", "--suite", str(hanging), "--out", str(results)),
        cwd=REPO_ROOT,
        env=cli_environment(plugins=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (results / OWNER_FILE).is_file(), 120, "the first run to take the lock")
        started = time.monotonic()
        second = run_cli("run", "--suite", str(other), "--out", str(results))
        elapsed_s = time.monotonic() - started
        still_running = first.poll() is None
    finally:
        stop(first)
    assert second.returncode == 2, second.stderr[-2000:]
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert f"results folder {results} is in use" in lines[0]
    assert f"PID {first.pid} " in lines[0]
    assert elapsed_s < 20  # Python start-up and the lock: no framework, no data, no training
    assert still_running
    assert second.stdout == "" and not list((results / "rows").glob("*.json"))


# ----------------------------------------------------------------------------- a killed driver

PROGRESS = re.compile(r"slowed/torch s0 b64:\s+\d+%\|[^|]*\|\s*(\d+)/40")


@dataclass
class KilledSuite:
    """A suite whose driver was SIGKILLed mid-run, then run again with the same command."""

    results: Path
    finished: Path  # the row that was finished before the kill
    finished_bytes: bytes
    workers: list[int]  # the worker that was training when the driver died
    died_after_s: float
    torn_row: Path  # a half-written row, as a writer without rename could leave
    classifier: Path  # the cached classifier, corrupted before the rerun
    rerun: subprocess.CompletedProcess


# The four tests of one killed suite run on one xdist worker, which computes it once
# (tests/fixture_groups.py).
@pytest.fixture(scope="module")
def killed_suite(tmp_path_factory) -> KilledSuite:
    """vanilla finishes; slowed (0.3 s a step) is training when the driver is SIGKILLed. Then
    the wreckage a crash can leave is laid out, and the same command is run again."""
    folder = tmp_path_factory.mktemp("killed")
    suite = write_suite(folder, "killed", variants=["vanilla", "slowed"])
    results, cache = folder / "out", folder / "cache"
    shared_cache = Path(os.environ["GANBENCH_CACHE_DIR"])
    if shared_cache.is_dir():  # a trained classifier, so the first run trains none
        shutil.copytree(shared_cache, cache)
    command = bench_command(
        "run", "--suite", str(suite), "--out", str(results), "--cache-dir", str(cache)
    )
    env = {**cli_environment(), "GANBENCH_PLUGINS": "tests.plugins.slowed", SLEEP_ENV: "300"}
    log = folder / "driver.log"
    with log.open("w") as stderr:
        driver = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:

        def slowed_is_training() -> bool:
            steps = [int(n) for n in PROGRESS.findall(log.read_text(errors="replace"))]
            return bool(steps) and max(steps) >= 5

        wait_for(slowed_is_training, 180, "the second run to be training")
        (finished,) = (results / "rows").glob("*.json")
        finished_bytes = finished.read_bytes()
        workers = live_worker_pids(results, "slowed")
        driver.kill()  # SIGKILL: no handler runs, nothing is cleaned up
        driver.wait()
        killed_at = time.monotonic()
        wait_for(lambda: not live_worker_pids(results), 5, f"worker {workers} to die")
        died_after_s = time.monotonic() - killed_at
    finally:
        stop(driver)
    # What a crash can leave: a hidden temporary file of an atomic write, a half-written row
    # (as a copy or a writer without rename would), and a corrupt cache file.
    torn_row = results / "rows" / finished.name.replace("vanilla-", "slowed-", 1)
    torn_row.write_text('{"run_id": "' + torn_row.stem + '", "suite": "kil')
    (results / "rows" / f".{torn_row.stem}.x1y2z3.tmp").write_text('{"run_id": "slowed-tor')
    digits = load_dataset("digits")
    classifier, _ = cache_paths(
        digits.name,
        digits.train_images,
        digits.train_labels,
        digits.num_classes,
        cache,
        TrainingSettings(),
    )
    classifier.write_bytes(classifier.read_bytes()[:100])
    rerun = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env={**env, SLEEP_ENV: "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    return KilledSuite(
        results, finished, finished_bytes, workers, died_after_s, torn_row, classifier, rerun
    )


@pytest.mark.slow
def test_a_sigkilled_driver_takes_its_training_worker_along(killed_suite):
    assert killed_suite.finished.name.startswith("vanilla-")
    assert len(killed_suite.workers) == 1
    assert killed_suite.died_after_s < 5


@pytest.mark.slow
def test_rerunning_after_a_kill_completes_the_suite_keeping_finished_rows_once(killed_suite):
    rerun = killed_suite.rerun
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "ran 1, kept 1" in rerun.stdout
    assert killed_suite.finished.read_bytes() == killed_suite.finished_bytes
    rows = read_rows(killed_suite.results)
    row_files = list((killed_suite.results / "rows").glob("[!.]*.json"))
    assert len(row_files) == len({row.run_id for row in rows}) == 2
    assert {row.variant: row.status for row in rows} == {"vanilla": "ok", "slowed": "ok"}


@pytest.mark.slow
def test_a_half_written_row_is_named_run_again_and_replaced(killed_suite):
    torn, rerun = killed_suite.torn_row, killed_suite.rerun
    said = [line for line in rerun.stderr.splitlines() if str(torn) in line]
    assert len(said) == 1, rerun.stderr[-3000:]
    assert said[0].startswith(f"warning: {torn}: not a readable row (")
    assert said[0].endswith("; running it again")
    assert read_row(torn).status == "ok"


@pytest.mark.slow
def test_a_corrupt_cached_classifier_is_named_in_one_line_and_rebuilt(killed_suite):
    classifier, rerun = killed_suite.classifier, killed_suite.rerun
    said = [line for line in rerun.stderr.splitlines() if "classifier cache" in line]
    assert len(said) == 1, rerun.stderr[-3000:]
    assert said[0].startswith(f"warning: classifier cache {classifier} is unusable (")
    assert said[0].endswith("; retraining")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClassifierCacheWarning)  # the rebuilt cache is trusted
        digits = load_dataset("digits")
        cached = load_or_train(
            digits.name,
            digits.train_images,
            digits.train_labels,
            digits.test_images,
            digits.test_labels,
            digits.num_classes,
            classifier.parent,
        )
    assert cached.test_accuracy > 0.9


# ----------------------------------------------------------------------------- memory cap


def test_a_run_over_max_mem_mb_is_an_oom_row_naming_its_batch_size_and_the_suite_goes_on(
    tmp_path,
):
    # 64 MiB is below what torch holds once imported, so the worker's cap leaves the run no
    # new address space: dcgan's paper widths at batch 1024 need hundreds of MiB (more than
    # any freed heap could hold), and an allocation fails for real. The worker lifts the cap
    # to write the row; the next run (lsgan: the same networks) still runs. TensorFlow's
    # failed allocation is checked below, in this process.
    suite = write_suite(
        tmp_path,
        "capped",
        variants=["dcgan", "lsgan"],
        spec_preset="paper",
        batch_sizes=[1024],
        max_mem_mb=64,
    )
    results = tmp_path / "out"
    done = run_cli("run", "--suite", str(suite), "--out", str(results))
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row.variant: row for row in read_rows(results)}
    assert set(rows) == {"dcgan", "lsgan"}
    for row in rows.values():
        assert row.status == "oom", (row.variant, row.error, row.traceback)
        assert row.error.startswith("out of memory at batch size 1024, max_mem_mb = 64: ")
        assert row.max_mem_mb == 64 and row.batch_size == 1024
    table = [line.split() for line in done.stdout.splitlines()]
    assert [cells[-1] for cells in table if cells[:1] in (["dcgan"], ["lsgan"])] == ["oom", "oom"]


@pytest.mark.slow
def test_the_same_run_finishes_ok_under_twice_its_peak_and_is_oom_under_a_small_cap(tmp_path):
    # The positive path of the cap: a cap the run fits in must not kill it. dcgan's paper
    # widths at batch 256 (tens of MiB per activation, more than a freed heap holds), a few
    # steps; its peak measured uncapped (the process's peak resident memory), then the same
    # run capped at twice that, and at 64 MiB (below what torch holds once imported).
    keys = dict(variants=["dcgan"], spec_preset="paper", batch_sizes=[256], eval_samples=100)
    keys.update(steps=6, warmup_steps=1, timing_windows=5, timeout_s=1800)
    rows = {}
    for label, cap in [("uncapped", None), ("generous", "2x"), ("small", 64)]:
        if cap == "2x":
            cap = math.ceil(2 * rows["uncapped"].peak_mem_mb)
        capped = {} if cap is None else {"max_mem_mb": cap}
        suite = write_suite(tmp_path, label, **keys, **capped)
        done = run_cli("run", "--suite", str(suite), "--out", str(tmp_path / label))
        assert done.returncode == 0, done.stderr[-3000:]
        [rows[label]] = read_rows(tmp_path / label)
    assert rows["uncapped"].status == "ok" and rows["uncapped"].peak_mem_kind == "process_rss"
    generous = rows["generous"]
    assert generous.status == "ok", (generous.max_mem_mb, generous.error)
    assert generous.max_mem_mb == math.ceil(2 * rows["uncapped"].peak_mem_mb)
    assert generous.timed_steps == 5 and generous.fid_classifier is not None
    assert rows["small"].status == "oom" and rows["small"].max_mem_mb == 64


def _raised(action) -> BaseException:
    try:
        action()
    except Exception as error:  # the real exception of a real failed allocation
        return error
    raise AssertionError("the allocation did not fail")


def test_failed_allocations_of_numpy_and_torch_are_out_of_memory_and_other_errors_are_not():
    import torch

    too_big = 2**52  # 4 PiB: refused by the allocator at once, nothing is touched
    assert is_out_of_memory(_raised(lambda: np.empty(too_big, dtype=np.uint8)))
    assert is_out_of_memory(_raised(lambda: torch.empty(too_big, dtype=torch.uint8)))
    assert not is_out_of_memory(_raised(lambda: torch.ones(2) @ torch.ones(3)))
    assert not is_out_of_memory(ValueError("batch size 0; must be > 0"))


def test_tensorflow_failed_allocation_is_out_of_memory():
    import tensorflow as tf

    error = _raised(lambda: tf.zeros((2**50,), dtype=tf.uint8).numpy())
    assert type(error).__name__ == "ResourceExhaustedError", repr(error)
    assert is_out_of_memory(error)


# ----------------------------------------------------------------------------- corrupt artefacts


def crafted_row(run_id: str, seed: int = 0) -> Row:
    from tests.test_compare import make_row

    return Row(**{**make_row(seed=seed).to_dict(), "run_id": run_id})


def test_report_skips_unreadable_row_files_naming_each_and_lists_them(tmp_path):
    from tests.report_rows import crafted_rows

    results = tmp_path / "results"
    for row in crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",)):
        write_row(results, row)
    (results / "rows" / "truncated.json").write_text('{"run_id": "trunc')
    other = {**crafted_row("other-schema", seed=1).to_dict(), "schema_version": 2}
    (results / "rows" / "other-schema.json").write_text(json.dumps(other))
    done = run_cli("report", str(results))
    assert done.returncode == 0, done.stderr[-2000:]
    warnings_said = done.stderr.strip().splitlines()
    assert len(warnings_said) == 2, done.stderr
    assert all(w.startswith("python -m bench report: warning: skipped ") for w in warnings_said)
    assert f"{results / 'rows' / 'other-schema.json'}: schema_version 2" in warnings_said[0]
    assert f"{results / 'rows' / 'truncated.json'}: not a readable row" in warnings_said[1]
    html = (results / "report.html").read_text()
    assert "unreadable files skipped (2)" in html
    assert 'data-implementation="' in html  # the readable row made its report


@pytest.mark.parametrize(
    ("bad_file", "text", "expected"),
    [
        ("truncated.json", '{"run_id": "trunc', "truncated.json: not a readable row"),
        ("v2.json", "schema 2", "v2.json: schema_version 2; this ganbench reads version 1"),
    ],
    ids=["truncated", "other-schema"],
)
def test_compare_stops_on_an_unreadable_row_naming_the_file(tmp_path, bad_file, text, expected):
    baseline, current = tmp_path / "baseline", tmp_path / "current"
    for folder in (baseline, current):
        write_row(folder, crafted_row("vanilla-ok"))
    if text == "schema 2":
        text = json.dumps({**crafted_row("v2", seed=1).to_dict(), "schema_version": 2})
    (current / "rows" / bad_file).write_text(text)
    done = run_cli("compare", str(baseline), str(current))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], done.stderr


def test_a_row_whose_run_id_would_leave_the_results_folder_is_refused(tmp_path):
    from bench.results import ResultsError

    results = tmp_path / "results"
    for run_id in ("../escaped", "/tmp/absolute", ".hidden", "a/../../b"):
        with pytest.raises(ResultsError, match="is not a plain file name"):
            write_row(results, crafted_row(run_id))
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == []


# ----------------------------------------------------------------------------- no network

SITECUSTOMIZE = '''\
"""Refuses every connection that leaves this machine, in every Python process that starts
with this folder on PYTHONPATH, and logs the attempts (tests/test_reliability.py)."""
import errno
import ipaddress
import os
import socket

_LOG = os.environ["GANBENCH_TEST_NETWORK_LOG"]


def _log(line):
    try:
        with open("/proc/self/cmdline", "rb") as stream:
            command = stream.read().replace(b"\\0", b" ").decode(errors="replace").strip()
    except OSError:
        command = "?"
    with open(_LOG, "a") as stream:
        stream.write(f"{os.getpid()} {line} | {command}\\n")


def _local(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("", "localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what, host):
    _log(f"blocked {what} {host}")
    raise OSError(errno.ENETUNREACH, f"network blocked at test time ({what} {host})")


_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_getaddrinfo, _gethostbyname = socket.getaddrinfo, socket.gethostbyname


def _connect_checked(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse("connect", address[0])
    return _connect(self, address)


def _connect_ex_checked(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse("connect", address[0])
    return _connect_ex(self, address)


def _getaddrinfo_checked(host, *args, **kwargs):
    if not _local(host):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


def _gethostbyname_checked(host):
    if not _local(host):
        _refuse("gethostbyname", host)
    return _gethostbyname(host)


socket.socket.connect = _connect_checked
socket.socket.connect_ex = _connect_ex_checked
socket.getaddrinfo = _getaddrinfo_checked
socket.gethostbyname = _gethostbyname_checked
_log("armed")
'''


def network_namespace_prefix() -> list[str]:
    """`unshare -n` (a network namespace with no way out) where root may make one; else []."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    return ["unshare", "-n"] if probe.returncode == 0 else []


@pytest.mark.slow
def test_a_suite_of_both_frameworks_passes_with_outgoing_connections_blocked(tmp_path):
    blocker = tmp_path / "netblock"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "network.log"
    env = cli_environment()
    env.pop("GANBENCH_OFFLINE")  # the harness would fetch the Inception weights: let it try
    env.update(
        PYTHONPATH=os.pathsep.join([str(blocker), str(REPO_ROOT)]),
        GANBENCH_TEST_NETWORK_LOG=str(log),
        TORCH_HOME=str(tmp_path / "torch-home"),  # no Inception weights file there
    )
    probe = subprocess.run(
        [sys.executable, "-c", "import socket; socket.create_connection(('192.0.2.1', 80), 5)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode != 0 and "network blocked at test time" in probe.stderr
    suite = write_suite(
        tmp_path,
        "offline",
        variants=["vanilla", "dcgan"],
        frameworks=["torch", "tf"],
        steps=30,
        inception_fid=True,
    )
    results = tmp_path / "out"
    done = run_cli(
        *("run", "--suite", str(suite), "--out", str(results), "--jobs", "2"),
        env=env,
        prefix=network_namespace_prefix(),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rows(results)
    assert sorted((row.variant, row.framework, row.status) for row in rows) == [
        ("dcgan", "tf", "ok"),
        ("dcgan", "torch", "ok"),
        ("vanilla", "tf", "ok"),
        ("vanilla", "torch", "ok"),
    ]
    for row in rows:
        assert row.fid_inception is None and "not found" in row.fid_inception_reason
        assert row.fid_classifier is not None and row.parzen_ll is not None
    entries = log.read_text().splitlines()
    workers = {line.split()[0] for line in entries if "armed" in line and "bench.worker" in line}
    assert len(workers) == 4  # the blocker was in every worker process
    blocked = [line for line in entries if " blocked " in line]
    assert blocked, "the driver's attempt to fetch the Inception weights was not seen"
    assert all("bench.worker" not in line for line in blocked), blocked  # workers never try
    assert "network blocked at test time" in done.stderr  # the note: fid_inception is null
