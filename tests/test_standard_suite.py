"""The standard suite (`tox -e bench`): what it trains, and its wall time from its own costs.

Its training lengths were chosen on the validation split (tools/tune_standard.py; the
measurements are committed under reports/tuning/); the test split is read only by the
suite's own evaluations.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench.baseline_file import load_rows
from bench.config import RunSpec, load_suite
from bench.results import Row
from implementations import registry
from tests.conftest import REPO_ROOT

# the suite file's lengths and widths, per variant: (steps, spec preset)
STATED = {
    "vanilla": (1000, "paper"),
    "ssgan": (1000, "paper"),
    "conditional": (1500, "half"),
    "dcgan": (500, "half"),
    "lsgan": (600, "half"),
}
SEEDS = (0, 1, 2)
JOBS = 2  # tox -e bench runs the suite with --jobs 2
TARGET_S = 30 * 60
MEASURED_SUITE_S = 1595  # the run of reports/baselines/standard-cpu.json, end to end (26:35)
# Fixed costs of that run, read from its rows: the first run started 103 s after the command
# (the driver prepares the reference classifier and references), and the two job slots were
# busy 2 x 1,565 s for 2,800 s of rows' wall_s, so ~11 s a run went to starting a worker.
PREPARATION_S, WORKER_START_S = 103.0, 11.0


@pytest.fixture(scope="module")
def standard() -> list[RunSpec]:
    return load_suite("standard").run_specs()


def test_the_standard_suite_trains_every_implementation_on_three_seeds(standard):
    implementations = {(r.variant, r.framework) for r in registry.registrations()}
    assert len(implementations) == 10
    assert len(standard) == len(implementations) * len(SEEDS)
    assert {(s.variant, s.framework) for s in standard} == implementations
    assert Counter(s.seed for s in standard) == {seed: 10 for seed in SEEDS}
    assert len({s.run_id for s in standard}) == len(standard)


def test_the_standard_suite_trains_each_variant_for_its_stated_steps_and_widths(standard):
    assert set(STATED) == set(registry.variants())
    assert Counter((s.variant, s.settings.steps, s.settings.spec_preset) for s in standard) == {
        (variant, steps, preset): 6 for variant, (steps, preset) in STATED.items()
    }


def test_the_standard_suite_runs_on_the_embedded_digits_with_one_thread_per_run(standard):
    settings = {
        (s.dataset, s.batch_size, s.precision, s.compile, s.settings.device, s.settings.threads)
        for s in standard
    }
    assert settings == {("digits", 64, "fp32", "default", "cpu", 1)}
    assert {(s.settings.eval_points, s.settings.eval_samples) for s in standard} == {(3, 5_000)}
    assert not any(s.settings.inception_fid for s in standard)


def estimated_run_s(spec: RunSpec, measured: Row) -> float:
    """A run's wall seconds, from a run of the same implementation measured in this suite's
    own set-up (1 thread, 2 runs side by side): training scales with the steps, evaluation
    with the evaluation points, the rest (start-up, model, FLOPs) stays."""
    settings = spec.settings
    other_s = measured.wall_s - measured.train_wall_s - measured.eval_wall_s
    train_s = measured.train_wall_s * settings.steps / measured.steps
    eval_s = measured.eval_wall_s * settings.eval_points / len(measured.eval_history)
    return WORKER_START_S + other_s + train_s + eval_s


def estimated_suite_s(specs: list[RunSpec], measured: list[Row], jobs: int) -> float:
    """The suite's wall time: its runs in the runner's order, each started on the first
    free job, at the mean estimate over the measured seeds of its implementation."""
    by_implementation: dict[tuple[str, str], list[Row]] = {}
    for row in measured:
        by_implementation.setdefault((row.variant, row.framework), []).append(row)
    busy_until = [0.0] * jobs
    for spec in specs:
        rows = by_implementation[(spec.variant, spec.framework)]
        run_s = sum(estimated_run_s(spec, row) for row in rows) / len(rows)
        first_free = busy_until.index(min(busy_until))
        busy_until[first_free] += run_s
    return PREPARATION_S + max(busy_until)


def test_the_estimate_gives_the_measured_wall_time_at_the_measured_settings():
    # reports/baselines/standard-cpu.json is the suite's run at today's settings, end to end
    # (`python -m bench run --suite standard --jobs 2`, README: Which suite). The estimate
    # adds the run's measured fixed costs (PREPARATION_S, WORKER_START_S) to its per-run ones.
    measured = load_rows(STANDARD_BASELINE)
    as_measured = load_suite("standard").with_changes(
        variant_steps={row.variant: row.steps for row in measured},
        variant_presets={row.variant: row.spec_preset for row in measured},
        eval_points=len(measured[0].eval_history),
    )
    estimate_s = estimated_suite_s(as_measured.run_specs(), measured, JOBS)
    assert estimate_s == pytest.approx(MEASURED_SUITE_S, rel=0.1)


def test_the_suite_as_configured_fits_its_30_minutes_at_the_measured_costs():
    # Fails when a length or an evaluation is raised in the suite file without a new
    # measurement showing that it still fits.
    measured = load_rows(STANDARD_BASELINE)
    specs = load_suite("standard").run_specs()
    assert {(s.variant, s.settings.spec_preset) for s in specs} == {
        (row.variant, row.spec_preset) for row in measured
    }, "per-step costs were measured at other widths: run the suite and save its baseline"
    assert estimated_suite_s(specs, measured, JOBS) <= TARGET_S


STANDARD_BASELINE = REPO_ROOT / "reports" / "baselines" / "standard-cpu.json"
