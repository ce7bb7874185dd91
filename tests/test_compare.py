"""The regression check: verdicts on crafted rows, the command line's exit codes, and two
real runs (one of the same code, one deliberately slowed) compared end to end.

Crafted rows carry ten timing windows spread evenly around their median, so
a row's window IQR is exactly `window_iqr_pct` percent of its median
(the 25th and 75th percentiles of linspace(-1, 1, 10) are -0.5 and +0.5).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import main
from bench.baseline_file import load_rows
from bench.catalogue import IMAGES_PER_S, IMAGES_PER_S_RELATIVE, Kind, of_kind
from bench.compare import (
    VERDICTS,
    CompareError,
    Verdict,
    compare_rows,
    format_comparison,
    iqr,
)
from bench.results import Row, write_row
from tests.conftest import REPO_ROOT, cli_environment, run_cli

CPU_NAME = "Test CPU @ 2.0GHz"
WORK_FIELDS = [metric.name for metric in of_kind(Kind.WORK)]


def make_row(
    variant: str = "vanilla",
    framework: str = "torch",
    *,
    device: str = "cpu",
    device_name: str = CPU_NAME,
    seed: int = 0,
    images_per_s: float = 1000.0,
    window_iqr_pct: float = 2.0,
    reference_gflop_per_s: float | None = 50.0,
    **fields,
) -> Row:
    """A finished run with evenly spread windows; any Row field can be overridden."""
    offsets = np.linspace(-1.0, 1.0, 10) * window_iqr_pct / 100.0
    windows = [images_per_s * (1.0 + offset) for offset in offsets]
    relative = images_per_s / reference_gflop_per_s if reference_gflop_per_s else None
    values = {
        "run_id": f"{variant}-{framework}-{device}-s{seed}",
        "suite": "crafted",
        "variant": variant,
        "framework": framework,
        "dataset": "digits",
        "seed": seed,
        "batch_size": 64,
        "steps": 300,
        "device": device,
        "precision": "fp32",
        "compile": "default",
        "spec_preset": "paper",
        "status": "ok",
        "device_name": device_name,
        "images_per_s": images_per_s,
        "images_per_s_windows": windows,
        "reference_gflop_per_s": reference_gflop_per_s,
        "images_per_s_relative": relative,
        "flops_per_step": 1_234_567_890,
        "params_generator": 2_503_984,
        "params_discriminator": 533_505,
        "eval_samples": 10_000,
        **fields,
    }
    return Row(**values)


def gpu_row(**fields) -> Row:
    return make_row(**{"device": "cuda", "device_name": "NVIDIA H100", **fields})


def verdict(baseline: list[Row], current: list[Row], **options) -> str:
    comparison = compare_rows(baseline, current, **options)
    assert len(comparison.identities) == 1
    return comparison.identities[0].verdict


def test_crafted_windows_have_the_stated_iqr():
    row = make_row(images_per_s=1000.0, window_iqr_pct=4.0)
    assert iqr(row.images_per_s_windows) == pytest.approx(40.0)
    assert np.median(row.images_per_s_windows) == pytest.approx(1000.0)


def test_gpu_slowdown_of_20pct_outside_the_window_spread_is_slower():
    comparison = compare_rows([gpu_row(images_per_s=1000.0)], [gpu_row(images_per_s=800.0)])
    check = comparison.identities[0].check("throughput")
    assert comparison.identities[0].verdict == Verdict.SLOWER and comparison.regressed
    assert check.change_pct == pytest.approx(-20.0)
    assert check.threshold == 5.0  # the GPU default
    assert (check.figure, check.note) == (IMAGES_PER_S.name, "one device name")


def test_default_tolerance_comes_from_the_window_spread_of_both_runs():
    # Windows 2% IQR: log IQR 0.020 a side -> sigma 0.0148, both 0.0210; z 1.96 x 0.0210 =
    # 4.2%, under the 5% floor. Windows 20% IQR: sigma 0.149 a side, 0.210 both -> a drop of
    # 1 - exp(-0.412) = 33.8% (a rise of 51%: the bounds are symmetric in logs).
    quiet = compare_rows([make_row(images_per_s=1000.0)], [make_row(images_per_s=800.0)])
    check = quiet.identities[0].check("throughput")
    assert quiet.identities[0].verdict == Verdict.SLOWER
    assert check.threshold == 5.0 and check.detectable_pct == pytest.approx(5.7051, abs=1e-4)
    noisy = compare_rows(
        [make_row(images_per_s=1000.0, window_iqr_pct=20.0)],
        [make_row(images_per_s=700.0, window_iqr_pct=20.0)],
    )
    check = noisy.identities[0].check("throughput")
    assert noisy.identities[0].verdict == Verdict.SAME
    assert check.threshold == pytest.approx(33.7987, abs=1e-4)


def test_3pct_wobble_inside_the_window_spread_is_same_even_under_a_1pct_tolerance():
    noisy = verdict(
        [gpu_row(images_per_s=1000.0, window_iqr_pct=10.0)],
        [gpu_row(images_per_s=970.0, window_iqr_pct=10.0)],
        max_slowdown_pct=1.0,
    )
    assert noisy == Verdict.SAME
    # The same wobble with tight windows is beyond both spreads: the spread rule decided.
    tight = verdict(
        [gpu_row(images_per_s=1000.0, window_iqr_pct=0.5)],
        [gpu_row(images_per_s=970.0, window_iqr_pct=0.5)],
        max_slowdown_pct=1.0,
    )
    assert tight == Verdict.SLOWER


def test_a_slowdown_inside_either_runs_spread_is_same():
    quiet_baseline = [gpu_row(images_per_s=1000.0, window_iqr_pct=1.0)]
    noisy_current = [gpu_row(images_per_s=800.0, window_iqr_pct=30.0)]  # IQR 240 > 200
    assert verdict(quiet_baseline, noisy_current) == Verdict.SAME
    noisy_baseline = [gpu_row(images_per_s=1000.0, window_iqr_pct=25.0)]  # IQR 250 > 200
    assert verdict(noisy_baseline, [gpu_row(images_per_s=800.0)]) == Verdict.SAME


def test_a_speedup_beyond_tolerance_and_spread_is_faster_and_no_regression():
    comparison = compare_rows([gpu_row(images_per_s=1000.0)], [gpu_row(images_per_s=1300.0)])
    assert comparison.identities[0].verdict == Verdict.FASTER
    assert not comparison.regressed


def test_changed_device_name_compares_the_relative_figure_and_says_so():
    baseline = [gpu_row(device_name="NVIDIA A100", images_per_s=1000.0, reference_gflop_per_s=1e4)]
    # Twice the images/s on a machine whose reference matmul is also twice as fast: same.
    same_speed = [gpu_row(images_per_s=2000.0, reference_gflop_per_s=2e4)]
    comparison = compare_rows(baseline, same_speed)
    entry = comparison.identities[0]
    assert entry.verdict == Verdict.SAME
    check = entry.check("throughput")
    assert (check.figure, check.note) == (IMAGES_PER_S_RELATIVE.name, "device names differ")
    text = format_comparison(comparison, "base", "now")
    assert IMAGES_PER_S_RELATIVE.name in text
    assert "device names differ: baseline NVIDIA A100; current NVIDIA H100" in text
    # More images/s, but on a machine four times as fast: relatively slower.
    slower = [gpu_row(images_per_s=2000.0, reference_gflop_per_s=4e4)]
    assert verdict(baseline, slower) == Verdict.SLOWER


def test_cpu_compares_the_relative_figure_even_on_one_device_name():
    # The whole process ran 40% slower (another job on the CPU): the matmul saw it too.
    baseline = [make_row(images_per_s=1000.0, reference_gflop_per_s=50.0)]
    busy = [make_row(images_per_s=600.0, reference_gflop_per_s=30.0)]
    comparison = compare_rows(baseline, busy)
    check = comparison.identities[0].check("throughput")
    assert comparison.identities[0].verdict == Verdict.SAME
    assert (check.figure, check.note) == (IMAGES_PER_S_RELATIVE.name, "cpu")
    assert check.baseline == pytest.approx(20.0) and check.current == pytest.approx(20.0)


def test_rows_without_the_reference_kernel_compare_absolute_and_say_why():
    baseline = [make_row(images_per_s=1000.0, reference_gflop_per_s=None)]
    current = [make_row(images_per_s=600.0, reference_gflop_per_s=None)]
    check = compare_rows(baseline, current).identities[0].check("throughput")
    assert check.verdict == Verdict.SLOWER
    assert check.figure == IMAGES_PER_S.name
    assert check.note == "cpu, but rows lack the reference kernel"


def test_baseline_rows_on_the_current_device_name_are_preferred():
    baseline = [
        gpu_row(device_name="NVIDIA A100", images_per_s=500.0),
        gpu_row(device_name="NVIDIA H100", images_per_s=1000.0, seed=1),
    ]
    entry = compare_rows(baseline, [gpu_row(images_per_s=1000.0)]).identities[0]
    assert entry.verdict == Verdict.SAME and entry.note == ""
    assert entry.check("throughput").figure == IMAGES_PER_S.name


def test_missing_and_new_rows_are_reported_and_are_not_regressions():
    baseline = [make_row("vanilla"), make_row("dcgan")]
    current = [make_row("vanilla"), make_row("lsgan")]
    comparison = compare_rows(baseline, current)
    assert comparison.verdict_of("dcgan/torch") == Verdict.MISSING
    assert comparison.verdict_of("lsgan/torch") == Verdict.NEW
    assert comparison.verdict_of("vanilla/torch") == Verdict.SAME
    assert not comparison.regressed
    text = format_comparison(comparison, "base", "now")
    assert "missing  dcgan/torch digits cpu fp32 default b64" in text
    assert "not in the current run" in text and "not in the baseline" in text
    assert text.splitlines()[-1] == "no regression: 1 same, 1 new, 1 missing"


@pytest.mark.parametrize("field", WORK_FIELDS)
def test_a_params_or_flops_change_is_caught_exactly(field):
    baseline = make_row()
    current = make_row(**{field: getattr(baseline, field) + 1})
    comparison = compare_rows([baseline], [current])
    entry = comparison.identities[0]
    assert entry.verdict == Verdict.CHANGED and comparison.regressed
    assert entry.check(field).baseline == getattr(baseline, field)
    assert f"{field} changed" in format_comparison(comparison, "base", "now")
    assert verdict([baseline], [make_row()]) == Verdict.SAME


def test_a_work_figure_missing_on_one_side_is_not_compared():
    entry = compare_rows([make_row(flops_per_step=None)], [make_row()]).identities[0]
    assert entry.verdict == Verdict.SAME
    assert entry.check("flops_per_step").verdict == Verdict.NOT_COMPARED


def seeds(values: list[float], metric: str, **fields) -> list[Row]:
    return [make_row(seed=i, **{metric: v}, **fields) for i, v in enumerate(values)]


def test_quality_worse_beyond_the_seed_spread_is_caught_and_within_it_is_not():
    # Baseline FIDs 20, 21, 22: mean 21, std 1. Threshold max(floor 1, 5% of 21 = 1.05,
    # 2 x pooled std 1) = 2: a mean of 25 is worse, a mean of 22.5 is within the spread.
    baseline = seeds([20.0, 21.0, 22.0], "fid_classifier")
    worse = compare_rows(baseline, seeds([24.0, 25.0, 26.0], "fid_classifier")).identities[0]
    assert worse.verdict == Verdict.WORSE
    assert worse.check("fid_classifier").threshold == pytest.approx(2.0)
    within = compare_rows(baseline, seeds([21.5, 22.5, 23.5], "fid_classifier")).identities[0]
    assert within.verdict == Verdict.SAME
    # The same 1.5 move without seed spread beats the 5% floor (1.05): the spread allowed it.
    flat = seeds([21.0, 21.0, 21.0], "fid_classifier")
    assert verdict(flat, seeds([22.5, 22.5, 22.5], "fid_classifier")) == Verdict.WORSE


@pytest.mark.parametrize(
    "metric,before,after,expected",
    [
        ("parzen_ll", 200.0, 180.0, Verdict.WORSE),  # higher log-likelihood is better
        ("parzen_ll", 200.0, 220.0, Verdict.BETTER),
        ("ssl_accuracy", 0.90, 0.80, Verdict.WORSE),
        ("kid_classifier", 0.010, 0.030, Verdict.WORSE),  # lower KID is better
        ("kid_classifier", 0.010, 0.0105, Verdict.SAME),  # under the 0.001 floor
        ("fid_classifier", 30.0, 20.0, Verdict.BETTER),
    ],
)
def test_quality_direction_follows_the_metric(metric, before, after, expected):
    assert verdict(seeds([before], metric), seeds([after], metric)) == expected


def test_quality_is_not_compared_across_different_training_lengths():
    baseline = seeds([20.0], "fid_classifier")
    longer = seeds([40.0], "fid_classifier", steps=40)
    entry = compare_rows(baseline, longer).identities[0]
    assert entry.verdict == Verdict.SAME
    assert entry.check("fid_classifier").verdict == Verdict.NOT_COMPARED


def test_a_current_run_that_did_not_finish_ok_is_failed():
    current = [make_row(), make_row(seed=1, status="diverged", error="non-finite loss at step 9")]
    comparison = compare_rows([make_row()], current)
    assert comparison.identities[0].verdict == Verdict.FAILED and comparison.regressed
    assert "seed 1 diverged: non-finite loss at step 9" in comparison.identities[0].note


def test_an_unsupported_combination_is_same_only_when_the_baseline_could_not_run_it_either():
    unsupported = make_row(status="unsupported", error="CUDA graphs: not in TensorFlow")
    assert verdict([make_row(status="unsupported")], [unsupported]) == Verdict.SAME
    assert verdict([make_row()], [unsupported]) == Verdict.FAILED


def test_verdict_never_improves_as_the_slowdown_grows():
    rank = {v: VERDICTS.index(v) for v in VERDICTS}  # lower index = worse
    for row_factory in (make_row, gpu_row):
        baseline = [row_factory(images_per_s=1000.0, window_iqr_pct=8.0)]
        seen = []
        for slowdown_pct in range(0, 91):
            current = [row_factory(images_per_s=1000.0 - 10 * slowdown_pct, window_iqr_pct=8.0)]
            seen.append(rank[verdict(baseline, current)])
        assert seen == sorted(seen, reverse=True), seen
        assert seen[0] == rank[Verdict.SAME] and seen[-1] == rank[Verdict.SLOWER]


def test_rows_that_match_nothing_are_bad_input():
    with pytest.raises(CompareError, match="no row of the current run matches"):
        compare_rows([make_row("vanilla")], [make_row("dcgan", device="cuda")])
    with pytest.raises(CompareError, match="baseline holds no rows"):
        compare_rows([], [make_row()])


# --- the command line: python -m bench compare / save-baseline ---------------------------


def results_folder(folder: Path, rows: list[Row]) -> Path:
    for row in rows:
        write_row(folder, row)
    return folder


def test_compare_exits_0_without_a_regression_and_prints_the_verdicts(tmp_path, capsys):
    baseline = results_folder(tmp_path / "a", [make_row(), make_row("dcgan")])
    current = results_folder(tmp_path / "b", [make_row(), make_row("dcgan")])
    assert main(["compare", str(baseline), str(current)]) == 0
    out = capsys.readouterr().out
    assert (
        "same     dcgan/torch digits cpu fp32 default b64    throughput +0.0%: "
        "images_per_s_relative (cpu) 20 -> 20, window IQR 0.4 | 0.4, tolerance 5% "
        "(from the noise; detectable 5.71%)"
    ) in out
    assert out.splitlines()[-1] == "no regression: 2 same"


def test_compare_exits_1_on_a_regression(tmp_path, capsys):
    baseline = results_folder(tmp_path / "a", [make_row(images_per_s=1000.0)])
    current = results_folder(tmp_path / "b", [make_row(images_per_s=500.0)])
    assert main(["compare", str(baseline), str(current)]) == 1
    out = capsys.readouterr().out
    assert "slower   vanilla/torch" in out and "throughput -50.0%" in out
    assert out.splitlines()[-1] == "REGRESSION: 1 slower"
    # A looser tolerance passes the same rows.
    assert main(["compare", str(baseline), str(current), "--max-slowdown", "60"]) == 0


def test_save_baseline_writes_a_file_that_compares_like_the_folder(tmp_path, capsys):
    folder = results_folder(tmp_path / "a", [make_row(sample_grid_png="iVBOR"), make_row("dcgan")])
    baseline_file = tmp_path / "baselines" / "cpu.json"
    assert main(["save-baseline", str(folder), str(baseline_file)]) == 0
    document = json.loads(baseline_file.read_text())
    assert document["schema_version"] == 1 and len(document["rows"]) == 2
    assert all(row["sample_grid_png"] is None for row in document["rows"])
    assert [r.run_id for r in load_rows(baseline_file)] == [r.run_id for r in load_rows(folder)]
    assert main(["compare", str(baseline_file), str(folder)]) == 0
    assert "no regression: 2 same" in capsys.readouterr().out


def write_baseline(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


BAD_COMPARE_INPUTS = [
    # (what the baseline is, what the one line must say)
    ("no such file", "missing.json: not a readable results folder or baseline"),
    ("not json", "garbage.json: not a readable results folder or baseline"),
    ("a list", 'not a baseline file; expected {"schema_version": 1, "rows": [...]}'),
    ("other schema", "schema_version 2; this ganbench reads version 1"),
    ("unknown key", "unknown keys ['comment']; allowed: schema_version, rows"),
    ("bad row", "rows[0]: unknown row fields ['speed']"),
    ("empty folder", "no rows/*.json; expected a results folder or a baseline"),
    ("nothing matches", "no row of the current run matches a baseline row by identity"),
]


@pytest.mark.parametrize(
    "case,expected", BAD_COMPARE_INPUTS, ids=[c for c, _ in BAD_COMPARE_INPUTS]
)
def test_compare_bad_input_is_one_line_with_exit_status_2(tmp_path, capsys, case, expected):
    current = results_folder(tmp_path / "current", [make_row()])
    row = make_row().to_dict()
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage.json").write_text("{not json")
    baselines = {
        "no such file": lambda: tmp_path / "missing.json",
        "not json": lambda: tmp_path / "garbage.json",
        "a list": lambda: write_baseline(tmp_path / "list.json", [row]),
        "other schema": lambda: write_baseline(
            tmp_path / "v2.json", {"schema_version": 2, "rows": [row]}
        ),
        "unknown key": lambda: write_baseline(
            tmp_path / "k.json", {"schema_version": 1, "rows": [row], "comment": "x"}
        ),
        "bad row": lambda: write_baseline(
            tmp_path / "r.json", {"schema_version": 1, "rows": [{**row, "speed": 1}]}
        ),
        "empty folder": lambda: tmp_path / "empty",
        "nothing matches": lambda: results_folder(tmp_path / "other", [make_row("dcgan")]),
    }
    assert main(["compare", str(baselines[case]()), str(current)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.err.startswith("python -m bench compare: error: ")
    assert expected in captured.err


@pytest.mark.parametrize(
    "option,expected",
    [
        (["--max-slowdown", "0"], "max slowdown 0.0%; must be > 0"),
        (["--max-quality-loss", "-1"], "max quality loss -1.0%; must be >= 0"),
    ],
)
def test_compare_bad_tolerance_is_one_line_with_exit_status_2(tmp_path, capsys, option, expected):
    folder = results_folder(tmp_path / "a", [make_row()])
    assert main(["compare", str(folder), str(folder), *option]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err


def test_compare_unparsable_tolerance_is_a_usage_error_with_exit_status_2(tmp_path, capsys):
    folder = results_folder(tmp_path / "a", [make_row()])
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", str(folder), str(folder), "--max-slowdown", "ten"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid float value: 'ten'" in err


def test_save_baseline_refuses_runs_that_did_not_finish_ok(tmp_path, capsys):
    folder = results_folder(tmp_path / "a", [make_row(), make_row("dcgan", status="failed")])
    assert main(["save-baseline", str(folder), str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err
    assert "1 rows not ok (first: dcgan-torch-cpu-s0 failed)" in err
    assert not (tmp_path / "b.json").exists()


def test_compare_does_not_import_a_framework():
    code = (
        "import sys, bench.compare, bench.__main__; "
        "print([m for m in ('torch', 'tensorflow') if m in sys.modules])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


# --- end to end: real runs in worker processes ------------------------------------------

# Tiny networks, one thread, a few evaluation samples: each run is seconds of training.
E2E_SUITE = """
dataset = "digits"
frameworks = ["torch"]
steps = 120
warmup_steps = 20
timing_windows = 10
spec_preset = "tiny"
threads = 1
eval_samples = 100
inception_fid = false
timeout_s = 300
"""


def run_twice(tmp_path: Path, variant: str, env_first: dict, env_second: dict) -> list[Path]:
    suite = tmp_path / "e2e.toml"
    suite.write_text(f'variants = ["{variant}"]\n{E2E_SUITE}')
    folders = []
    for index, extra in enumerate((env_first, env_second)):
        out = tmp_path / f"run{index}"
        env = {**cli_environment(), **extra}
        done = run_cli("run", "--suite", str(suite), "--out", str(out), env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        folders.append(out)
    return folders


def compare_cli(baseline: Path, current: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "compare", str(baseline), str(current), *options],
        cwd=REPO_ROOT,
        env=cli_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_two_runs_of_the_same_code_show_no_regression(tmp_path):
    first, second = run_twice(tmp_path, "vanilla", {}, {})
    # On this shared 2-core CPU two such runs were measured 41% apart in images/s and 74%
    # apart relative to the reference matmul (other jobs came and went between them). A 75%
    # tolerance (4x slower) leaves that noise room, so this pins the pipeline: same code ->
    # one identity matched, work unchanged, runs ok, exit 0. Detection at the default
    # tolerance is pinned by the slowed test below and the crafted-row tests above.
    done = compare_cli(first, second, "--max-slowdown", "75")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] in {"no regression: 1 same", "no regression: 1 faster"}, done.stdout
    verdict_line = next(line for line in lines if "vanilla/torch digits cpu" in line)
    assert verdict_line.split()[0] in {Verdict.SAME, Verdict.FASTER}
    assert f"{IMAGES_PER_S_RELATIVE.name} (cpu)" in verdict_line


@pytest.mark.slow
def test_a_deliberately_slowed_implementation_is_reported_slower(tmp_path):
    plugin = {"GANBENCH_PLUGINS": "tests.plugins.slowed"}
    # Tiny vanilla took ~15 ms a step here (1 thread, busy CPU); 50 ms more is ~4x slower,
    # beyond the 1.7x seen between two runs of the same code on this machine.
    unslowed, slowed = run_twice(
        tmp_path,
        "slowed",
        {**plugin, "GANBENCH_SLOWED_SLEEP_MS": "0"},
        {**plugin, "GANBENCH_SLOWED_SLEEP_MS": "50"},
    )
    done = compare_cli(unslowed, slowed)  # the default tolerance, from the noise
    assert done.returncode == 1, done.stdout + done.stderr
    assert any(line.startswith("slower   slowed/torch") for line in done.stdout.splitlines())
    assert done.stdout.splitlines()[-1] == "REGRESSION: 1 slower"
