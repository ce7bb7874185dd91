"""What the executors do without an engine: options, missing extras, time limits,
progress lines, where a row ran and the report's mix warning.

The engines themselves run in tests/test_cluster_ray.py and tests/test_cluster_slurm.py.
"""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from bench.config import ConfigError
from bench.executors.progress import ProgressBoard
from bench.executors.slurm import parse_time_limit
from reports.aggregate import feature_space
from reports.html import environment_facts, mix_warning
from tests.conftest import run_cli, run_python
from tests.report_rows import crafted_rows


def run_without(module: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI in a process where `import MODULE` fails, as where it is not installed."""
    code = (
        f"import sys; sys.modules[{module!r}] = None; from bench.__main__ import main; "
        f"sys.exit(main({list(args)!r}))"
    )
    return run_python("-c", code, timeout_s=120)


@pytest.mark.parametrize(
    "module,executor,extra",
    [("ray", "ray", "ray==2.60.0"), ("submitit", "slurm", "submitit==1.5.4")],
)
def test_an_engine_not_installed_is_one_line_naming_the_extra(tmp_path, module, executor, extra):
    done = run_without(module, "run", "--out", str(tmp_path), "--executor", executor)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"python -m bench run: error: --executor {executor}: {module} is not installed; "
        f"pip install -e '.[{executor}]' (the {executor} extra: {extra})"
    ]
    assert not (tmp_path / "rows").exists()


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--address", "127.0.0.1:1"], "--address is an option of --executor ray"),
        (["--partition", "gpu"], "--partition is an option of --executor slurm"),
        (["--executor", "ray", "--time", "1:00:00"], "--time is an option of --executor slurm"),
        (["--executor", "ray", "--jobs", "4"], "--jobs does not apply to --executor ray"),
        (["--executor", "cloud"], "invalid choice: 'cloud'"),
    ],
)
def test_engine_options_belong_to_their_engine(tmp_path, args, expected):
    done = run_cli("run", "--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


def test_a_negative_max_retries_is_bad_input(tmp_path):
    suite = tmp_path / "retries.toml"
    suite.write_text("max_retries = -1\n")
    done = run_cli("run", "--suite", str(suite), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("max_retries = -1; must be >= 0")


@pytest.mark.parametrize(
    "text,minutes",
    [("30", 30), ("1:30", 2), ("01:00:00", 60), ("2:00:01", 121), ("1-00:00:00", 1440)],
)
def test_slurm_time_limits_read_as_slurm_writes_them(text, minutes):
    assert parse_time_limit(text) == minutes


@pytest.mark.parametrize("text", ["an hour", "1:2:3:4", "0:00:00", ""])
def test_a_bad_slurm_time_limit_is_bad_input(text):
    with pytest.raises(ConfigError, match="--time"):
        parse_time_limit(text)


def test_progress_says_where_each_run_is_and_what_is_left():
    lines: list[str] = []
    board = ProgressBoard("ray", write=lines.append)
    board.submitted_runs(3)
    board.running_now({"a": "f" * 56, "b": "e" * 56})
    board.running_now({"a": "f" * 56, "b": "e" * 56})  # no change, no line
    row = dataclasses.replace(
        crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",))[0],
        run_id="a",
        status="failed",
        node="f" * 56,
        hostname="vm",
        attempts=2,
    )
    board.row_arrived(row)
    text = [line.split(": ", 1)[1] for line in lines]
    assert text == [
        "0 of 3 done (0 not ok), 2 running (eeeeeeee: 1, ffffffff: 1), 1 pending",
        "a: failed on node ffffffff (vm), attempt 2",
        "1 of 3 done (1 not ok), 1 running (eeeeeeee: 1), 1 pending",
    ]
    assert all(line.startswith("ray +") for line in lines)


def test_the_report_says_where_runs_ran_and_warns_when_libraries_or_devices_mix():
    rows = crafted_rows(seeds=(0, 1), variants=("vanilla",), with_failures=False)
    assert mix_warning(rows) is None
    rows = [
        dataclasses.replace(row, engine="ray", node=(f"{i:x}" * 56)[:56], hostname="gpu1")
        for i, row in enumerate(rows)
    ]
    facts = dict(environment_facts(rows, feature_space(rows), ""))
    assert "ray node 00000000 (gpu1) (1 runs)" in facts["ran on"]
    newer = dataclasses.replace(
        rows[0], versions={"torch": "2.15.0"}, device="cuda", device_name="NVIDIA H100"
    )
    warning = mix_warning([*rows[1:], newer])
    assert "library versions (torch 2.14.1 / 2.15.0)" in warning
    assert "device kinds (Intel(R) Xeon(R) CPU @ 2.20GHz (cpu), NVIDIA H100 (cuda))" in warning
    # a run that failed is not on the leaderboard, so it mixes nothing
    failed = dataclasses.replace(newer, status="failed")
    assert mix_warning([*rows[1:], failed]) is None
