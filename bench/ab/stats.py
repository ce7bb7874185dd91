"""The statistics of `bench ab`: paired blocks -> a relative change with an interval.

The unit is one block, A B B A B A A B: its log-ratio of images/s, log(B / A) =
log(sum of A's window times / sum of B's) at equal steps per window. A drift that is
linear or quadratic over the block cancels, and each side holds every place in it
(first after a pause, after the other side, after itself) equally often.

A busy neighbour makes a few blocks wild, so the estimate is the Hodges-Lehmann shift
(median of the Walsh averages) of the log-ratios, and its interval the set of shifts the
Wilcoxon signed-rank test does not reject: exact for any symmetric noise, which block
log-ratios of identical code are (A and B hold mirror positions in ABBA). The run
looks at its data only at scheduled block counts (LOOK_GROWTH apart), and at most
`looks` times; each look uses alpha / looks (Bonferroni), so sampling until the interval
decides does not inflate the overall false-alarm rate above alpha.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

ALPHA = 0.05  # overall, over all looks
POWER = 0.8  # the minimum detectable effect is the change found with this probability
WINDOWS_PER_SIDE = 4  # a block is A B B A B A A B (bench.ab.measure.BLOCK_ORDER)
FIRST_LOOK_BLOCKS = 8  # fewer blocks give the bootstrap too little to resample
LOOK_GROWTH = 1.5  # each scheduled look has this many times the previous look's blocks


@dataclass(frozen=True)
class Interval:
    """A relative change of images/s, B against A, in percent, with its interval."""

    change_pct: float  # point estimate: 100 (exp(Hodges-Lehmann of the log-ratios) - 1)
    low_pct: float
    high_pct: float
    confidence: float  # of this look's interval, e.g. 0.9875 for 4 looks
    standard_error: float  # interval width / (2 z), in log-ratio units
    blocks: int


def block_log_ratios(a_seconds: Sequence[float], b_seconds: Sequence[float]) -> np.ndarray:
    """Per block, log(images/s of B / images/s of A); window times, WINDOWS_PER_SIDE a block."""
    a = np.asarray(a_seconds, dtype=float).reshape(-1, WINDOWS_PER_SIDE).sum(axis=1)
    b = np.asarray(b_seconds, dtype=float).reshape(-1, WINDOWS_PER_SIDE).sum(axis=1)
    return np.log(a / b)


def look_schedule(max_blocks: int) -> list[int]:
    """The block counts at which the data are looked at, up to max_blocks (always at least one)."""
    looks = [FIRST_LOOK_BLOCKS]
    while math.ceil(looks[-1] * LOOK_GROWTH) <= max_blocks:
        looks.append(math.ceil(looks[-1] * LOOK_GROWTH))
    return looks


def paired_interval(log_ratios: Sequence[float], confidence: float) -> Interval:
    """Hodges-Lehmann change with the Wilcoxon signed-rank interval at `confidence`.

    The interval is every shift the signed-rank test (scipy.stats.wilcoxon) does not
    reject: distribution-free for symmetric block noise, however heavy its tails. Its
    ends are Walsh averages, found by bisection on the test's p-value.
    """
    values = np.asarray(log_ratios, dtype=float)
    if len(values) < 3:
        raise ValueError(f"{len(values)} blocks; the interval needs at least 3")
    alpha = 1.0 - confidence
    estimate = float(np.median(_walsh_averages(values)))
    low, high = _lower_end(values, alpha), -_lower_end(-values, alpha)
    z = stats.norm.ppf(1.0 - alpha / 2.0)
    standard_error = float((high - low) / (2.0 * z))
    return Interval(_pct(estimate), _pct(low), _pct(high), confidence, standard_error, len(values))


def _walsh_averages(values: np.ndarray) -> np.ndarray:
    """(x_i + x_j) / 2 for i <= j, sorted."""
    upper = np.triu_indices(len(values))
    return np.sort((values[:, None] + values[None, :])[upper] / 2.0)


def _lower_end(values: np.ndarray, alpha: float) -> float:
    """The lowest shift the signed-rank test does not reject: a Walsh average, by bisection."""
    walsh = _walsh_averages(values)
    lowest, highest = 0, (len(walsh) - 1) // 2  # p rises towards the middle (the estimate)
    while lowest < highest:
        probe = (lowest + highest) // 2
        shift = (walsh[probe] + walsh[probe + 1]) / 2.0  # between two Walsh averages: no zeros
        if _p_value(values, shift) > alpha:
            highest = probe
        else:
            lowest = probe + 1
    return float(walsh[lowest])


def _p_value(values: np.ndarray, shift: float) -> float:
    differences = values - shift
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences, zero_method="zsplit").pvalue)


def minimum_detectable_pct(interval: Interval, min_effect_pct: float) -> float:
    """The smallest slowdown this run's noise would call `slower` with probability POWER.

    A call needs the interval above 0 and the estimate past min_effect_pct, so it is the
    larger of (z_alpha + z_power) standard errors and min_effect + z_power standard errors.
    """
    z_alpha = stats.norm.ppf(1.0 - (1.0 - interval.confidence) / 2.0)
    z_power = stats.norm.ppf(POWER)
    noise = (z_alpha + z_power) * interval.standard_error
    threshold = -math.log(1.0 - min_effect_pct / 100.0) + z_power * interval.standard_error
    return 100.0 * (1.0 - math.exp(-max(noise, threshold)))


def _pct(log_ratio: float) -> float:
    return 100.0 * math.expm1(float(log_ratio))
