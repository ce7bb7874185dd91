"""bench.evaluation: which metrics each variant gets, where evaluations fall, the grid.

The metric functions themselves are checked against their oracles in test_parzen,
test_fid, test_classifier and test_probe; here the wiring is pinned: each metric is
computed on the right images (the evaluator's numbers equal the metric functions'
applied by hand), and a metric that does not apply is absent with its reason.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import image as mpl_image
from sklearn.metrics import accuracy_score

from bench.batches import labelled_subset
from bench.datasets import Dataset
from bench.evaluation import (
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    EvaluationSettings,
    Evaluator,
    NonFiniteSamplesError,
    evaluation_windows,
    sample_grid_png,
)
from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import make_spec
from metrics.classifier import conditional_accuracy
from metrics.fid import RankDeficientCovarianceWarning, fid_from_features, kid_from_features
from metrics.inception import InceptionFeatures, _fid_inception_network, _randomise
from metrics.parzen import parzen_log_likelihood
from metrics.probe import linear_probe_accuracy
from metrics.semisup import classification_accuracy

SAMPLES = 300


@pytest.mark.parametrize(
    ("windows", "points", "expected"),
    [(10, 1, {10}), (10, 2, {5, 10}), (10, 3, {3, 7, 10}), (5, 5, {1, 2, 3, 4, 5})],
)
def test_evaluations_are_evenly_spaced_and_the_last_window_is_always_one(windows, points, expected):
    assert evaluation_windows(windows, points) == expected


@pytest.mark.parametrize("points", [0, 11])
def test_eval_points_outside_one_to_the_window_count_are_refused(points):
    with pytest.raises(ValueError, match=f"eval_points = {points}; must be in 1..10"):
        evaluation_windows(10, points)


def test_classification_accuracy_matches_scikit_learn():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 10))
    labels = rng.integers(0, 10, 500)
    labels[:200] = logits[:200].argmax(axis=1)  # some right, most by chance
    expected = accuracy_score(labels, logits.argmax(axis=1))
    assert classification_accuracy(logits, labels) == pytest.approx(expected, abs=0)


@pytest.mark.parametrize(
    ("logits", "labels", "message"),
    [
        (np.zeros((3, 1)), np.zeros(3, dtype=int), "expected \\(N, K\\)"),
        (np.zeros((3, 4)), np.zeros(2, dtype=int), "3 rows of logits but labels"),
        (np.zeros((3, 4)), np.full(3, 4), "labels span 4..4; allowed 0..3"),
        (np.zeros((3, 4)), np.zeros(3), "expected integers"),
        (np.full((3, 4), np.nan), np.zeros(3, dtype=int), "NaN"),
    ],
)
def test_classification_accuracy_refuses_bad_input_naming_it(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        classification_accuracy(logits, labels)


def decode_png(encoded: str) -> np.ndarray:
    return mpl_image.imread(io.BytesIO(base64.b64decode(encoded)), format="png")


def test_sample_grid_puts_class_r_on_row_r_for_conditional_samples():
    labels = np.arange(200) % 10
    # Each image is a flat grey whose level says its class: -1 (black) ... 0.8.
    samples = np.broadcast_to((labels / 5.0 - 1.0)[:, None, None, None], (200, 28, 28, 1))
    grid = decode_png(sample_grid_png(samples.astype(np.float32), labels, 10))
    assert grid.shape[:2] == (280, 280)
    row_levels = grid[:, :, 0].reshape(10, 28, 280).mean(axis=(1, 2))
    np.testing.assert_allclose(row_levels, np.arange(10) / 10.0, atol=3 / 255)


def test_sample_grid_of_unconditional_samples_has_the_first_hundred():
    samples = np.random.default_rng(0).uniform(-1, 1, (150, 28, 28, 1)).astype(np.float32)
    grid = decode_png(sample_grid_png(samples, None, 10))
    assert grid.shape[:2] == (280, 280)
    # matplotlib's grey colormap maps through a 256-entry table, then to 8 bits: ~2/255.
    np.testing.assert_allclose(grid[:28, :28, 0], (samples[0, :, :, 0] + 1) / 2, atol=3 / 255)


@pytest.fixture(scope="module")
def classifier_cache(tmp_path_factory) -> Path:
    """One folder for the module's reference classifier: trained once, then loaded."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def evaluators(digits, classifier_cache):
    """One evaluator per variant family, sharing a cached reference classifier."""
    cache = classifier_cache
    built = {}
    for variant in ("vanilla", "conditional", "ssgan"):
        spec = make_spec(variant, digits.image_shape, digits.num_classes, "tiny")
        settings = EvaluationSettings(
            samples=SAMPLES,
            inception_weights=Path("/no/such/pt_inception.pth"),
            seed=3,
            cache_dir=cache,
        )
        gan = registry.build("torch", variant, spec, BuildOptions(seed=0))
        built[variant] = (Evaluator(digits, spec, settings), gan)
    return built


def test_every_variant_gets_parzen_and_classifier_fid_on_its_own_samples(evaluators, digits):
    evaluator, gan = evaluators["vanilla"]
    result = evaluator.evaluate(gan, step=7, train_s=1.5)
    assert result.history_entry()["step"] == 7 and result.history_entry()["train_s"] == 1.5
    samples = gan.sample(SAMPLES, seed=3)  # the evaluator's z: the run's seed
    unit = ((samples + 1) / 2).reshape(SAMPLES, -1)
    parzen = parzen_log_likelihood(
        unit,
        ((digits.test_images + 1) / 2).reshape(len(digits.test_images), -1),
        ((digits.valid_images + 1) / 2).reshape(len(digits.valid_images), -1),
    )
    assert result.values["parzen_ll"] == pytest.approx(parzen.ll, rel=1e-6)  # float32 scaling here
    assert result.values["parzen_sigma"] == parzen.sigma
    assert result.values["parzen_samples"] == SAMPLES
    expected_fid = fid_from_features(
        evaluator.classifier.features(samples), evaluator.classifier.features(digits.test_images)
    )
    assert result.values["fid_classifier"] == pytest.approx(expected_fid, rel=1e-9)
    assert "fid_inception" not in result.values
    assert set(result.notes) == {"fid_inception", "cond_accuracy", "ssl_accuracy"}


def kid_by_hand(features: np.ndarray, real_features: np.ndarray) -> tuple[float, float]:
    """KID as the evaluator must compute it: generated first, real second, the run's seed."""
    return kid_from_features(
        features, real_features, num_subsets=KID_SUBSETS, subset_size=KID_SUBSET_SIZE, seed=3
    )


def probe_by_hand(gan, dataset: Dataset) -> float:
    """The linear probe on D's features of the run's 100 labelled training images (seed 3)."""
    labelled = labelled_subset(dataset.train_labels, 100, seed=3)
    return linear_probe_accuracy(
        gan.discriminator_features(dataset.train_images[labelled]),
        dataset.train_labels[labelled],
        gan.discriminator_features(dataset.test_images),
        dataset.test_labels,
        seed=3,
    )


# The evaluator and the hand computation below run the same float64 numpy and float32 torch
# operations, in the same order, on identical arrays in one process: the numbers are equal,
# not close, so any difference is a wiring defect (other images, split, seed or subsets).
def test_kid_and_probe_equal_the_metric_functions_on_the_same_arrays(evaluators, digits):
    evaluator, gan = evaluators["vanilla"]
    result = evaluator.evaluate(gan, step=7, train_s=1.5)
    samples = gan.sample(SAMPLES, seed=3)
    kid, kid_std = kid_by_hand(
        evaluator.classifier.features(samples), evaluator.classifier.features(digits.test_images)
    )
    assert (result.values["kid_classifier"], result.values["kid_classifier_std"]) == (kid, kid_std)
    assert result.values["probe_accuracy"] == probe_by_hand(gan, digits)
    assert "not found" in result.notes["fid_inception"]  # the reason, not a number


class DrawsRealDigitsOfTheAskedClass:
    """The conditional GAN, but sample(labels) returns real test digits of those classes,
    as a perfect generator would: its conditional accuracy is the classifier's own (~0.98),
    so a label mix-up in the wiring drops it to ~0.1. An untrained G cannot show that: its
    samples do not depend on the label, so any permutation of the labels scores the same."""

    def __init__(self, gan, dataset: Dataset) -> None:
        self.gan, self.dataset = gan, dataset

    def __getattr__(self, name):
        return getattr(self.gan, name)

    def sample(self, n, labels=None, seed=0):
        by_class = [np.flatnonzero(self.dataset.test_labels == c) for c in range(10)]
        rank = np.arange(n) // 10  # the k-th image asked for class c is its k-th test digit
        chosen = [by_class[c][k % len(by_class[c])] for c, k in zip(labels, rank, strict=True)]
        return self.dataset.test_images[chosen]


def test_conditional_gets_conditional_accuracy_and_no_probe_of_a_label_reading_d(
    evaluators, digits
):
    evaluator, gan = evaluators["conditional"]
    perfect = DrawsRealDigitsOfTheAskedClass(gan, digits)
    result = evaluator.evaluate(perfect, step=1, train_s=0.0)
    labels = np.arange(SAMPLES) % 10  # balanced, class r at rows r, r + 10, ...
    samples = perfect.sample(SAMPLES, labels, seed=3)
    expected = conditional_accuracy(evaluator.classifier, samples, labels)
    assert expected == np.mean(evaluator.classifier.predict(samples) == labels) > 0.9
    assert result.values["cond_accuracy"] == expected
    assert "probe_accuracy" not in result.values
    assert "takes the label as input" in result.notes["probe_accuracy"]


def test_ssgan_gets_the_test_accuracy_of_its_discriminator_as_classifier(evaluators, digits):
    evaluator, gan = evaluators["ssgan"]
    result = evaluator.evaluate(gan, step=1, train_s=0.0)
    expected = np.mean(gan.classify(digits.test_images).argmax(axis=1) == digits.test_labels)
    assert result.values["ssl_accuracy"] == expected
    assert result.values["ssl_accuracy"] == classification_accuracy(
        gan.classify(digits.test_images), digits.test_labels
    )
    assert result.values["probe_accuracy"] == probe_by_hand(gan, digits)
    assert "cond_accuracy" in result.notes


def test_nan_in_generated_images_is_divergence_at_that_step(evaluators):
    evaluator, gan = evaluators["vanilla"]

    class Broken:
        def __getattr__(self, name):
            return getattr(gan, name)

        def sample(self, n, labels=None, seed=0):
            images = gan.sample(n, labels, seed)
            images[5, 3, 3, 0] = np.inf
            return images

    with pytest.raises(NonFiniteSamplesError, match="non-finite generated images at step 40"):
        evaluator.evaluate(Broken(), step=40, train_s=2.0)


def test_too_few_eval_samples_are_refused(digits, tmp_path):
    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny")
    with pytest.raises(ValueError, match="eval_samples = 1; must be >= 2"):
        Evaluator(digits, spec, EvaluationSettings(samples=1, cache_dir=tmp_path))


INCEPTION_IMAGES = 5  # generated and as many real: 10 images through InceptionV3 (~3/s)


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory) -> Path:
    """A weights file of the FID network with seed-0 random weights: the real file's layout,
    written here, so the Inception branch runs offline and without pytorch-fid's download."""
    network = _fid_inception_network()
    _randomise(network, torch.Generator().manual_seed(0))
    path = tmp_path_factory.mktemp("inception") / "random_inception.pth"
    torch.save(network.state_dict(), path)
    return path


def test_inception_branch_gives_fid_and_kid_of_inception_features_of_samples_and_test_split(
    digits, classifier_cache, inception_weights
):
    """The evaluator's Inception FID and KID equal the metric functions applied by hand to
    InceptionV3 features (from the same weights file) of its samples and of the test split."""
    small = Dataset(  # the real training split (the cached classifier), 5 test images
        digits.name,
        digits.train_images,
        digits.train_labels,
        digits.valid_images,
        digits.valid_labels,
        digits.test_images[:INCEPTION_IMAGES],
        digits.test_labels[:INCEPTION_IMAGES],
        digits.num_classes,
    )
    spec = make_spec("vanilla", small.image_shape, small.num_classes, "tiny")
    settings = EvaluationSettings(
        samples=INCEPTION_IMAGES,
        inception_weights=inception_weights,
        seed=3,
        cache_dir=classifier_cache,
    )
    gan = registry.build("torch", "vanilla", spec, BuildOptions(seed=0))
    with pytest.warns(RankDeficientCovarianceWarning):  # 5 samples of 2048 features
        result = Evaluator(small, spec, settings).evaluate(gan, step=1, train_s=0.0)

    inception = InceptionFeatures(inception_weights)
    features = inception.features(gan.sample(INCEPTION_IMAGES, seed=3))
    real_features = inception.features(small.test_images)
    with pytest.warns(RankDeficientCovarianceWarning):
        expected_fid = fid_from_features(features, real_features)
    assert "fid_inception" not in result.notes
    assert result.values["fid_inception"] == expected_fid
    kid, kid_std = kid_by_hand(features, real_features)
    assert (result.values["kid_inception"], result.values["kid_inception_std"]) == (kid, kid_std)
