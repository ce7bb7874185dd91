"""bench.references: the real-data floor and the noise ceiling, in a run's own metrics.

The oracle is the metric functions applied by hand to the same images against the test
split: a reference scored in other features, on another split or with another count would
not be the yardstick the issue asks for.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench import references
from bench.evaluation import EvaluationSettings, Evaluator
from implementations.spec import make_spec
from metrics.fid import fid_from_features
from metrics.parzen import parzen_log_likelihood

SAMPLES = 300


@pytest.fixture(scope="module")
def evaluator(digits) -> Evaluator:
    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "paper")
    settings = EvaluationSettings(samples=SAMPLES, inception=False)
    return Evaluator(digits, spec, settings)


@pytest.fixture(scope="module")
def computed(evaluator) -> tuple[references.Reference, references.Reference]:
    return references.compute_references(evaluator)


def unit_flat(images: np.ndarray) -> np.ndarray:
    return ((np.asarray(images, np.float64) + 1.0) / 2.0).reshape(len(images), -1)


def test_real_reference_is_training_images_with_their_labels(digits):
    images, labels = references.real_images(digits.train_images, digits.train_labels, 2000)
    flat_train = digits.train_images.reshape(len(digits.train_images), -1)
    for image, label in zip(images[:50], labels[:50], strict=True):
        matches = np.flatnonzero((flat_train == image.reshape(1, -1)).all(axis=1))
        assert label in digits.train_labels[matches]
    assert images.shape == (2000, *digits.image_shape)
    again, _ = references.real_images(digits.train_images, digits.train_labels, 2000)
    assert np.array_equal(images, again)  # the same draw every time: it is cached by identity


def test_noise_reference_is_uniform_noise_with_balanced_labels(digits):
    images, labels = references.noise_images(digits.image_shape, 10, 1000)
    assert images.shape == (1000, *digits.image_shape)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert abs(float(images.mean())) < 0.01  # mean of 784,000 uniforms: std 0.00065
    assert np.bincount(labels).tolist() == [100] * 10


def test_references_are_scored_in_the_run_features_against_the_test_split(
    evaluator, digits, computed
):
    real, noise = computed
    for reference, (images, labels) in [
        (real, references.real_images(digits.train_images, digits.train_labels, SAMPLES)),
        (noise, references.noise_images(digits.image_shape, digits.num_classes, SAMPLES)),
    ]:
        features = evaluator.classifier.features(images)
        test_features = evaluator.classifier.features(digits.test_images)
        parzen = parzen_log_likelihood(
            unit_flat(images), unit_flat(digits.test_images), unit_flat(digits.valid_images)
        )
        accuracy = float(np.mean(evaluator.classifier.predict(images) == labels))
        assert reference.samples == SAMPLES
        assert reference.fid_classifier == pytest.approx(
            fid_from_features(features, test_features), rel=1e-9
        )
        assert reference.parzen_ll == pytest.approx(parzen.ll, rel=1e-12)
        assert reference.classifier_accuracy == accuracy
        assert reference.fid_inception is None  # Inception is off in this evaluator
    assert real.fid_classifier < noise.fid_classifier
    assert real.parzen_ll > noise.parzen_ll


def test_references_are_cached_and_keyed_by_the_sample_count(evaluator, digits, computed, tmp_path):
    first = references.load_or_compute(evaluator, tmp_path)
    assert first == computed
    path = references.cache_path(evaluator, tmp_path)
    assert json.loads(path.read_text())["identity"]["samples"] == SAMPLES

    def must_not_compute(*args, **kwargs):
        raise AssertionError("computed again although cached")

    evaluator_image_metrics = evaluator.image_metrics
    try:
        evaluator.image_metrics = must_not_compute  # type: ignore[method-assign]
        assert references.load_or_compute(evaluator, tmp_path) == first
    finally:
        evaluator.image_metrics = evaluator_image_metrics  # type: ignore[method-assign]
    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "paper")
    other = Evaluator(digits, spec, EvaluationSettings(samples=SAMPLES + 1, inception=False))
    assert references.cache_path(other, tmp_path) != path


def test_unreadable_cache_file_is_recomputed(evaluator, tmp_path):
    path = references.cache_path(evaluator, tmp_path)
    path.write_text("{not json")
    real, _ = references.load_or_compute(evaluator, tmp_path)
    assert real.samples == SAMPLES
    assert json.loads(path.read_text())["real"]["fid_classifier"] == real.fid_classifier


def test_row_values_round_trip(computed):
    real, _ = computed
    assert references.Reference.from_row_values("real", real.row_values()) == real
