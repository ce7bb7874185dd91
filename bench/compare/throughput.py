"""The throughput check: median images/s over pooled timing windows, against the spread.

`slower` (or `faster`) needs both: the median moved by more than the tolerance (given,
or derived from the window and seed spread: bench/noise_tolerance.py),
and the move is larger than the inter-quartile range of the windows of each run,
so noise does not cry wolf. On a CPU, and wherever the two sides ran on
differently named devices, the figure is images/s relative to a reference matmul
timed in the same process.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from bench.catalogue import IMAGES_PER_S, IMAGES_PER_S_RELATIVE
from bench.compare.verdicts import THROUGHPUT, Check, Verdict
from bench.noise_tolerance import noise_tolerance
from bench.results import Row


def throughput_check(
    baseline: list[Row], current: list[Row], tolerance_pct: float | None = None
) -> Check:
    """Median over pooled windows; a change must beat the tolerance and both runs' IQR.

    tolerance_pct None: derived from the window and seed spread of both sides
    (bench/noise_tolerance.py), which also gives the smallest change it could detect.
    """
    figure, why = throughput_figure(baseline, current)
    baseline_windows = figure_windows(baseline, figure)
    current_windows = figure_windows(current, figure)
    if not baseline_windows or not current_windows:
        return Check(THROUGHPUT, Verdict.NOT_COMPARED, note="no timing windows on one side")
    detectable_pct = None
    if tolerance_pct is not None:
        faster_pct = tolerance_pct  # a given tolerance is symmetric in percent
    else:
        noise = noise_tolerance(
            [figure_windows([row], figure) for row in baseline],
            [figure_windows([row], figure) for row in current],
        )
        tolerance_pct, faster_pct = noise.tolerance_pct, noise.faster_pct
        detectable_pct = noise.detectable_pct
    baseline_median = float(np.median(baseline_windows))
    current_median = float(np.median(current_windows))
    if baseline_median <= 0:
        note = f"baseline {figure} is {baseline_median}"
        return Check(THROUGHPUT, Verdict.NOT_COMPARED, note=note)
    baseline_iqr, current_iqr = iqr(baseline_windows), iqr(current_windows)
    change_pct = 100.0 * (current_median / baseline_median - 1.0)
    move = abs(current_median - baseline_median)
    beyond_spread = move > baseline_iqr and move > current_iqr
    verdict = Verdict.SAME
    if beyond_spread and change_pct < -tolerance_pct:
        verdict = Verdict.SLOWER
    elif beyond_spread and change_pct > faster_pct:
        verdict = Verdict.FASTER
    return Check(
        THROUGHPUT,
        verdict,
        baseline_median,
        current_median,
        change_pct,
        threshold=tolerance_pct,
        note=why,
        figure=figure,
        spread_baseline=baseline_iqr,
        spread_current=current_iqr,
        detectable_pct=detectable_pct,
    )


def throughput_figure(baseline: list[Row], current: list[Row]) -> tuple[str, str]:
    """Which throughput to compare, and why: relative on a CPU or across device names."""
    rows = [*baseline, *current]
    reasons = []
    if any(row.device == "cpu" for row in rows):
        reasons.append("cpu")
    if len({row.device_name for row in rows}) > 1:
        reasons.append("device names differ")
    if not reasons:
        return IMAGES_PER_S.name, "one device name"
    reason = ", ".join(reasons)
    if all(row.reference_gflop_per_s for row in rows):
        return IMAGES_PER_S_RELATIVE.name, reason
    return IMAGES_PER_S.name, f"{reason}, but rows lack the reference kernel"


def figure_windows(rows: list[Row], figure: str) -> list[float]:
    """Every timing window's figure, pooled over rows (a row without windows gives its median)."""
    values: list[float] = []
    for row in rows:
        windows = row.images_per_s_windows or (
            [row.images_per_s] if row.images_per_s is not None else []
        )
        scale = row.reference_gflop_per_s if figure == IMAGES_PER_S_RELATIVE.name else 1.0
        values.extend(w / scale for w in windows if w is not None and math.isfinite(w))
    return values


def iqr(values: Sequence[float]) -> float:
    """Inter-quartile range (linear interpolation): the spread one noisy window cannot stretch."""
    q25, q75 = np.percentile(values, [25, 75])
    return float(q75 - q25)


def same_device_rows(baseline: list[Row], current: list[Row]) -> tuple[list[Row], str]:
    """Baseline rows on the current rows' device names when it has them; else all, noted."""
    current_names = {row.device_name for row in current}
    matching = [row for row in baseline if row.device_name in current_names]
    if matching:
        return matching, ""
    baseline_names = sorted({str(row.device_name) for row in baseline})
    return baseline, (
        f"device names differ: baseline {', '.join(baseline_names)}; "
        f"current {', '.join(sorted(str(n) for n in current_names))}"
    )
