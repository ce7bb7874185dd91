"""compare's noise-derived throughput tolerance (bench/noise_tolerance.py), by arithmetic."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.noise_tolerance import (
    FLOOR_PCT,
    SEED_SPREAD,
    WINDOW_SPREAD,
    noise_tolerance,
    side_sigma,
)

Z_975, Z_80 = 1.959964, 0.841621
NORMAL_IQR = 1.3489795  # the IQR of a standard normal: scipy's scale="normal"


def run(median: float, log_half_range: float) -> list[float]:
    """Ten windows whose logs are evenly spread: IQR of the logs = log_half_range."""
    return list(median * np.exp(np.linspace(-1.0, 1.0, 10) * log_half_range))


def test_window_spread_sets_the_tolerance_when_each_side_has_one_run():
    # Each side: log IQR 0.10 -> sigma 0.10 / 1.349 = 0.07413; both: x sqrt 2 = 0.10483.
    result = noise_tolerance([run(1000.0, 0.10)], [run(900.0, 0.10)])
    sigma = math.sqrt(2) * 0.10 / NORMAL_IQR
    assert result.sigma_log == pytest.approx(sigma, rel=1e-6)
    # Symmetric in logs: a drop of 1 - exp(-z sigma) is as far as a rise of exp(z sigma) - 1.
    assert result.tolerance_pct == pytest.approx(-100 * math.expm1(-Z_975 * sigma), rel=1e-5)
    assert result.tolerance_pct == pytest.approx(18.57, abs=0.01)
    assert result.faster_pct == pytest.approx(100 * math.expm1(Z_975 * sigma), rel=1e-5)
    assert result.faster_pct == pytest.approx(22.81, abs=0.01)
    assert result.detectable_pct == pytest.approx(
        -100 * math.expm1(-(Z_975 + Z_80) * sigma), rel=1e-5
    )
    assert result.source == WINDOW_SPREAD


def test_seed_spread_wins_when_runs_of_the_same_code_are_further_apart_than_windows():
    # Three seeds whose medians are 1000, 1100, 1210 (log steps of 0.0953), tight windows.
    baseline = [run(1000.0 * 1.1**k, 0.01) for k in range(3)]
    sigma, source = side_sigma(baseline)
    assert source == SEED_SPREAD
    assert sigma == pytest.approx(math.log(1.1), rel=1e-9)  # std (ddof 1) of 0, 1, 2 steps = 1 step
    result = noise_tolerance(baseline, [run(1000.0, 0.01)])
    assert result.source == SEED_SPREAD
    expected = math.hypot(math.log(1.1), 0.01 / NORMAL_IQR)
    assert result.sigma_log == pytest.approx(expected, rel=1e-6)


def test_window_spread_is_taken_within_runs_not_across_their_medians():
    # Two runs, each perfectly steady, 20% apart: the windows alone show no spread.
    sigma, source = side_sigma([[100.0] * 5, [120.0] * 5])
    assert source == SEED_SPREAD and sigma == pytest.approx(math.log(1.2) / math.sqrt(2))


def test_quiet_inputs_never_go_below_the_floor():
    result = noise_tolerance([run(1000.0, 0.001)], [run(1000.0, 0.001)])
    assert result.tolerance_pct == FLOOR_PCT and result.detectable_pct == FLOOR_PCT
    assert result.faster_pct == FLOOR_PCT


def test_a_noisy_baseline_cannot_hide_a_large_slowdown():
    # The CI run that hid a 5.7x slowdown: baseline windows IQR 33.13 at median 77.4 (sigma
    # 0.32 in logs), so z sigma = 0.627. In percent, a rise needs +87.2%; the same distance
    # down is a drop of 46.6%, not 87% (a bound no drop above 100% could ever pass).
    sigma = 0.32
    result = noise_tolerance([run(77.4, sigma * NORMAL_IQR)], [run(13.48, 0.0)])
    assert result.sigma_log == pytest.approx(sigma, rel=1e-6)
    assert result.tolerance_pct == pytest.approx(46.59, abs=0.01)
    assert result.faster_pct == pytest.approx(87.23, abs=0.01)
    assert -result.tolerance_pct > 100 * (13.48 / 77.4 - 1)


def test_a_side_without_windows_is_refused():
    with pytest.raises(ValueError, match="no timing windows"):
        noise_tolerance([[]], [run(1.0, 0.1)])
