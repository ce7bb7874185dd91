"""Oracles for metrics.parzen: a naive per-point log-sum-exp, sklearn's exact KDE, and the
Goodfellow 2014 protocol (sigma chosen on valid, reported on test, se = std / sqrt(N))."""

import itertools
import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from sklearn.neighbors import KernelDensity

from metrics import parzen
from metrics.parzen import (
    ParzenResult,
    parzen_log_likelihood,
    parzen_log_likelihood_per_point,
)


def naive_log_likelihood(samples: np.ndarray, points: np.ndarray, sigma: float) -> np.ndarray:
    """log (1/N sum_j N(x; s_j, sigma^2 I)), one point at a time, straight from the definition."""
    num_samples, dims = samples.shape
    log_normaliser = math.log(num_samples) + dims * math.log(sigma * math.sqrt(2 * math.pi))
    return np.array(
        [
            logsumexp(-((x - samples) ** 2).sum(axis=1) / (2 * sigma**2)) - log_normaliser
            for x in points
        ]
    )


def uniform(rng: np.random.Generator, rows: int, dims: int) -> np.ndarray:
    return rng.random((rows, dims))


@pytest.mark.parametrize("sigma", [0.05, 0.2, 1.0])
def test_parzen_matches_naive_per_point_logsumexp(sigma: float) -> None:
    rng = np.random.default_rng(0)
    samples, points = uniform(rng, 300, 20), uniform(rng, 40, 20)
    ours = parzen_log_likelihood_per_point(samples, points, sigma)
    assert ours.shape == (40,)
    np.testing.assert_allclose(
        ours, naive_log_likelihood(samples, points, sigma), rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("sigma", [0.1, 0.3])
def test_parzen_matches_kernel_density_per_point(sigma: float) -> None:
    rng = np.random.default_rng(1)
    samples, points = uniform(rng, 200, 3), uniform(rng, 50, 3)
    # rtol = atol = 0 (the defaults) make sklearn's tree sum exact.
    sklearn_ll = (
        KernelDensity(kernel="gaussian", bandwidth=sigma).fit(samples).score_samples(points)
    )
    ours = parzen_log_likelihood_per_point(samples, points, sigma)
    np.testing.assert_allclose(ours, sklearn_ll, rtol=0, atol=1e-6)


def test_parzen_chooses_sigma_with_best_validation_ll() -> None:
    rng = np.random.default_rng(2)
    # Valid comes from the samples' blob, so its best sigma is inside the grid (choosing the
    # first, last or argmin sigma fails); test is wider, so choosing on test fails too.
    samples = 0.5 + 0.08 * rng.standard_normal((400, 2))
    valid = 0.5 + 0.08 * rng.standard_normal((100, 2))
    test = 0.5 + 0.3 * rng.standard_normal((60, 2))
    grid = tuple(np.logspace(-2.5, -0.5, 9))
    result = parzen_log_likelihood(samples, test, valid, sigmas=grid)

    naive_valid = [naive_log_likelihood(samples, valid, s).mean() for s in grid]
    naive_test = [naive_log_likelihood(samples, test, s).mean() for s in grid]
    best = int(np.argmax(naive_valid))
    assert 0 < best < len(grid) - 1
    assert best != int(np.argmax(naive_test))
    assert result.sigma == grid[best]
    np.testing.assert_allclose(result.valid_ll, naive_valid, rtol=0, atol=1e-6)
    assert result.ll == pytest.approx(
        naive_log_likelihood(samples, test, grid[best]).mean(), abs=1e-6
    )
    assert result.sigmas == grid
    assert result.num_samples == 400


def test_parzen_standard_error_is_std_over_sqrt_n() -> None:
    rng = np.random.default_rng(3)
    samples, test, valid = uniform(rng, 100, 5), uniform(rng, 20, 5), uniform(rng, 20, 5)
    result = parzen_log_likelihood(samples, test, valid, sigmas=[0.2])
    per_point = naive_log_likelihood(samples, test, 0.2)
    # Goodfellow's parzen_ll.py uses numpy's std (ddof=0); with N=20, ddof=1 is 2.6% larger.
    assert result.se == pytest.approx(per_point.std() / math.sqrt(20), rel=1e-9)


def test_parzen_default_grid_is_logspace_minus_one_to_zero() -> None:
    rng = np.random.default_rng(4)
    samples, test, valid = uniform(rng, 50, 4), uniform(rng, 10, 4), uniform(rng, 10, 4)
    result = parzen_log_likelihood(samples, test, valid)
    np.testing.assert_allclose(result.sigmas, np.logspace(-1, 0, 10), rtol=1e-15)
    assert len(result.valid_ll) == 10
    assert isinstance(result, ParzenResult)


@pytest.mark.parametrize("sigma", [0.1, 0.2])
def test_parzen_stays_finite_in_784_dims_where_naive_mean_exp_underflows(sigma: float) -> None:
    rng = np.random.default_rng(5)
    samples, points = uniform(rng, 500, 784), uniform(rng, 8, 784)
    sq_dist = ((points[:, None, :] - samples[None, :, :]) ** 2).sum(axis=2)
    # Squared distances are ~130 here, so every exp(-130 / (2 sigma^2)) is exp(<= -1600) = 0.
    with np.errstate(divide="ignore"):
        naive_log_mean_exp = np.log(np.mean(np.exp(-sq_dist / (2 * sigma**2)), axis=1))
    assert np.all(naive_log_mean_exp == -np.inf)

    ours = parzen_log_likelihood_per_point(samples, points, sigma)
    assert np.all(np.isfinite(ours))
    np.testing.assert_allclose(ours, naive_log_likelihood(samples, points, sigma), atol=1e-6)


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64])
def test_parzen_chunking_gives_the_same_result_as_one_chunk(chunk_size: int) -> None:
    rng = np.random.default_rng(6)
    points = uniform(rng, 23, 50)
    samples = uniform(rng, 37, 50)
    # Far-to-near from the first point: every sample block lowers the running minimum, so
    # the rescaling of the partial sums is exercised (a missed rescale is ~100 nats off).
    samples = samples[np.argsort(-((samples - points[0]) ** 2).sum(axis=1))]
    sigmas = (0.1, 0.3, 1.0)
    one_chunk = parzen._log_likelihood_grid(samples, points, sigmas, 10_000, None)
    chunked = parzen._log_likelihood_grid(samples, points, sigmas, chunk_size, None)
    np.testing.assert_allclose(chunked, one_chunk, rtol=0, atol=1e-9)
    np.testing.assert_allclose(chunked[0], naive_log_likelihood(samples, points, 0.1), atol=1e-6)


def test_parzen_clamps_round_off_distances_so_a_sample_never_beats_the_kernel_peak() -> None:
    # A point that is a sample has squared distance 0, but ||x||^2 - 2 x.x + ||x||^2 rounds to
    # +-1e-13; unclamped, the negative ones put log p above its peak by ~1e-13 / (2 sigma^2).
    points = uniform(np.random.default_rng(8), 200, 784)
    sigma = 0.01
    peak = -math.log(200) - 784 * math.log(sigma * math.sqrt(2 * math.pi))
    ours = parzen_log_likelihood_per_point(points, points, sigma)
    assert ours.max() <= peak + 1e-12
    np.testing.assert_allclose(ours, peak, rtol=0, atol=1e-8)


def test_parzen_ll_falls_as_test_points_move_away() -> None:
    rng = np.random.default_rng(7)
    samples = 0.3 + 0.05 * rng.standard_normal((300, 10))
    test = 0.3 + 0.05 * rng.standard_normal((50, 10))
    shifts = [0.0, 0.05, 0.1, 0.2, 0.4]
    lls = [parzen_log_likelihood_per_point(samples, test + shift, 0.1).mean() for shift in shifts]
    assert all(near > far for near, far in itertools.pairwise(lls))


def test_parzen_restores_tf32_setting_and_disables_it_while_computing(monkeypatch) -> None:
    seen_during = []
    original = parzen._log_sum_exp_over_samples

    def spy(*args, **kwargs):
        seen_during.append(torch.backends.cuda.matmul.allow_tf32)
        return original(*args, **kwargs)

    monkeypatch.setattr(parzen, "_log_sum_exp_over_samples", spy)
    previous = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        parzen_log_likelihood_per_point(np.zeros((4, 2)), np.ones((3, 2)), 0.5)
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous
    assert seen_during == [False]


GOOD = np.full((5, 4), 0.5)
BAD_INPUTS = {
    "nan_in_samples": (dict(samples=np.where(np.eye(5, 4) == 1, np.nan, 0.5)), r"samples .*nan"),
    "inf_in_test": (dict(test=np.where(np.eye(5, 4) == 1, np.inf, 0.5)), r"test .*inf"),
    "nan_in_valid": (dict(valid=np.full((5, 4), np.nan)), r"valid .*nan"),
    "samples_1d": (dict(samples=np.zeros(4)), r"samples .*\(4,\).*2-d"),
    "test_3d": (dict(test=np.zeros((2, 2, 4))), r"test .*\(2, 2, 4\).*2-d"),
    "valid_wrong_dims": (dict(valid=np.zeros((5, 3))), r"valid has D=3.*D=4"),
    "test_wrong_dims": (dict(test=np.zeros((5, 6))), r"test has D=6.*D=4"),
    "empty_samples": (dict(samples=np.zeros((0, 4))), r"samples .*\(0, 4\)"),
    "empty_test": (dict(test=np.zeros((0, 4))), r"test .*\(0, 4\)"),
    "zero_sigma": (dict(sigmas=[0.1, 0.0]), r"sigma=0\.0"),
    "negative_sigma": (dict(sigmas=[-0.5]), r"sigma=-0\.5"),
    "nan_sigma": (dict(sigmas=[float("nan")]), r"sigma=nan"),
    "empty_grid": (dict(sigmas=[]), r"sigmas=\(\)"),
    "zero_chunk_size": (dict(chunk_size=0), r"chunk_size=0"),
    "string_array": (dict(samples=np.full((5, 4), "a")), r"samples has dtype <U1"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_parzen_rejects_bad_input_naming_the_value(case: str) -> None:
    overrides, message = BAD_INPUTS[case]
    kwargs = dict(samples=GOOD, test=GOOD, valid=GOOD) | overrides
    with pytest.raises(ValueError, match=message) as raised:
        parzen_log_likelihood(**kwargs)
    assert "\n" not in str(raised.value)


def test_parzen_per_point_rejects_nonpositive_sigma() -> None:
    with pytest.raises(ValueError, match=r"sigma=-1\.0.*> 0"):
        parzen_log_likelihood_per_point(GOOD, GOOD, -1.0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error path")
def test_parzen_rejects_cuda_when_unavailable() -> None:
    with pytest.raises(ValueError, match=r"device='cuda'.*not available"):
        parzen_log_likelihood_per_point(GOOD, GOOD, 0.5, device="cuda")
