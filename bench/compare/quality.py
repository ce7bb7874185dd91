"""The exact checks (work: FLOPs, parameters) and the quality checks (per metric, over seeds).

Work figures are deterministic, so any change is a regression. A quality metric is
`worse` (or `better`) when its mean over seeds moved the wrong (right) way by more
than max(its catalogue floor, max_quality_loss_pct of the baseline mean, 2 x the
pooled seed std); it is compared only when both sides trained the same steps on the
same number of evaluation samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from bench.catalogue import Better, Metric, gated_quality
from bench.compare.text import number
from bench.compare.verdicts import Check, Verdict
from bench.results import Row

QUALITY_SEED_STDS = 2.0  # a quality move must exceed this many pooled seed stds


def work_check(metric: Metric, baseline: list[Row], current: list[Row]) -> Check:
    """A deterministic count: any difference is a regression, there is no noise to allow."""
    before = sorted({getattr(row, metric.name) for row in baseline} - {None})
    after = sorted({getattr(row, metric.name) for row in current} - {None})
    if not before or not after:
        return Check(metric.name, Verdict.NOT_COMPARED, note="not recorded on one side")
    if before == after:
        return Check(metric.name, Verdict.SAME, before[0], after[0], 0.0)
    change_pct = 100.0 * (after[0] / before[0] - 1.0) if before[0] else None
    note = "any change is a regression"
    if len(before) > 1 or len(after) > 1:
        note += f"; values {_values(before)} -> {_values(after)}"
    return Check(metric.name, Verdict.CHANGED, before[0], after[0], change_pct, note=note)


def quality_checks(
    baseline: list[Row], current: list[Row], max_quality_loss_pct: float
) -> list[Check]:
    """Each gated quality metric recorded on both sides, judged against the seed spread."""
    trained = _training_length(baseline), _training_length(current)
    checks = []
    for metric in gated_quality():
        before = _finite(getattr(row, metric.name) for row in baseline)
        after = _finite(getattr(row, metric.name) for row in current)
        if not before or not after:
            continue
        if trained[0] != trained[1]:
            note = f"not compared: (steps, eval samples) {trained[0]} vs {trained[1]}"
            checks.append(Check(metric.name, Verdict.NOT_COMPARED, note=note))
            continue
        checks.append(quality_check(metric, before, after, max_quality_loss_pct))
    return checks


def quality_check(
    metric: Metric, before: list[float], after: list[float], max_quality_loss_pct: float
) -> Check:
    """Worse/better when the mean moves by more than max(floor, pct of baseline, k seed stds)."""
    baseline_mean, current_mean = float(np.mean(before)), float(np.mean(after))
    seed_std = pooled_std(before, after)
    threshold = max(
        metric.floor or 0.0,
        max_quality_loss_pct / 100.0 * abs(baseline_mean),
        QUALITY_SEED_STDS * seed_std,
    )
    gain = current_mean - baseline_mean
    if metric.better is Better.LOWER:
        gain = -gain
    verdict = Verdict.SAME
    if gain < -threshold:
        verdict = Verdict.WORSE
    elif gain > threshold:
        verdict = Verdict.BETTER
    change_pct = 100.0 * (current_mean / baseline_mean - 1.0) if baseline_mean else None
    return Check(
        metric.name,
        verdict,
        baseline_mean,
        current_mean,
        change_pct,
        threshold,
        note=f"{metric.better} is better; n {len(before)} | {len(after)}, "
        f"seed std {number(seed_std)}",
    )


def pooled_std(first: Sequence[float], second: Sequence[float]) -> float:
    """Seed-to-seed std pooled over both sides; 0 when neither has two seeds."""
    dof = len(first) + len(second) - 2
    if dof <= 0:
        return 0.0
    squares = sum(float(np.var(v, ddof=0)) * len(v) for v in (first, second))
    return math.sqrt(squares / dof)


def _training_length(rows: list[Row]) -> set[tuple[int, int | None]]:
    return {(row.steps, row.eval_samples) for row in rows}


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _values(values: list[Any]) -> str:
    return "/".join(f"{v:,}" if isinstance(v, int) else str(v) for v in values)
