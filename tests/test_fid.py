"""Oracles for metrics.fid: pytorch-fid's Frechet distance, closed forms for Gaussians with
equal or diagonal covariances, and a naive double-loop unbiased MMD^2 for KID."""

import itertools
import warnings
from unittest import mock

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from metrics import fid
from metrics.fid import (
    RankDeficientCovarianceWarning,
    fid_from_features,
    fid_statistics,
    frechet_distance,
    kid_from_features,
)


def random_statistics(rng: np.random.Generator, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """A mean and a full-rank, non-diagonal covariance from 3 x dims correlated features."""
    mixing = rng.standard_normal((dims, dims)) / np.sqrt(dims)
    features = rng.standard_normal((3 * dims, dims)) @ mixing + rng.standard_normal(dims)
    return features.mean(axis=0), np.cov(features, rowvar=False)


# scipy 1.17 deprecates the `disp` argument pytorch-fid passes to sqrtm.
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated:DeprecationWarning")
@pytest.mark.parametrize("dims", [64, 256])
def test_frechet_distance_matches_pytorch_fid(dims: int) -> None:
    rng = np.random.default_rng(dims)
    mu1, sigma1 = random_statistics(rng, dims)
    mu2, sigma2 = random_statistics(rng, dims)
    expected = calculate_frechet_distance(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-6)


def test_fid_of_feature_set_with_itself_is_zero_within_roundoff() -> None:
    rng = np.random.default_rng(10)
    features = rng.standard_normal((2000, 64)) @ rng.standard_normal((64, 64))
    trace = np.trace(np.cov(features, rowvar=False))
    # FID(a, a) = 2 tr(S) - 2 sum sqrt(eig(S^2)). eigvalsh errs by ~eps * lambda_max^2, which
    # moves sqrt(lambda_i^2) by ~eps * lambda_max * cond(S) / 2; over D = 64 eigenvalues, with
    # cond(S) ~ 2.4e3 here: <= 64 * 2.4e3 * 2.2e-16 / 2 * tr(S) ~ 2e-11 tr(S). Allow 1e-10 tr(S)
    # (~4e-7; measured 1.6e-10). A wrong factor or term is off by ~tr(S) = 4e3.
    assert abs(fid_from_features(features, features)) <= 1e-10 * trace


def test_fid_with_equal_covariances_is_squared_mean_difference() -> None:
    covariance = np.array([[2.0, 0.5, 0.0], [0.5, 1.0, 0.3], [0.0, 0.3, 3.0]])
    mu1 = np.array([1.0, 2.0, 3.0])
    mu2 = np.array([2.0, 0.0, 5.0])
    # tr(S + S - 2 (S S)^{1/2}) = tr(2S - 2S) = 0, so
    # FID = ||mu1 - mu2||^2 = (1 - 2)^2 + (2 - 0)^2 + (3 - 5)^2 = 1 + 4 + 4 = 9.
    assert frechet_distance(mu1, covariance, mu2, covariance) == pytest.approx(9.0, abs=1e-12)


def test_frechet_distance_of_diagonal_gaussians_is_sum_of_sqrt_variance_gaps() -> None:
    mu = np.zeros(3)
    sigma1 = np.diag([1.0, 4.0, 9.0])
    sigma2 = np.diag([4.0, 1.0, 16.0])
    # Diagonal: tr(S1 + S2 - 2 (S1 S2)^{1/2}) = sum (sqrt(a) - sqrt(b))^2
    # = (1 - 2)^2 + (2 - 1)^2 + (3 - 4)^2 = 3. An equal-covariance test cannot see this term.
    assert frechet_distance(mu, sigma1, mu, sigma2) == pytest.approx(3.0, abs=1e-12)


def test_fid_grows_monotonically_as_gaussian_is_shifted() -> None:
    rng = np.random.default_rng(11)
    reference = rng.standard_normal((1000, 16))
    other = rng.standard_normal((1000, 16))
    fids = [fid_from_features(reference, other + shift) for shift in [0.0, 0.1, 0.3, 1.0, 3.0]]
    assert all(near < far for near, far in itertools.pairwise(fids))
    # A shift of 3 in each of 16 dims adds ~16 * 9 = 144 to a sampling-noise baseline.
    assert fids[-1] - fids[0] == pytest.approx(144.0, rel=0.05)


@pytest.mark.parametrize("num_samples", [10, 32])
def test_fid_statistics_warns_rank_deficient_when_samples_at_most_dims(num_samples: int) -> None:
    features = np.random.default_rng(12).standard_normal((num_samples, 32))
    with pytest.warns(RankDeficientCovarianceWarning, match=rf"N={num_samples} .*D=32"):
        fid_statistics(features)


def test_fid_statistics_do_not_warn_with_more_samples_than_dims() -> None:
    features = np.random.default_rng(13).standard_normal((33, 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mu, sigma = fid_statistics(features)
    np.testing.assert_allclose(mu, features.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False))  # ddof=1, as pytorch-fid


def test_fid_from_features_reports_rank_deficiency() -> None:
    rng = np.random.default_rng(14)
    with pytest.warns(RankDeficientCovarianceWarning):
        fid = fid_from_features(rng.standard_normal((20, 64)), rng.standard_normal((20, 64)))
    assert np.isfinite(fid)


FEATURES = np.random.default_rng(15).standard_normal((10, 4))
FID_BAD_INPUTS = {
    "mismatched_dims": ((FEATURES, FEATURES[:, :3]), r"features_b has D=3 .*D=4"),
    "nan": ((FEATURES, np.where(np.eye(10, 4) == 1, np.nan, 1.0)), r"features_b contains nan"),
    "inf": ((np.full((10, 4), np.inf), FEATURES), r"features_a contains inf"),
    "one_dimensional": ((FEATURES[0], FEATURES), r"features_a has shape \(4,\).*2-d"),
    "three_dimensional": ((FEATURES, FEATURES[None]), r"features_b has shape \(1, 10, 4\)"),
    "one_sample": ((FEATURES[:1], FEATURES), r"features_a has shape \(1, 4\).*N >= 2"),
}


@pytest.mark.parametrize("case", FID_BAD_INPUTS, ids=list(FID_BAD_INPUTS))
def test_fid_and_kid_reject_bad_features_naming_the_value(case: str) -> None:
    (features_a, features_b), message = FID_BAD_INPUTS[case]
    with pytest.raises(ValueError, match=message):
        fid_from_features(features_a, features_b)
    with pytest.raises(ValueError, match=message):
        kid_from_features(features_a, features_b)


def test_frechet_distance_rejects_mismatched_statistics() -> None:
    eye = np.eye(3)
    with pytest.raises(ValueError, match=r"mu1 has D=3 but mu2 has D=2"):
        frechet_distance(np.zeros(3), eye, np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match=r"sigma2 has shape \(2, 2\).*\(3, 3\)"):
        frechet_distance(np.zeros(3), eye, np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match=r"mu2 contains nan"):
        frechet_distance(np.zeros(3), eye, np.array([0.0, np.nan, 0.0]), eye)


def test_frechet_distance_rejects_non_covariance_matrices() -> None:
    mu = np.zeros(2)
    with pytest.raises(ValueError, match=r"sigma1 differs from its transpose by 1: not symmetric"):
        frechet_distance(mu, np.array([[1.0, 1.0], [0.0, 1.0]]), mu, np.eye(2))
    # Eigenvalues 3 and -1: a live guard, not clipped away as round-off.
    with pytest.raises(ValueError, match=r"sigma1 has eigenvalue -1 .*positive semi-definite"):
        frechet_distance(mu, np.array([[1.0, 2.0], [2.0, 1.0]]), mu, np.eye(2))
    with pytest.raises(ValueError, match=r"sigma2 .*eigenvalue -1 .*positive semi-definite"):
        frechet_distance(mu, np.eye(2), mu, np.array([[1.0, 2.0], [2.0, 1.0]]))


def frechet_distance_by_eigendecomposition(mu1, sigma1, mu2, sigma2) -> float:
    """The method metrics.fid used before the Cholesky factor, verbatim: the oracle the new
    one must match to 1e-9 relative (issue 17 item 10)."""
    eigenvalues1, eigenvectors1 = np.linalg.eigh(sigma1)
    half = eigenvectors1 * np.sqrt(np.clip(eigenvalues1, 0.0, None))
    product = half.T @ sigma2 @ half
    product_eigenvalues = np.linalg.eigvalsh((product + product.T) / 2)
    trace_sqrt_product = np.sqrt(np.clip(product_eigenvalues, 0.0, None)).sum()
    mean_diff = mu1 - mu2
    return float(
        mean_diff @ mean_diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product
    )


def covariance_with_spectrum(rng: np.random.Generator, eigenvalues: np.ndarray) -> np.ndarray:
    """Q diag(eigenvalues) Q^T for a random rotation Q: a covariance of known conditioning."""
    rotation, _ = np.linalg.qr(rng.standard_normal((len(eigenvalues), len(eigenvalues))))
    covariance = (rotation * eigenvalues) @ rotation.T
    return (covariance + covariance.T) / 2


def near_singular_statistics(rng: np.random.Generator, dims: int):
    """sigma1 positive definite with eigenvalues from 1 down to 1e-12 (condition 1e12)."""
    sigma1 = covariance_with_spectrum(rng, np.logspace(0, -12, dims))
    mu2, sigma2 = random_statistics(rng, dims)
    return rng.standard_normal(dims), sigma1, mu2, sigma2


def singular_statistics(rng: np.random.Generator, dims: int):
    """sigma1 of rank dims // 2 (N < D features, as a small eval set gives): no Cholesky."""
    features = rng.standard_normal((dims // 2 + 1, dims)) @ rng.standard_normal((dims, dims))
    mu2, sigma2 = random_statistics(rng, dims)
    return features.mean(axis=0), np.cov(features, rowvar=False), mu2, sigma2


STATISTICS = {
    "random": lambda rng, dims: (*random_statistics(rng, dims), *random_statistics(rng, dims)),
    "near_singular": near_singular_statistics,
    "singular": singular_statistics,
}
# Which factor of sigma1 each case must take: Cholesky unless sigma1 is singular.
TAKES_EIGEN_FALLBACK = {"random": False, "near_singular": False, "singular": True}


@pytest.mark.parametrize("dims", [64, 512])
@pytest.mark.parametrize("case", STATISTICS, ids=list(STATISTICS))
def test_frechet_distance_equals_the_eigendecomposition_method_to_1e9_in_both_branches(
    case: str, dims: int
) -> None:
    statistics = STATISTICS[case](np.random.default_rng(dims), dims)
    with mock.patch.object(
        fid, "_eigen_square_root_factor", wraps=fid._eigen_square_root_factor
    ) as fallback:
        ours = frechet_distance(*statistics)
    assert fallback.called == TAKES_EIGEN_FALLBACK[case]
    # Both compute tr((S1 S2)^{1/2}) as the eigenvalues of a symmetric matrix similar to
    # S1 S2; they differ by round-off: measured at most 9e-12 relative (near-singular, D=512).
    assert ours == pytest.approx(frechet_distance_by_eigendecomposition(*statistics), rel=1e-9)


def test_singular_sigma1_takes_the_fallback_and_keeps_the_closed_form() -> None:
    mu = np.zeros(3)
    sigma1 = np.diag([0.0, 4.0, 9.0])  # singular: np.linalg.cholesky refuses it
    sigma2 = np.diag([4.0, 1.0, 16.0])
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.cholesky(sigma1)
    # Diagonal: sum (sqrt(a) - sqrt(b))^2 = (0 - 2)^2 + (2 - 1)^2 + (3 - 4)^2 = 6.
    assert frechet_distance(mu, sigma1, mu, sigma2) == pytest.approx(6.0, abs=1e-12)


def naive_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Gretton et al. 2012 eq. 3 by double loops, with k(a, b) = (a.b / d + 1)^3."""
    m, dims = x.shape

    def kernel(a: np.ndarray, b: np.ndarray) -> float:
        return (float(a @ b) / dims + 1.0) ** 3

    xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_matches_naive_double_loop_mmd_when_one_subset_is_the_whole_set() -> None:
    rng = np.random.default_rng(16)
    features_a = rng.standard_normal((7, 3))
    features_b = rng.standard_normal((7, 3)) + 0.5
    mean, std = kid_from_features(features_a, features_b, num_subsets=1, subset_size=1000)
    assert mean == pytest.approx(naive_unbiased_mmd2(features_a, features_b), rel=1e-9)
    assert std == 0.0


def test_kid_clips_subset_size_and_draws_subsets_from_seeded_default_rng() -> None:
    rng = np.random.default_rng(17)
    features_a, features_b = rng.standard_normal((9, 3)), rng.standard_normal((6, 3))
    mean, _ = kid_from_features(features_a, features_b, num_subsets=1, subset_size=50, seed=3)
    # subset_size 50 is clipped to min(9, 6) = 6; the subsets are the first two draws.
    draws = np.random.default_rng(3)
    subset_a = features_a[draws.choice(9, 6, replace=False)]
    subset_b = features_b[draws.choice(6, 6, replace=False)]
    assert mean == pytest.approx(naive_unbiased_mmd2(subset_a, subset_b), rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_when_shifted() -> None:
    rng = np.random.default_rng(18)
    features_a = rng.standard_normal((600, 16))
    features_b = rng.standard_normal((600, 16))
    same_mean, same_std = kid_from_features(features_a, features_b, num_subsets=50, subset_size=200)
    shifted_mean, shifted_std = kid_from_features(
        features_a, features_b + 0.5, num_subsets=50, subset_size=200
    )
    assert abs(same_mean) < 3 * same_std
    assert shifted_mean > 10 * shifted_std
    assert shifted_mean > 10 * abs(same_mean)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_subsets=0), r"num_subsets=0: must be an int >= 1"),
        (dict(subset_size=1), r"subset_size=1: must be an int >= 2"),
        (dict(subset_size=2.5), r"subset_size=2\.5: must be an int >= 2"),
    ],
)
def test_kid_rejects_bad_subset_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        kid_from_features(FEATURES, FEATURES, **kwargs)
