"""Invariants of the metrics and of the regression check, over inputs hypothesis draws.

Each property is one a correct implementation cannot break for any input: FID is a
distance (symmetric, non-negative, zero between identical statistics), a Parzen density
falls off away from its kernels, KID is unbiased (near zero for one distribution, far
from it for two), and a slower run never gets a kinder verdict. Examples are derandomized
so CI sees the same inputs every time; tolerances are stated relative to the inputs' scale.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from bench.compare import Verdict
from metrics.fid import (
    RankDeficientCovarianceWarning,
    fid_from_features,
    frechet_distance,
    kid_from_features,
)
from metrics.parzen import parzen_log_likelihood_per_point
from tests.test_compare import gpu_row, make_row, verdict

PROPERTIES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ROUND_OFF = 1e-6  # relative to the scale of the statistics (eigen-decompositions in float64)
finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False)


@st.composite
def gaussian(draw, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """A mean in [-10, 10]^dims and a PSD covariance A A^T of any rank from 1 to dims."""
    rank = draw(st.integers(1, dims))
    mean = draw(hnp.arrays(np.float64, dims, elements=st.floats(-10.0, 10.0)))
    factor = draw(hnp.arrays(np.float64, (dims, rank), elements=finite))
    covariance = factor @ factor.T
    return mean, (covariance + covariance.T) / 2


@st.composite
def two_gaussians(draw) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    dims = draw(st.integers(1, 8))
    return draw(gaussian(dims)), draw(gaussian(dims))


def scale(*statistics: tuple[np.ndarray, np.ndarray]) -> float:
    """The size of the numbers FID adds up: squared means and covariance traces."""
    return 1.0 + sum(float(mu @ mu) + float(np.trace(sigma)) for mu, sigma in statistics)


@PROPERTIES
@given(two_gaussians())
def test_frechet_distance_is_symmetric_and_non_negative(pair):
    first, second = pair
    forward = frechet_distance(*first, *second)
    backward = frechet_distance(*second, *first)
    tolerance = ROUND_OFF * scale(first, second)
    assert abs(forward - backward) <= tolerance
    assert forward >= -tolerance


@PROPERTIES
@given(st.integers(1, 8).flatmap(gaussian))
def test_frechet_distance_of_identical_statistics_is_zero(statistics):
    assert abs(frechet_distance(*statistics, *statistics)) <= ROUND_OFF * scale(statistics)


@st.composite
def feature_sets(draw) -> tuple[np.ndarray, np.ndarray]:
    dims = draw(st.integers(1, 6))
    first = draw(hnp.arrays(np.float64, (draw(st.integers(2, 30)), dims), elements=finite))
    second = draw(hnp.arrays(np.float64, (draw(st.integers(2, 30)), dims), elements=finite))
    return first, second


@PROPERTIES
@given(feature_sets())
def test_fid_from_features_is_symmetric_non_negative_and_zero_for_one_set(features):
    first, second = features
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientCovarianceWarning)  # few samples: expected
        forward = fid_from_features(first, second)
        backward = fid_from_features(second, first)
        itself = fid_from_features(first, first)
    tolerance = ROUND_OFF * (1.0 + float(np.square(first).sum() + np.square(second).sum()))
    assert abs(forward - backward) <= tolerance
    assert forward >= -tolerance
    assert abs(itself) <= tolerance


@st.composite
def samples_and_ray(draw) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """Kernel centres in [0, 1]^D, a unit direction, a bandwidth, increasing distances."""
    dims = draw(st.integers(1, 8))
    samples = draw(
        hnp.arrays(np.float64, (draw(st.integers(1, 20)), dims), elements=st.floats(0, 1))
    )
    direction = draw(
        hnp.arrays(np.float64, dims, elements=st.floats(-1, 1)).filter(
            lambda v: np.linalg.norm(v) > 1e-3
        )
    )
    sigma = draw(st.floats(0.05, 2.0))
    steps = draw(st.lists(st.floats(0.01, 3.0), min_size=2, max_size=6))
    return samples, direction / np.linalg.norm(direction), sigma, np.cumsum(steps)


@PROPERTIES
@given(samples_and_ray())
def test_parzen_ll_falls_as_a_point_moves_away_from_the_samples(case):
    # Past the last sample's projection on the ray, every kernel distance grows with t.
    samples, direction, sigma, distances = case
    centre = samples.mean(axis=0)
    beyond = float(np.max((samples - centre) @ direction))
    points = centre + (beyond + distances)[:, None] * direction
    ll = parzen_log_likelihood_per_point(samples, points, sigma)
    assert np.all(np.diff(ll) < 0), ll


@settings(max_examples=20, deadline=None, derandomize=True, database=None)
@given(seed=st.integers(0, 2**32 - 1), dims=st.integers(2, 16))
def test_kid_mean_is_near_zero_for_two_samples_of_one_distribution(seed, dims):
    rng = np.random.default_rng(seed)
    first, second = rng.standard_normal((300, dims)), rng.standard_normal((300, dims))
    options = dict(num_subsets=20, subset_size=100, seed=seed)
    same_mean, same_std = kid_from_features(first, second, **options)
    shifted_mean, _ = kid_from_features(first, second + 1.0, **options)
    assert abs(same_mean) <= 5 * same_std
    assert shifted_mean > 5 * same_std + abs(same_mean)  # the bound is tight enough to fail


GOODNESS = {Verdict.FASTER: 2, Verdict.SAME: 1, Verdict.SLOWER: 0}


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(
    speed=st.floats(50.0, 20_000.0),
    window_iqr_pct=st.floats(0.0, 30.0),
    gpu=st.booleans(),
    tolerance=st.none() | st.floats(1.0, 60.0),
    changes=st.lists(st.floats(-0.6, 0.95), min_size=2, max_size=5),
)
def test_verdict_never_improves_as_the_slowdown_grows(
    speed, window_iqr_pct, gpu, tolerance, changes
):
    row = gpu_row if gpu else make_row
    baseline = [row(images_per_s=speed, window_iqr_pct=window_iqr_pct)]
    seen = []
    for slowdown in sorted(changes):  # -0.6: 60% faster ... 0.95: 95% slower
        current = [row(images_per_s=speed * (1 - slowdown), window_iqr_pct=window_iqr_pct)]
        seen.append(GOODNESS[verdict(baseline, current, max_slowdown_pct=tolerance)])
    assert seen == sorted(seen, reverse=True), seen
