"""10,000 rows: `report` and `compare` each finish in under 30 s, with memory bounded.

These are pytest-benchmark benchmarks, not timed tests: `tox -e test` skips them
(--benchmark-skip in pytest's addopts); run them with

    pytest tests/test_scale.py --benchmark-only

Each round runs the command as a user does, in a fresh process (start-up and imports
included), and that process reports its own peak resident memory. The folders are made
by the generator script, tests/make_rows.py: ten implementations x 500 seeds x two
device kinds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_python

ROWS = 10_000
MAKE_ROWS = ("-m", "tests.make_rows")
TIME_LIMIT_S = 30.0
MEMORY_LIMIT_MB = 1_500.0  # the whole process: Python, pandas, matplotlib and the rows
# Runs `python -m bench ARGS`, then writes its own peak RSS (MiB) to the file named first.
MEASURED = (
    "import json, resource, sys\n"
    "from bench.__main__ import main\n"
    "status = main(sys.argv[2:])\n"
    "peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "open(sys.argv[1], 'w').write(json.dumps({'status': status, 'peak_mb': peak_mb}))\n"
)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """A baseline and a current results folder of ROWS rows each (other noise)."""
    root = tmp_path_factory.mktemp("scale")
    for name, rng_seed in (("baseline", 0), ("current", 1)):
        made = run_python(
            *MAKE_ROWS, str(root / name), "--rows", str(ROWS), "--rng-seed", str(rng_seed)
        )
        assert made.returncode == 0, made.stderr[-2000:]
        assert len(list((root / name / "rows").glob("*.json"))) == ROWS
    return root / "baseline", root / "current"


def measured(tmp_path: Path, *args: str) -> dict:
    """`python -m bench ARGS` in a fresh process: its exit status and peak memory."""
    result_file = tmp_path / "measured.json"
    done = run_python(
        "-c",
        MEASURED,
        str(result_file),
        *args,
    )
    assert result_file.is_file(), done.stderr[-2000:]
    return {**json.loads(result_file.read_text()), "stdout": done.stdout, "stderr": done.stderr}


def check(benchmark, result: dict) -> None:
    elapsed_s = benchmark.stats.stats.max
    benchmark.extra_info.update(rows=ROWS, peak_rss_mb=round(result["peak_mb"]))
    assert elapsed_s < TIME_LIMIT_S, f"{ROWS} rows took {elapsed_s:.1f} s"
    assert result["peak_mb"] < MEMORY_LIMIT_MB, f"peak RSS {result['peak_mb']:.0f} MiB"


@pytest.mark.benchmark
def test_report_of_10000_rows_is_fast_and_bounded(benchmark, folders, tmp_path):
    _, current = folders
    output = tmp_path / "report.html"
    result = benchmark.pedantic(
        measured, args=(tmp_path, "report", str(current), "-o", str(output)), rounds=1
    )
    assert result["status"] == 0, result["stderr"][-2000:]
    check(benchmark, result)
    assert output.stat().st_size < 8_000_000
    assert f"Download all {ROWS:,} rows as CSV" in output.read_text()


@pytest.mark.benchmark
def test_compare_of_10000_rows_is_fast_and_bounded(benchmark, folders, tmp_path):
    baseline, current = folders
    result = benchmark.pedantic(
        measured, args=(tmp_path, "compare", str(baseline), str(current)), rounds=1
    )
    # Exit 1: three crafted runs did not finish ok, on each device kind: 6 "failed".
    assert result["status"] == 1, result["stderr"][-2000:]
    check(benchmark, result)
    summary = result["stdout"].splitlines()[-1]
    assert summary.startswith("REGRESSION: 6 failed, 14 same"), summary
