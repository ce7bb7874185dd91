"""`bench ab`'s statistics and verdicts on synthetic session log-ratios with a known effect.

No process is started: the interleaved loop runs against fake sides whose window times
are drawn from a known distribution.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re

import numpy as np
import pytest
from scipy import stats

from bench.ab import stats as ab_stats
from bench.ab.measure import MeasureSettings, measure_pair, sequential_looks
from bench.ab.side import BuildRequest
from bench.ab.verdict import ExactCheck, Verdict, final_verdict, throughput_verdict

TEN_PCT_SLOWER = math.log(1 / 1.1)  # B's step takes 1.1x as long: images/s x 1/1.1


def test_session_log_ratio_is_log_of_a_time_over_b_time_per_session():
    # Session 1: A's four windows 1 s each, B's 1.25 s -> B is 20% slower in images/s.
    # Session 2: A 2 s each, B 1 s -> B twice as fast.
    ratios = ab_stats.session_log_ratios([1.0] * 4 + [2.0] * 4, [1.25] * 4 + [1.0] * 4, 4)
    assert ratios == pytest.approx([math.log(4 / 5), math.log(8 / 4)])
    # The same windows as one session of two blocks: one ratio of the sums.
    one = ab_stats.session_log_ratios([1.0] * 4 + [2.0] * 4, [1.25] * 4 + [1.0] * 4, 8)
    assert one == pytest.approx([math.log(12 / 9)])


def test_symmetric_noise_around_a_10pct_slowdown_gives_it_as_the_estimate():
    noise = np.linspace(-0.08, 0.08, 21)  # symmetric: the Hodges-Lehmann shift is exact
    interval = ab_stats.paired_interval(TEN_PCT_SLOWER + noise, confidence=0.95)
    assert interval.change_pct == pytest.approx(100 * (1 / 1.1 - 1))  # -9.0909%
    assert interval.high_pct < 0 and interval.sessions == 21
    assert throughput_verdict(interval, min_effect_pct=3.0) is Verdict.SLOWER


def test_too_few_sessions_for_the_confidence_give_no_interval_and_no_call():
    # Four sessions all in B's favour: the signed-rank test's smallest p is 2/16 = 0.125,
    # so at 95% it rejects no shift; six can (2/64), and at 97.5% seven (2/128).
    assert [ab_stats.minimum_sessions(c) for c in (0.95, 0.975, 1 - 0.05 / 3)] == [6, 7, 7]
    four = np.log([1.03, 1.05, 1.08, 1.10])
    too_few = re.escape("4 sessions; at 95.00% the signed-rank test needs 6")
    with pytest.raises(ValueError, match=too_few):
        ab_stats.paired_interval(four, confidence=0.95)
    assert sequential_looks(four, [8], 0.95, 3.0) == ([], None, "budget")
    six = np.log([1.03, 1.05, 1.08, 1.10, 1.06, 1.07])
    looks, verdict, stopped = sequential_looks(six, [8], 0.95, 3.0)
    assert verdict is Verdict.FASTER and stopped == "budget" and looks[0].low_pct > 0


def test_interval_ends_are_where_the_signed_rank_test_stops_rejecting():
    # Oracle: invert scipy's Wilcoxon test by brute force at every gap between Walsh averages.
    values = np.random.default_rng(7).standard_t(3, size=15) * 0.05 - 0.04
    walsh = np.sort([(values[i] + values[j]) / 2 for i in range(15) for j in range(i, 15)])
    kept = [
        (low, high)
        for low, high in itertools.pairwise(walsh)
        if stats.wilcoxon(values - (low + high) / 2, zero_method="zsplit").pvalue > 0.05
    ]
    expected_low, expected_high = kept[0][0], kept[-1][1]
    interval = ab_stats.paired_interval(values, confidence=0.95)
    assert interval.low_pct == pytest.approx(100 * math.expm1(expected_low), abs=1e-12)
    assert interval.high_pct == pytest.approx(100 * math.expm1(expected_high), abs=1e-12)
    assert interval.change_pct == pytest.approx(100 * math.expm1(np.median(walsh)), abs=1e-12)


def test_a_95pct_interval_misses_zero_in_at_most_5pct_of_null_samples():
    # 300 A/A runs of 12 blocks with heavy-tailed (t, 2 dof) symmetric noise: the exact
    # signed-rank interval misses 0 in 14 of them (4.7%, under the 5% it promises). The
    # samples are seeded, so the count is exact and pins the confidence actually used.
    rng = np.random.default_rng(0)
    misses = 0
    for _ in range(300):
        interval = ab_stats.paired_interval(rng.standard_t(2, size=12) * 0.05, confidence=0.95)
        misses += interval.low_pct > 0 or interval.high_pct < 0
    assert misses == 14


def interval(change: float, low: float, high: float) -> ab_stats.Interval:
    return ab_stats.Interval(change, low, high, confidence=0.95, standard_error=0.01, sessions=20)


@pytest.mark.parametrize(
    "change,low,high,expected",
    [
        (-10.0, -14.0, -6.0, Verdict.SLOWER),
        (-2.0, -3.5, -0.5, None),  # a real but small slowdown, interval crosses -3%: undecided
        (-3.5, -7.0, 0.5, None),  # past the threshold, but the interval holds 0
        (-1.0, -2.5, 0.5, Verdict.SAME),  # within +/- 3%
        (10.0, 6.0, 14.0, Verdict.FASTER),
        (2.0, 0.5, 3.5, None),
    ],
)
def test_slower_needs_an_interval_below_zero_and_an_estimate_past_the_threshold(
    change, low, high, expected
):
    assert throughput_verdict(interval(change, low, high), min_effect_pct=3.0) is expected


def test_changed_flops_or_params_beat_any_timing_verdict():
    same = (ExactCheck("flops_per_step", 100, 100), ExactCheck("params_generator", 5, 5))
    changed = (*same, ExactCheck("params_discriminator", 7, 8))
    assert final_verdict(Verdict.FASTER, changed) is Verdict.CHANGED
    assert final_verdict(Verdict.SAME, same) is Verdict.SAME
    assert final_verdict(None, same) is Verdict.INCONCLUSIVE
    assert ExactCheck("flops_per_step", None, 100).changed is False  # not counted on one side


def test_minimum_detectable_effect_is_the_larger_of_noise_and_threshold_terms():
    # confidence 0.95 -> z 1.95996; power 0.8 -> z 0.84162; se 0.02 in log units.
    noisy = ab_stats.Interval(0.0, -4.0, 4.0, confidence=0.95, standard_error=0.02, sessions=20)
    expected = 100 * (1 - math.exp(-(1.959964 + 0.841621) * 0.02))
    assert ab_stats.minimum_detectable_pct(noisy, 3.0) == pytest.approx(expected, rel=1e-6)
    quiet = ab_stats.Interval(0.0, -0.1, 0.1, confidence=0.95, standard_error=0.001, sessions=20)
    threshold_term = -math.log(0.97) + 0.841621 * 0.001
    assert ab_stats.minimum_detectable_pct(quiet, 3.0) == pytest.approx(
        100 * (1 - math.exp(-threshold_term)), rel=1e-6
    )


def test_look_schedule_grows_by_half_and_never_passes_the_budget():
    assert ab_stats.look_schedule(100) == [8, 12, 18, 27, 41, 62, 93]
    assert ab_stats.look_schedule(3) == [ab_stats.FIRST_LOOK_SESSIONS]  # always one look


class FakeSide:
    """A side whose steps take 1 ms x slowdown; timed windows get lognormal noise.

    The first window (calibration) is noise-free, so the window length the loop picks is
    known: 0.2 s over the mean step of both sides. One FakeSide stands for all the fresh
    processes of its side; it counts the sessions they ran.
    """

    def __init__(self, rng: np.random.Generator, slowdown: float, sigma: float = 0.05) -> None:
        self.rng, self.slowdown, self.sigma, self.calls = rng, slowdown, sigma, 0
        self.sessions = self.open = 0

    def start_session(self, warmup_steps: int, request: BuildRequest) -> None:
        assert not self.open, "a session started before the last one ended"
        self.sessions, self.open = self.sessions + 1, 1

    def session_ready(self) -> float:
        return 0.0

    def end_session(self) -> None:
        self.open = 0

    def window_s(self, steps: int, cpus: list[int] | None = None) -> float:
        assert self.open, "a window outside a session"
        self.calls += 1
        noise = float(np.exp(self.rng.normal(0.0, self.sigma))) if self.calls > 1 else 1.0
        return 1e-3 * steps * self.slowdown * noise


REQUEST = BuildRequest("torch", "vanilla", "paper", 64, 0, "data.npz")


def opener(a: FakeSide, b: FakeSide):
    @contextlib.contextmanager
    def open_pair(session: int):
        yield {"A": a, "B": b}

    return open_pair


def test_interleaved_loop_calls_a_10pct_slowdown_and_stops_at_the_deciding_look():
    rng = np.random.default_rng(3)
    settings = MeasureSettings(budget_s=30.0, min_effect_pct=3.0, warmup_steps=4, window_s=0.2)
    a, b = FakeSide(rng, 1.0), FakeSide(rng, 1.1)
    result = measure_pair(opener(a, b), REQUEST, settings)
    assert result.throughput is Verdict.SLOWER and result.stopped == "decided"
    assert result.window_steps == 190  # round(0.2 s / 1.05 ms)
    # A session (fake ones start at once) is one block of 8 windows: 8 x 190 x 1.05 ms x
    # 1.3 = 2.07 s, 14 in 30 s: looks at 8 and 12.
    schedule = ab_stats.look_schedule(int(30.0 / (8 * 190 * 1.05e-3 * 1.3)))
    assert schedule == [8, 12] and result.planned_looks == 2
    assert result.interval.confidence == pytest.approx(1 - ab_stats.ALPHA / 2)
    assert result.sessions in schedule and len(result.a_seconds) == 4 * result.sessions
    assert a.sessions == b.sessions == result.sessions and not (a.open or b.open)


def test_interleaved_loop_with_identical_sides_is_never_called_slower():
    calls = []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        settings = MeasureSettings(budget_s=60.0, min_effect_pct=3.0, warmup_steps=4)
        sides = FakeSide(rng, 1.0, sigma=0.02), FakeSide(rng, 1.0, sigma=0.02)
        calls.append(measure_pair(opener(*sides), REQUEST, settings).throughput)
    assert calls == [Verdict.SAME] * 20  # 2% noise per window: +/- 3% is reached
