"""How often the micro gate (`tox -e micro`) fails with no code change, per threshold.

    PYTHONPATH=. python tests/benchmarks/micro_false_alarms.py [--runs N] [--threads T]

The gate compares each `train_step` median with the last saved run's and fails when
one is more than X% slower (pytest-benchmark's --benchmark-compare-fail=median:X%). Here
the same tree is benchmarked N times in a row, each run a fresh pytest process as `tox -e
micro` starts one, and every earlier run is taken as the saved one for every later run
(N(N-1)/2 pairs). Per threshold X it counts the benchmarks past X (a false alarm of one
comparison) and the pairs where any of the ten is (a red gate, what the developer sees).
Writes reports/micro_false_alarms.json; tests/test_micro_gate.py holds tox.ini's threshold
(or its absence) to it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.provenance import utc_now

REPO = Path(__file__).resolve().parents[2]
OUT_JSON = REPO / "reports" / "micro_false_alarms.json"
THRESHOLDS_PCT = (10, 15, 20, 25, 30, 35, 40, 50)


def thread_env(threads: int) -> dict[str, str]:
    """The thread pins tox -e micro sets (tox.ini), at `threads`."""
    count = str(threads)
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "OMP_NUM_THREADS": count,
        "MKL_NUM_THREADS": count,
        "OPENBLAS_NUM_THREADS": count,
        "TF_NUM_INTRAOP_THREADS": count,
        "TF_NUM_INTEROP_THREADS": "1",
    }


def one_run(threads: int, out: Path) -> dict[str, float]:
    """One `pytest tests/benchmarks --benchmark-only` process: median seconds per benchmark."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "tests/benchmarks/test_train_step.py",
            "--benchmark-only",
            f"--benchmark-json={out}",
        ],
        cwd=REPO,
        env=thread_env(threads),
        check=True,
        capture_output=True,
    )
    document = json.loads(out.read_text())
    return {entry["name"]: entry["stats"]["median"] for entry in document["benchmarks"]}


def false_alarms(medians: list[dict[str, float]]) -> list[dict]:
    """Per threshold: comparisons past it, and pairs of runs (saved, later) with any past it."""
    pairs = list(itertools.combinations(range(len(medians)), 2))
    names = sorted(medians[0])
    slowdowns = np.array(
        [[medians[later][n] / medians[saved][n] - 1.0 for n in names] for saved, later in pairs]
    )
    return [
        {
            "threshold_pct": threshold,
            "comparisons": int(slowdowns.size),
            "comparisons_failed": int((slowdowns > threshold / 100).sum()),
            "runs_compared": len(pairs),
            "runs_failed": int((slowdowns > threshold / 100).any(axis=1).sum()),
        }
        for threshold in THRESHOLDS_PCT
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    medians = []
    started = utc_now()
    with tempfile.TemporaryDirectory(prefix="micro-false-alarms-") as folder:
        for index in range(args.runs):
            medians.append(one_run(args.threads, Path(folder) / f"run{index}.json"))
            print(f"run {index}: {json.dumps(medians[-1])}", flush=True)
    document = {
        "what": "tests/benchmarks/test_train_step.py run again and again with no code change; "
        "every earlier run taken as the saved run of every later one",
        "threads": args.threads,
        "started_utc": started,
        "loadavg_at_end": Path("/proc/loadavg").read_text().split()[0],
        "median_s": medians,
        "false_alarms": false_alarms(medians),
    }
    OUT_JSON.write_text(json.dumps(document, indent=1) + "\n")
    for line in document["false_alarms"]:
        print(json.dumps(line))


if __name__ == "__main__":
    main()
