"""The verdict test (reports.significance): Welch's t, Holm's correction, the detectable size.

Oracles: the arithmetic written out for one pair (Student's t with 4 degrees of freedom has
a closed-form tail), scipy.stats.ttest_ind for the rest, Holm on p-values adjusted by hand,
and simulations of known effect and of none, whose rates are judged by exact binomial tests.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from scipy import stats

from reports.significance import (
    ALPHA,
    Outcome,
    Pair,
    compare,
    compare_family,
    holm,
    holm_levels,
    smallest_detectable,
)

TRIALS = 2000  # simulated 3-against-3 comparisons per rate
SEEDS = 3  # per side, as the report's suites run


def test_welch_difference_matches_the_arithmetic_written_out():
    # first = 1, 2, 3 and second = 7, 8, 9: means 2 and 8, variances 1 and 1.
    # difference = -6; standard error = sqrt(1/3 + 1/3) = 0.8164966; t = -7.3484692;
    # Hsu's df = min(3, 3) - 1 = 2, where Student's t has a closed-form tail:
    # two-sided p = 1 - |t| / sqrt(t^2 + 2) = 0.0180195.
    t = 6.0 / math.sqrt(2.0 / 3.0)
    p_expected = 1.0 - t / math.sqrt(t * t + 2.0)
    half_width = 4.302652729749464 * math.sqrt(2.0 / 3.0)  # t_{0.975, 2} x standard error

    difference = compare([1.0, 2.0, 3.0], [7.0, 8.0, 9.0])

    assert difference.outcome is Outcome.LOWER
    assert difference.effect == -6.0
    assert difference.df == 2.0
    assert difference.p_value == pytest.approx(p_expected, rel=1e-9)
    assert difference.p_adjusted == difference.p_value  # a family of one: nothing to correct
    assert difference.low == pytest.approx(-6.0 - half_width, rel=1e-9)
    assert difference.high == pytest.approx(-6.0 + half_width, rel=1e-9)
    assert difference.half_width == pytest.approx(half_width, rel=1e-9)
    assert (difference.n_first, difference.n_second, difference.comparisons) == (3, 3, 1)


def test_welch_statistic_matches_scipy_with_hsu_degrees_of_freedom():
    rng = np.random.default_rng(7)
    for size_first, size_second, spread in [(3, 3, 1.0), (3, 5, 4.0), (6, 2, 0.3), (10, 10, 2)]:
        first = rng.normal(0.0, 1.0, size_first)
        second = rng.normal(0.5, spread, size_second)
        statistic = float(stats.ttest_ind(first, second, equal_var=False).statistic)
        df = min(size_first, size_second) - 1
        difference = compare(first.tolist(), second.tolist())
        assert difference.effect / difference.standard_error == pytest.approx(statistic, rel=1e-9)
        assert difference.df == df
        assert difference.p_value == pytest.approx(2 * stats.t.sf(abs(statistic), df), rel=1e-9)


def test_threshold_tests_the_excess_over_it():
    # |difference| <= 1 against first = 1, 2, 3 and second = 4, 5, 6 is the test of a
    # difference of -3 + 1 = -2: first shifted up by the threshold.
    shifted = stats.ttest_ind([2.0, 3.0, 4.0], [4.0, 5.0, 6.0], equal_var=False).statistic
    difference = compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], threshold=1.0)
    assert difference.p_value == pytest.approx(2 * stats.t.sf(abs(shifted), 2), rel=1e-9)
    assert difference.outcome is Outcome.TOO_CLOSE
    assert difference.smallest_detectable == pytest.approx(
        1.0 + compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]).smallest_detectable, rel=1e-9
    )


def test_log_scale_effect_is_the_ratio_of_geometric_means():
    # log2 of first = 1, 2, 3 and of second = 0, 1, 2: the log difference is exactly log 2;
    # the spread of each side is ln 2, so t = ln 2 / (ln 2 sqrt(2/3)) = 1.2247: too close.
    difference = compare([2.0, 4.0, 8.0], [1.0, 2.0, 4.0], scale="log")
    assert difference.effect == pytest.approx(2.0, rel=1e-12)
    assert difference.outcome is Outcome.TOO_CLOSE
    assert difference.p_value == pytest.approx(2 * stats.t.sf(math.sqrt(1.5), 2), rel=1e-9)
    assert difference.low * difference.high == pytest.approx(4.0, rel=1e-9)  # symmetric in log


def test_holm_adjusts_known_p_values():
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04, raised to 0.06 (monotone).
    assert holm([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.03, 0.06, 0.06], rel=1e-12)
    assert holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # capped at 1
    assert holm_levels([0.01, 0.04, 0.03], 0.05).tolist() == pytest.approx(
        [0.05 / 3, 0.05, 0.05 / 2], rel=1e-12
    )


def test_family_is_corrected_together_and_untestable_members_do_not_count():
    pairs = [
        Pair((1.0, 2.0, 3.0), (7.0, 8.0, 9.0)),  # p = 0.0180 alone
        Pair((1.0, 2.0, 3.0), (1.5, 2.5, 3.5)),  # far from called
        Pair((1.0,), (2.0, 3.0)),  # one seed: untestable, not a comparison
    ]
    called_alone = compare([1.0, 2.0, 3.0], [7.0, 8.0, 9.0])
    differences = compare_family(pairs)
    assert [d.comparisons for d in differences] == [2, 2, 2]
    assert differences[0].p_adjusted == pytest.approx(2 * called_alone.p_value, rel=1e-12)
    assert differences[0].outcome is Outcome.LOWER  # 0.0360 < 0.05 still
    assert differences[0].confidence == pytest.approx(1 - ALPHA / 2, rel=1e-12)
    assert differences[1].outcome is Outcome.TOO_CLOSE
    assert differences[2].outcome is Outcome.UNTESTABLE
    assert differences[2].effect == -1.5
    assert "1 seed on a side" in differences[2].reason


def test_no_spread_at_all_is_called_exactly():
    assert compare([1.0, 1.0], [2.0, 2.0]).outcome is Outcome.LOWER
    assert compare([2.0, 2.0], [2.0, 2.0]).outcome is Outcome.TOO_CLOSE


def hsu_welch_null_rate(spread_ratio: float, rng: np.random.Generator) -> float:
    """The false-call rate of Welch's t with min(n) - 1 df at 3 seeds a side, simulated
    vectorised and independently of the module: 200,000 null pairs."""
    first = rng.normal(0, 1, (200_000, SEEDS))
    second = rng.normal(0, spread_ratio, (200_000, SEEDS))
    squared_se = first.var(axis=1, ddof=1) / SEEDS + second.var(axis=1, ddof=1) / SEEDS
    t = (first.mean(axis=1) - second.mean(axis=1)) / np.sqrt(squared_se)
    return float(np.mean(2 * stats.t.sf(np.abs(t), SEEDS - 1) < ALPHA))


@pytest.mark.parametrize("spread_ratio", [1.0, 3.0])
def test_null_false_call_rate_is_welch_hsu_s_and_below_alpha(spread_ratio: float):
    rng = np.random.default_rng(11)
    expected = hsu_welch_null_rate(spread_ratio, rng)  # 1.3% at equal spreads, 2.4% at 3x
    calls = sum(
        compare(rng.normal(0, 1, SEEDS).tolist(), rng.normal(0, spread_ratio, SEEDS)).called
        for _ in range(TRIALS)
    )
    # Satterthwaite's df would make 3.4% and 5.2%; a one-sided p 4.2% and 6.7%.
    assert expected < ALPHA
    assert stats.binomtest(calls, TRIALS, expected).pvalue > 0.001


def test_family_of_four_null_comparisons_calls_any_at_most_alpha():
    rng = np.random.default_rng(13)
    any_call = 0
    for _ in range(TRIALS // 2):
        pairs = [
            Pair(tuple(rng.normal(0, 1, SEEDS)), tuple(rng.normal(0, 1, SEEDS))) for _ in range(4)
        ]
        any_call += any(d.called for d in compare_family(pairs))
    # Uncorrected, one in sixteen families would make a false call.
    assert stats.binomtest(any_call, TRIALS // 2, ALPHA, alternative="greater").pvalue > 0.001


def test_smallest_detectable_is_detected_at_the_stated_power():
    # Oracle by simulation, not scipy's noncentral t: T = (Z + lambda) / sqrt(chi2_df / df).
    rng = np.random.default_rng(17)
    df, alpha, power = 4.0, 0.05, 0.8
    noncentrality = smallest_detectable(1.0, df, alpha, power)
    draws = 200_000
    t = (rng.standard_normal(draws) + noncentrality) / np.sqrt(rng.chisquare(df, draws) / df)
    detected = np.mean(np.abs(t) > stats.t.ppf(1 - alpha / 2, df))
    assert detected == pytest.approx(power, abs=4 * math.sqrt(power * (1 - power) / draws))
    assert smallest_detectable(2.5, df, alpha, power) == pytest.approx(2.5 * noncentrality)


def test_known_effect_is_called_in_its_direction():
    rng = np.random.default_rng(19)
    better = [compare(rng.normal(0, 1, SEEDS), rng.normal(10, 1, SEEDS)) for _ in range(200)]
    worse = [compare(rng.normal(10, 1, SEEDS), rng.normal(0, 1, SEEDS)) for _ in range(200)]
    assert {d.outcome for d in better} == {Outcome.LOWER}
    assert {d.outcome for d in worse} == {Outcome.HIGHER}


def test_a_called_interval_clears_zero_and_a_close_one_does_not():
    rng = np.random.default_rng(23)
    for _ in range(300):
        difference = compare(rng.normal(0, 1, SEEDS), rng.normal(1.5, 1, SEEDS))
        clears = difference.low > 0 or difference.high < 0
        assert clears == difference.called


def test_one_seed_is_untestable_and_says_why():
    difference = compare([5.0], [7.0, 8.0])
    assert difference.outcome is Outcome.UNTESTABLE
    assert difference.p_value is None and difference.smallest_detectable is None
    assert difference.reason.startswith("1 seed on a side: no seed noise to judge by")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"first": (1.0, 2.0), "second": (1.0, 2.0), "scale": "cubic"}, "scale 'cubic'"),
        ({"first": (1.0, math.nan), "second": (1.0, 2.0)}, "first holds a non-finite"),
        ({"first": (1.0, 2.0), "second": (0.0, 2.0), "scale": "log"}, "second holds a value"),
        ({"first": (1.0, 2.0), "second": (1.0, 2.0), "threshold": -1.0}, "threshold -1.0"),
        ({"first": (1.0, 2.0), "second": (1.0, 2.0), "scale": "log", "threshold": 0.5}, ">= 1"),
    ],
)
def test_bad_pairs_are_refused_with_the_value(kwargs: dict, message: str):
    with pytest.raises(ValueError, match=re.escape(message)):
        Pair(**kwargs)


def test_bad_alpha_is_refused():
    with pytest.raises(ValueError, match=re.escape("alpha = 1.5")):
        compare_family([Pair((1.0, 2.0), (3.0, 4.0))], alpha=1.5)
