"""One framework is enough: a machine without TensorFlow (and without pytorch-fid) runs,
reports and compares torch suites, and says in one line what it cannot do.

Each test runs `python -m bench` in a fresh process where tensorflow, keras and
pytorch_fid cannot be imported (tests/hide_modules/sitecustomize.py), as on a GPU box
that has only its own torch. Workers inherit the same environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.results import read_rows
from tests.conftest import REPO_ROOT, cli_environment

HIDE_MODULES = REPO_ROOT / "tests" / "hide_modules"
HIDDEN = "tensorflow,keras,pytorch_fid"
TWO_FRAMEWORK_SUITE = """\
description = "vanilla in both frameworks, tiny, CPU"
variants = ["vanilla"]
frameworks = ["torch", "tf"]
steps = 30
warmup_steps = 5
timing_windows = 5
spec_preset = "tiny"
threads = 1
eval_samples = 200
inception_fid = true
"""


def run_without_tensorflow(*args: str, cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` where tensorflow, keras and pytorch_fid cannot be imported."""
    env = cli_environment()
    env["PYTHONPATH"] = os.pathsep.join([str(HIDE_MODULES), str(REPO_ROOT)])
    env["GANBENCH_TEST_HIDDEN_MODULES"] = HIDDEN
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_hook_makes_tensorflow_unimportable_like_a_missing_package():
    env = cli_environment()
    env["PYTHONPATH"] = os.pathsep.join([str(HIDE_MODULES), str(REPO_ROOT)])
    env["GANBENCH_TEST_HIDDEN_MODULES"] = HIDDEN
    probe = (
        "import importlib.util, json\n"
        "from implementations.registry import framework_installed\n"
        "try:\n    import tensorflow\n    imported = True\n"
        "except ModuleNotFoundError:\n    imported = False\n"
        "print(json.dumps([imported, importlib.util.find_spec('tensorflow') is None,\n"
        "    framework_installed('tf'), framework_installed('torch')]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == [False, True, False, True]


@pytest.mark.slow
def test_a_torch_only_machine_runs_reports_and_compares_a_torch_suite(tmp_path):
    suite = tmp_path / "both.toml"
    suite.write_text(TWO_FRAMEWORK_SUITE)
    out = tmp_path / "out"

    listed = run_without_tensorflow("list")
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "vanilla/tf" in listed.stdout  # registered, even where it cannot run
    env = run_without_tensorflow("env")
    assert env.returncode == 0, env.stderr[-2000:]
    assert "tensorflow: not installed (pip install -e '.[tf]')" in env.stdout

    done = run_without_tensorflow(
        "run", "--suite", str(suite), "--only", "torch", "--out", str(out)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = read_rows(out)
    assert [(row.framework, row.status) for row in rows] == [("torch", "ok")]
    row = rows[0]
    # pytorch-fid missing: the Inception FID is null and says why; the rest is measured.
    assert row.fid_inception is None
    assert row.metric_notes["fid_inception"].startswith(
        "the Inception FID needs pytorch-fid, which cannot be imported here (No module named "
    )
    assert row.fid_classifier is not None and row.images_per_s is not None
    assert row.optimizer_detail == "torch.optim.Adam (for-loop), eager"

    report = run_without_tensorflow("report", str(out), "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr[-2000:]
    assert (tmp_path / "r.html").stat().st_size > 0
    baseline = tmp_path / "baseline.json"
    saved = run_without_tensorflow("save-baseline", str(out), str(baseline))
    assert saved.returncode == 0, saved.stderr[-2000:]
    compared = run_without_tensorflow("compare", str(baseline), str(out))
    assert compared.returncode == 0, compared.stdout[-2000:] + compared.stderr[-2000:]


def test_a_suite_with_tf_rows_says_tensorflow_is_not_installed_in_one_line(tmp_path):
    suite = tmp_path / "both.toml"
    suite.write_text(TWO_FRAMEWORK_SUITE)
    out = tmp_path / "out"
    done = run_without_tensorflow("run", "--suite", str(suite), "--out", str(out))
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == [
        "python -m bench run: error: tensorflow is not installed: this suite asks for tf "
        "rows; install it (pip install -e '.[tf]'), or run only torch with --only torch"
    ]
    assert not out.exists()  # refused before the results folder was made


def test_gpu_check_says_tensorflow_is_not_installed_and_which_framework_can_run():
    done = run_without_tensorflow("gpu-check")
    lines = done.stdout.splitlines()
    assert "tensorflow: not installed (pip install -e '.[tf]'): cannot run" in lines
    if torch.cuda.is_available():
        assert done.returncode == 0, done.stderr
        assert lines[-2:] == ["installed: torch", "can run: torch"]
    else:
        assert done.returncode == 2
        assert lines[-2:] == ["installed: torch", "can run: none"]
        assert lines[0].startswith(f"torch {torch.__version__} (CUDA build: ")
        assert lines[0].endswith(": no GPU: cannot run")
        # Only the installed framework is blamed for the missing GPU.
        [error] = done.stderr.strip().splitlines()
        assert error.startswith("python -m bench gpu-check: error: no GPU visible to torch (")
        assert "tensorflow" not in error
