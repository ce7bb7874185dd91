"""Speed of the metrics against the straightforward versions they replace.

Skipped by default (pyproject's addopts has --benchmark-skip). Run with:
    pytest tests/test_metrics_speed.py --benchmark-only
Each test times ours with the `benchmark` fixture and the baseline with perf_counter in
the same process, checks both compute the same numbers, records both times and their
ratio in `benchmark.extra_info` (see --benchmark-json), then asserts the target ratio.
Both sides are the fastest of their rounds: on a shared machine the minimum is the run
least disturbed by other processes (as `timeit` advises); medians there measure the load.
"""

import math
import time
from collections.abc import Callable

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance
from scipy.special import logsumexp

from metrics import parzen
from metrics.fid import frechet_distance

PARZEN_SPEEDUP_TARGET = 10.0
FRECHET_SPEEDUP_TARGET = 5.0


def parzen_grid_recomputing_distances(
    samples: np.ndarray, points: np.ndarray, sigmas: tuple[float, ...], chunk_points: int = 1000
) -> np.ndarray:
    """The straightforward version: for each sigma, for each chunk of points, recompute the
    matmul distances and take scipy's logsumexp over samples."""
    samples, points = samples.astype(np.float64), points.astype(np.float64)
    num_samples, dims = samples.shape
    sample_sq_norms = (samples**2).sum(axis=1)
    log_likelihood = np.empty((len(sigmas), len(points)))
    for k, sigma in enumerate(sigmas):
        log_normaliser = math.log(num_samples) + dims * math.log(sigma * math.sqrt(2 * math.pi))
        for start in range(0, len(points), chunk_points):
            block = points[start : start + chunk_points]
            sq_dist = (block**2).sum(axis=1)[:, None] - 2.0 * block @ samples.T + sample_sq_norms
            exponents = -sq_dist / (2 * sigma**2)
            log_likelihood[k, start : start + chunk_points] = (
                logsumexp(exponents, axis=1) - log_normaliser
            )
    return log_likelihood


def best_of(rounds: int, function: Callable[[], object]) -> tuple[float, object]:
    """Fastest wall time over `rounds` calls, and the last result."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def record_speedup(benchmark, baseline_s: float, target: float) -> float:
    ours_s = benchmark.stats.stats.min
    speedup = baseline_s / ours_s
    benchmark.extra_info.update(
        {"ours_min_s": ours_s, "baseline_min_s": baseline_s, "speedup": speedup, "target": target}
    )
    return speedup


@pytest.mark.slow
@pytest.mark.benchmark(group="parzen 10k points x 10k samples x 784 dims x 10 sigmas")
def test_parzen_grid_is_10x_faster_than_recomputing_distances_per_sigma(benchmark) -> None:
    rng = np.random.default_rng(0)
    samples = rng.random((10_000, 784), dtype=np.float32)
    points = rng.random((10_000, 784), dtype=np.float32)
    sigmas = parzen.DEFAULT_SIGMAS

    # The whole grid over one split: the stage that reusing distances speeds up.
    ours = benchmark.pedantic(
        parzen._log_likelihood_grid,
        args=(samples, points, sigmas, parzen.DEFAULT_CHUNK_SIZE, None),
        rounds=3,
        iterations=1,
    )
    baseline_s, baseline = best_of(
        1, lambda: parzen_grid_recomputing_distances(samples, points, sigmas)
    )

    np.testing.assert_allclose(ours, baseline, rtol=0, atol=1e-6)
    assert record_speedup(benchmark, baseline_s, PARZEN_SPEEDUP_TARGET) >= PARZEN_SPEEDUP_TARGET


# scipy 1.17 deprecates the `disp` argument pytorch-fid passes to sqrtm.
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.slow
@pytest.mark.benchmark(group="frechet distance 2048 dims")
def test_frechet_distance_is_5x_faster_than_pytorch_fid_sqrtm(benchmark) -> None:
    rng = np.random.default_rng(1)
    statistics = []
    for shift in (0.0, 0.2):
        mixing = rng.standard_normal((2048, 2048)) / math.sqrt(2048)
        features = rng.standard_normal((4096, 2048)) @ mixing + shift
        statistics += [features.mean(axis=0), np.cov(features, rowvar=False)]

    ours = benchmark.pedantic(
        frechet_distance, args=tuple(statistics), rounds=5, iterations=1, warmup_rounds=1
    )
    baseline_s, baseline = best_of(2, lambda: calculate_frechet_distance(*statistics))

    assert ours == pytest.approx(baseline, rel=1e-6)
    assert record_speedup(benchmark, baseline_s, FRECHET_SPEEDUP_TARGET) >= FRECHET_SPEEDUP_TARGET
