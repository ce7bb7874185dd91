"""metrics.probe: a linear probe finds linear structure where there is some (digit pixels,
separable features) and none in noise."""

import numpy as np
import pytest

from bench.batches import labelled_subset
from bench.datasets import Dataset
from metrics.probe import linear_probe_accuracy


def test_probe_on_digit_pixels_with_100_labels_is_far_above_chance(digits: Dataset) -> None:
    labelled = labelled_subset(digits.train_labels, 100, seed=0)
    accuracy = linear_probe_accuracy(
        digits.train_images[labelled].reshape(100, -1),
        digits.train_labels[labelled],
        digits.test_images.reshape(len(digits.test_images), -1),
        digits.test_labels,
    )
    print(f"linear probe on digits pixels, 100 labels: {accuracy:.4f}")
    assert accuracy > 0.7  # chance is 0.1


def test_probe_on_random_noise_features_is_at_chance() -> None:
    rng = np.random.default_rng(0)
    accuracy = linear_probe_accuracy(
        rng.standard_normal((100, 64)),
        np.arange(100) % 10,
        rng.standard_normal((2000, 64)),
        rng.integers(0, 10, 2000),
    )
    assert abs(accuracy - 0.1) < 0.04  # 0.04 is ~6 binomial standard deviations at n=2000


def test_probe_separates_linearly_separable_features_perfectly() -> None:
    rng = np.random.default_rng(1)
    train_labels, test_labels = np.arange(50) % 5, rng.integers(0, 5, 500)

    def features(labels: np.ndarray) -> np.ndarray:
        return np.eye(5)[labels] * 10.0 + rng.standard_normal((len(labels), 5))

    accuracy = linear_probe_accuracy(
        features(train_labels), train_labels, features(test_labels), test_labels
    )
    assert accuracy == 1.0


def test_probe_rejects_features_of_different_dimensions() -> None:
    with pytest.raises(ValueError, match="D=8 but test features D=9"):
        linear_probe_accuracy(np.zeros((10, 8)), np.arange(10) % 2, np.zeros((4, 9)), np.zeros(4))


def test_probe_rejects_labels_that_do_not_match_the_features() -> None:
    with pytest.raises(ValueError, match="train labels"):
        linear_probe_accuracy(np.zeros((10, 8)), np.arange(9) % 2, np.zeros((4, 8)), np.zeros(4))
