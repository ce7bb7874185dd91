"""`compare`'s throughput tolerance, derived from the noise its two inputs show.

`compare` holds the median of one set of runs against another, measured at different
times, in different processes. It can see two kinds of noise in its inputs:
- the window spread: how much one timing window's figure scatters within a run;
- the seed spread: how far the medians of runs of the same identity (its seeds) are apart,
  which is the process-to-process noise itself; only visible with two or more seeds.

A run's median is trusted no further than one window (sigma = the larger of the two
spreads), because processes of the same code differ persistently (seen here: 41% in
images/s) and a single run cannot show by how much. Per side sigma is a robust standard
deviation of log figures (scipy.stats.iqr with scale="normal"); the two sides combine in
quadrature. The tolerance is the two-sided 95% point, z(0.975) x sigma; the smallest
change the check could have detected (80% of the time) is (z(0.975) + z(0.8)) x sigma;
both never below FLOOR_PCT, the practical threshold below which a move is not a finding.
The noise is symmetric in log units, so the bounds are too: a drop in images/s is held
against 1 - exp(-z sigma) and a rise against exp(z sigma) - 1. (A percentage bound applied
to both sides would let a noisy baseline, sigma 0.32, hide even a 6x slowdown: no drop
exceeds 100%.)
`bench ab` (interleaved, paired) is the tool for smaller changes on a CPU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

FLOOR_PCT = 5.0  # the old GPU tolerance: smaller moves are not called whatever the noise
CONFIDENCE = 0.95
POWER = 0.8
WINDOW_SPREAD, SEED_SPREAD = "window spread", "seed spread"


@dataclass(frozen=True)
class NoiseTolerance:
    tolerance_pct: float  # a median that dropped further than this (in %) is slower
    faster_pct: float  # a median that rose further than this (in %) is faster
    detectable_pct: float  # the smallest drop (in %) called slower with probability POWER
    sigma_log: float  # combined noise of both sides, log units
    source: str  # which spread set sigma: WINDOW_SPREAD or SEED_SPREAD (per the larger side)


def side_sigma(windows_per_run: Sequence[Sequence[float]]) -> tuple[float, str]:
    """Noise of one side in log units: max(window spread, seed spread), and which one."""
    runs = [np.log(np.asarray(w, dtype=float)) for w in windows_per_run if len(w)]
    if not runs:
        raise ValueError("no timing windows on this side")
    centred = np.concatenate([run - np.median(run) for run in runs])
    window = float(stats.iqr(centred, scale="normal")) if len(centred) > 1 else 0.0
    medians = [float(np.median(run)) for run in runs]
    seed = float(np.std(medians, ddof=1)) if len(medians) > 1 else 0.0
    return (seed, SEED_SPREAD) if seed > window else (window, WINDOW_SPREAD)


def noise_tolerance(
    baseline: Sequence[Sequence[float]],
    current: Sequence[Sequence[float]],
    floor_pct: float = FLOOR_PCT,
) -> NoiseTolerance:
    """Tolerance and detectable change for two sides given as timing windows per run."""
    (base_sigma, base_source), (current_sigma, current_source) = (
        side_sigma(baseline),
        side_sigma(current),
    )
    sigma = math.hypot(base_sigma, current_sigma)
    z_alpha = stats.norm.ppf(1.0 - (1.0 - CONFIDENCE) / 2.0)
    z_power = stats.norm.ppf(POWER)
    tolerance = max(floor_pct, -100.0 * math.expm1(-z_alpha * sigma))
    faster = max(floor_pct, 100.0 * math.expm1(z_alpha * sigma))
    detectable = max(floor_pct, -100.0 * math.expm1(-(z_alpha + z_power) * sigma))
    source = base_source if base_sigma >= current_sigma else current_source
    return NoiseTolerance(tolerance, faster, detectable, sigma, source)
