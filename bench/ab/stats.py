"""The statistics of `bench ab`: paired sessions -> a relative change with an interval.

The unit is one session: a fresh pair of processes, one per side, timed in blocks of
A B B A B A A B windows. Its log-ratio of images/s is log(B / A) = log(sum of A's window
times / sum of B's) at equal steps per window. Within a block a drift that is linear or
quadratic cancels, and each side holds every place (first after a pause, after the
other side, after itself) equally often. Sessions, not blocks, are the unit because two
processes of identical code run persistently apart (5-10% on the 2-core machines here):
blocks of one process pair share that offset, sessions of fresh pairs do not, so only
sessions are independent draws.

A busy neighbour makes a few sessions wild, so the estimate is the Hodges-Lehmann shift
(median of the Walsh averages) of the session log-ratios, and its interval the set of
shifts the Wilcoxon signed-rank test does not reject: exact for any symmetric noise,
which session log-ratios of identical code are (A and B are exchangeable fresh
processes, and open the blocks of alternate sessions). The run looks at its data only at
scheduled session counts (LOOK_GROWTH apart), and at most `looks` times; each look uses
alpha / looks (Bonferroni), so sampling until the interval decides does not inflate the
overall false-alarm rate above alpha.
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
FIRST_LOOK_SESSIONS = 8  # the signed-rank test of 8 can reject at alpha/3 (2/256 < 0.0167)
LOOK_GROWTH = 1.5  # each scheduled look has this many times the previous look's sessions


@dataclass(frozen=True)
class Interval:
    """A relative change of images/s, B against A, in percent, with its interval."""

    change_pct: float  # point estimate: 100 (exp(Hodges-Lehmann of the log-ratios) - 1)
    low_pct: float
    high_pct: float
    confidence: float  # of this look's interval, e.g. 0.9875 for 4 looks
    standard_error: float  # interval width / (2 z), in log-ratio units
    sessions: int


def session_log_ratios(
    a_seconds: Sequence[float], b_seconds: Sequence[float], windows_per_session: int
) -> np.ndarray:
    """Per session, log(images/s of B / images/s of A), from each side's window times in
    order, `windows_per_session` of them a session (equal steps in every window)."""
    a = np.asarray(a_seconds, dtype=float).reshape(-1, windows_per_session).sum(axis=1)
    b = np.asarray(b_seconds, dtype=float).reshape(-1, windows_per_session).sum(axis=1)
    return np.log(a / b)


def look_schedule(max_sessions: int) -> list[int]:
    """The session counts at which the data are looked at, up to max_sessions (at least one)."""
    looks = [FIRST_LOOK_SESSIONS]
    while math.ceil(looks[-1] * LOOK_GROWTH) <= max_sessions:
        looks.append(math.ceil(looks[-1] * LOOK_GROWTH))
    return looks


def minimum_sessions(confidence: float) -> int:
    """The fewest sessions whose interval at `confidence` is bounded: the smallest two-sided
    p-value of the signed-rank test on n values is 2 / 2^n, so with fewer than
    log2(2 / alpha) sessions it rejects no shift at all, and 0 stays inside however the
    sessions fall (without this, 4 sessions all one way gave a finite interval that
    excluded 0 and a false call)."""
    return max(3, math.ceil(math.log2(2.0 / (1.0 - confidence)) - 1e-9))


def paired_interval(log_ratios: Sequence[float], confidence: float) -> Interval:
    """Hodges-Lehmann change with the Wilcoxon signed-rank interval at `confidence`.

    The interval is every shift the signed-rank test (scipy.stats.wilcoxon) does not
    reject: distribution-free for symmetric block noise, however heavy its tails. Its
    ends are Walsh averages, found by bisection on the test's p-value.
    """
    values = np.asarray(log_ratios, dtype=float)
    if len(values) < minimum_sessions(confidence):
        raise ValueError(
            f"{len(values)} sessions; at {confidence:.2%} the signed-rank test needs "
            f"{minimum_sessions(confidence)} to reject any shift (its smallest p is 2 / 2^n)"
        )
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
