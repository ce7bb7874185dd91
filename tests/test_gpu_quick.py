"""The gpu-quick suite and tools/gpu_quick.sh, checked on a CPU.

The suite must expand to the rows its file states (60 torch, 40 tf), with each
framework's own compile modes. The script is run as on a GPU box that has only torch
(tensorflow cannot be imported: tests/hide_modules), with --device cpu and a budget
too small for its suite: it must end inside the budget and leave the finished rows, a
report and a baseline of exactly those rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from bench.config import ConfigError, load_suite, suite_from_dict
from bench.results import read_rows
from implementations.registry import variants
from tests.conftest import REPO_ROOT, WAITING_GROUP, cli_environment

SCRIPT = REPO_ROOT / "tools" / "gpu_quick.sh"
HIDE_MODULES = REPO_ROOT / "tests" / "hide_modules"


def test_gpu_quick_expands_to_the_rows_its_file_states():
    specs = load_suite("gpu-quick").run_specs()
    # every registered variant (5 built in); per variant, torch: 2 batch sizes x 2 precisions
    # x 3 modes; tf: the same x 2 modes.
    n = len(variants())
    assert Counter(spec.framework for spec in specs) == {"torch": 12 * n, "tf": 8 * n}
    assert len({spec.run_id for spec in specs}) == 20 * n
    modes = {fw: {s.compile for s in specs if s.framework == fw} for fw in ("torch", "tf")}
    assert modes == {"torch": {"default", "compiled", "cudagraphs"}, "tf": {"default", "compiled"}}
    assert Counter(spec.variant for spec in specs) == {v: 20 for v in variants()}
    assert {(s.batch_size, s.precision) for s in specs} == {
        (b, p) for b in (512, 64) for p in ("bf16", "fp32")
    }
    assert {(s.seed, s.settings.device, s.settings.tf32, s.settings.steps) for s in specs} == {
        (0, "cuda", False, 200)
    }
    assert {(s.settings.eval_points, s.settings.eval_samples) for s in specs} == {(1, 2000)}
    assert not any(spec.settings.inception_fid for spec in specs)


def test_gpu_quick_runs_batch_512_in_bf16_first_within_a_variant():
    dcgan_torch = [
        (s.batch_size, s.precision, s.compile)
        for s in load_suite("gpu-quick").run_specs()
        if (s.variant, s.framework) == ("dcgan", "torch")
    ]
    assert dcgan_torch[:3] == [
        (512, "bf16", "default"),
        (512, "bf16", "compiled"),
        (512, "bf16", "cudagraphs"),
    ]


def test_framework_compile_modes_replace_the_modes_of_the_frameworks_it_names():
    suite = suite_from_dict(
        {
            "name": "modes",
            "variants": ["vanilla"],
            "compile_modes": ["default", "compiled"],
            "framework_compile_modes": {"tf": ["compiled"]},
        }
    )
    assert [(s.framework, s.compile) for s in suite.run_specs()] == [
        ("torch", "default"),
        ("torch", "compiled"),
        ("tf", "compiled"),
    ]


@pytest.mark.parametrize(
    ("modes", "message"),
    [
        ({"jax": ["default"]}, "framework_compile_modes: unknown value 'jax'; allowed: torch, tf"),
        (
            {"tf": ["xla"]},
            "framework_compile_modes.tf: unknown value 'xla'; allowed: default, compiled, "
            "cudagraphs",
        ),
        ({"tf": []}, "framework_compile_modes.tf = []; expected a non-empty list"),
        ({"tf": "default"}, "framework_compile_modes.tf = 'default'; expected a non-empty list"),
        (["default"], "framework_compile_modes = ['default']; expected dict"),
    ],
)
def test_a_bad_framework_compile_modes_is_one_error_naming_it(modes, message):
    with pytest.raises(ConfigError) as raised:
        suite_from_dict({"name": "bad", "framework_compile_modes": modes})
    assert message in str(raised.value)


# Two runs, so that the cut is not left to timing: dcgan/torch (the script's first pass)
# is small, faulty_hang (tests/plugins/faulty.py: torch vanilla that sleeps after 25 steps)
# never finishes, and waits for the cut without taking a CPU from the other tests.
TINY_SUITE = """\
description = "the script's mechanics on a CPU: a short run, then one that never ends"
variants = ["dcgan", "faulty_hang"]
frameworks = ["torch", "tf"]
compile_modes = ["default"]
framework_compile_modes = { tf = ["default"] }
device = "cuda"  # the script's --device cpu replaces it
steps = 30
warmup_steps = 5
timing_windows = 5
spec_preset = "tiny"
threads = 1
eval_samples = 200
inception_fid = false
"""
# What the budget must hold, measured on a quiet 2-core machine (2026-12-04): the
# environment, gpu-check and the dcgan pass, BEFORE_CUT_S; the baseline, report and
# table (three python processes), AFTER_CUT_S. Each bound is 10x its need.
BEFORE_CUT_S = 12  # measured: 4 s environment and gpu-check, 8 s the dcgan pass
AFTER_CUT_S = 5  # measured: baseline, report and table


@pytest.mark.slow
@pytest.mark.xdist_group(WAITING_GROUP)  # ~120 s of waiting for the cut
def test_gpu_quick_script_ends_inside_its_budget_with_rows_report_and_baseline(tmp_path):
    suite = tmp_path / "tiny.toml"
    suite.write_text(TINY_SUITE)
    out = tmp_path / "quick"
    reserve_s = 10 * AFTER_CUT_S
    budget_s = 10 * BEFORE_CUT_S + reserve_s
    env = cli_environment(plugins=True)
    env["PYTHONPATH"] = os.pathsep.join([str(HIDE_MODULES), str(REPO_ROOT)])
    env["GANBENCH_TEST_HIDDEN_MODULES"] = "tensorflow,keras"
    env["GANBENCH_REPORT_RESERVE_S"] = str(reserve_s)
    env["PYTHON"] = sys.executable  # the machine's own python: here, the test environment's
    arguments = ["--device", "cpu", "--suite", str(suite), "--", "--eval-samples", "100"]
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", str(SCRIPT), str(out), str(budget_s), *arguments],
        cwd=tmp_path,  # the script finds the repository itself
        env=env,
        capture_output=True,
        text=True,
        timeout=budget_s + 60,
    )
    elapsed_s = time.perf_counter() - started
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-4000:]
    assert elapsed_s <= budget_s, f"took {elapsed_s:.0f} s of {budget_s} s: {log[-3000:]}"
    assert "tensorflow: not installed" in log
    assert "frameworks that run here: torch\n" in log
    assert "budget reached: --only torch cut short, finished rows kept" in log
    [row] = read_rows(out / "results")  # the hanging run was cut: no row, nothing half-done
    assert (row.variant, row.framework, row.device, row.status) == ("dcgan", "torch", "cpu", "ok")
    assert (row.steps, row.eval_samples) == (30, 100)
    baseline = json.loads((out / "baseline.json").read_text())
    assert [r["run_id"] for r in baseline["rows"]] == [row.run_id]
    assert row.run_id in (out / "report.html").read_text()
    table = (out / "table.txt").read_text().splitlines()
    assert len(table) == 2 and table[1].split()[:2] == ["dcgan", "torch"]
    assert "done: 1 rows, cut short at the budget" in (out / "gpu_quick.log").read_text()


def test_gpu_quick_script_refuses_a_bad_budget_in_one_line(tmp_path):
    done = subprocess.run(
        ["bash", str(SCRIPT), str(tmp_path / "out"), "ten"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "gpu_quick.sh: error: BUDGET_S 'ten': expected whole seconds > 0"
    )
    assert not (tmp_path / "out").exists()
