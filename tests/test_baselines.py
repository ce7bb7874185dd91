"""The committed baselines under reports/baselines/ stay usable by `tox -e compare`.

A baseline is a frozen results file: these tests hold it against the suite it was made
from and the code as it is now, so that a change to the suite or to a model that would
make `compare` say `missing`, `new` or `changed` for every run fails here first, with
what to refresh.
"""

from __future__ import annotations

import math

import pytest

from bench.baseline_file import load_rows
from bench.compare import Identity, compare_rows
from bench.config import load_suite
from bench.flops import train_step_flops
from bench.record import synthetic_row
from bench.results import Row
from implementations.spec import make_spec, trainable_count
from tests.conftest import REPO_ROOT

CPU_BASELINE = REPO_ROOT / "reports" / "baselines" / "cpu.json"
REFRESH = (
    "refresh it on purpose: python -m bench run --suite smoke --out results/baseline --rerun "
    "&& python -m bench save-baseline results/baseline reports/baselines/cpu.json"
)


def identity_and_seed(row: Row) -> tuple:
    """What compare matches rows by, and the seed: one row per smoke run."""
    return (Identity.of(row), row.seed)


@pytest.fixture(scope="module")
def cpu_baseline() -> list[Row]:
    return load_rows(CPU_BASELINE)


def test_the_cpu_baseline_holds_one_ok_row_per_smoke_run(cpu_baseline):
    specs = load_suite("smoke").run_specs()
    expected = [identity_and_seed(synthetic_row(spec, "ok", "")) for spec in specs]
    found = [identity_and_seed(row) for row in cpu_baseline]
    assert sorted(found) == sorted(expected), REFRESH
    assert {row.status for row in cpu_baseline} == {"ok"}
    assert {row.suite for row in cpu_baseline} == {"smoke"}


def test_the_cpu_baseline_trained_what_the_smoke_suite_trains_now(cpu_baseline):
    # quality is compared only between runs of the same steps and evaluation samples
    by_run_id = {spec.run_id: spec for spec in load_suite("smoke").run_specs()}
    for row in cpu_baseline:
        spec = by_run_id.get(row.run_id)
        assert spec is not None, f"{row.run_id} is not a smoke run now; {REFRESH}"
        assert (row.steps, row.eval_samples, row.threads) == (
            spec.settings.steps,
            spec.settings.eval_samples,
            spec.settings.threads,
        ), f"{row.run_id}; {REFRESH}"


def test_every_cpu_baseline_row_carries_the_figures_compare_reads(cpu_baseline):
    for row in cpu_baseline:
        # CPU throughput is compared relative to the reference matmul, window by window
        assert row.reference_gflop_per_s and row.reference_gflop_per_s > 0, row.run_id
        assert row.images_per_s_windows and len(row.images_per_s_windows) >= 5, row.run_id
        assert all(math.isfinite(w) and w > 0 for w in row.images_per_s_windows), row.run_id
        assert row.fid_classifier is not None and math.isfinite(row.fid_classifier)
        assert row.parzen_ll is not None and math.isfinite(row.parzen_ll)
        assert row.sample_grid_png is None  # save-baseline leaves the grids out


def test_the_cpu_baseline_counts_the_parameters_and_flops_of_the_models_now(cpu_baseline, digits):
    # compare gates these exactly: a stale baseline would call every run `changed`
    counted: dict[tuple[str, str, str, int], tuple[int, int, int]] = {}
    for row in cpu_baseline:
        model = (row.variant, row.framework, row.spec_preset, row.batch_size)  # counted per twin
        if model not in counted:
            spec = make_spec(row.variant, digits.image_shape, digits.num_classes, row.spec_preset)
            counted[model] = (
                trainable_count(spec, "generator"),
                trainable_count(spec, "discriminator"),
                train_step_flops(spec, row.batch_size, row.seed, row.framework),
            )
        recorded = (row.params_generator, row.params_discriminator, row.flops_per_step)
        assert recorded == counted[model], f"{row.run_id}: {REFRESH}"


def test_the_cpu_baseline_compared_with_itself_is_no_regression(cpu_baseline):
    comparison = compare_rows(cpu_baseline, cpu_baseline)
    assert not comparison.regressed
    assert comparison.counts() == {"same": len(cpu_baseline)}
