"""metrics.classifier: the digits reference classifier is accurate, deterministic, and
cached without pickle; a bad cache file is reported and rebuilt, never trusted."""

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import metrics.classifier as classifier_module
import metrics.classifier_cache as classifier_cache
from bench.datasets import Dataset
from bench.evaluation import load_reference_classifier
from bench.runner import reference_classifier_cached
from metrics.classifier import (
    ClassifierCacheWarning,
    ReferenceClassifier,
    TrainingSettings,
    conditional_accuracy,
    train_reference_classifier,
)
from tests.conftest import run_python

TINY_SETTINGS = TrainingSettings(epochs=1, batch_size=32)


def load_or_train(dataset: Dataset, cache_dir: Path, settings: TrainingSettings):
    """The evaluator's way in: metrics.classifier.load_or_train on a Dataset's plain fields."""
    return load_reference_classifier(dataset, cache_dir, settings)


def cache_paths(dataset: Dataset, cache_dir: Path, settings: TrainingSettings):
    return classifier_cache.cache_paths(
        dataset.name,
        dataset.train_images,
        dataset.train_labels,
        dataset.num_classes,
        cache_dir,
        settings,
    )


@pytest.fixture(scope="module")
def digits_classifier(digits: Dataset) -> ReferenceClassifier:
    return train_reference_classifier(digits.train_images, digits.train_labels, 10)


@pytest.fixture(scope="module")
def tiny_digits(digits: Dataset) -> Dataset:
    """200 train / 100 test digits: enough to exercise the cache in a fraction of a second."""
    return Dataset(
        "tiny_digits",
        digits.train_images[:200],
        digits.train_labels[:200],
        digits.valid_images[:50],
        digits.valid_labels[:50],
        digits.test_images[:100],
        digits.test_labels[:100],
        num_classes=10,
    )


def test_reference_classifier_is_at_least_97_percent_accurate_on_digits_test(
    digits: Dataset, digits_classifier: ReferenceClassifier
) -> None:
    accuracy = np.mean(digits_classifier.predict(digits.test_images) == digits.test_labels)
    print(f"digits reference classifier test accuracy: {accuracy:.4f}")
    assert accuracy >= 0.97


def test_logits_are_the_head_applied_to_the_features(
    digits: Dataset, digits_classifier: ReferenceClassifier
) -> None:
    images = digits.test_images[:20]
    features = digits_classifier.features(images)
    head = digits_classifier.network.head
    expected = features @ head.weight.detach().double().numpy().T + head.bias.detach().numpy()
    assert features.shape == (20, 128) and features.dtype == np.float64
    assert features.min() >= 0.0  # ReLU activations
    np.testing.assert_allclose(digits_classifier.logits(images), expected, rtol=1e-4, atol=1e-4)


def test_predict_is_argmax_of_logits_whatever_the_chunk_size(
    digits: Dataset, digits_classifier: ReferenceClassifier
) -> None:
    images = digits.test_images[:50]
    logits = digits_classifier.logits(images)
    np.testing.assert_allclose(
        digits_classifier.logits(images, batch_size=7), logits, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(digits_classifier.predict(images), logits.argmax(axis=1))
    assert digits_classifier.predict(images).dtype == np.int64


def test_training_is_deterministic_for_a_seed_and_leaves_global_rng_alone(
    tiny_digits: Dataset,
) -> None:
    def state(seed: int) -> dict[str, torch.Tensor]:
        trained = train_reference_classifier(
            tiny_digits.train_images, tiny_digits.train_labels, 10, seed=seed, epochs=1
        )
        return trained.network.state_dict()

    global_rng_before = torch.get_rng_state()
    first, again, other = state(seed=3), state(seed=3), state(seed=4)
    assert torch.equal(torch.get_rng_state(), global_rng_before)
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not torch.equal(first["conv1.weight"], other["conv1.weight"])


def test_conditional_accuracy_is_share_classified_as_requested(
    digits: Dataset, digits_classifier: ReferenceClassifier
) -> None:
    images, labels = digits.test_images, digits.test_labels
    predicted = digits_classifier.predict(images)
    assert conditional_accuracy(digits_classifier, images, labels) == np.mean(predicted == labels)
    wrong_labels = (labels + 1) % 10
    assert conditional_accuracy(digits_classifier, images, wrong_labels) < 0.05
    with pytest.raises(ValueError, match="requested labels"):
        conditional_accuracy(digits_classifier, images, labels[:-1])


def test_classifier_rejects_images_of_another_shape(
    digits_classifier: ReferenceClassifier,
) -> None:
    with pytest.raises(ValueError, match="28, 28, 1"):
        digits_classifier.predict(np.zeros((2, 32, 32, 3), dtype=np.float32))


def test_load_or_train_caches_a_state_dict_and_json_then_reuses_them(
    tiny_digits: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained = load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)
    weights_path, info_path = cache_paths(tiny_digits, tmp_path, TINY_SETTINGS)
    assert "tiny_digits" in weights_path.name and weights_path.suffix == ".pt"
    info = json.loads(info_path.read_text())
    assert info["test_accuracy"] == trained.test_accuracy
    assert info["settings"]["epochs"] == 1
    state = torch.load(weights_path, weights_only=True)  # plain tensors, no pickled objects
    assert set(state) == set(trained.network.state_dict())

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the cache was valid")

    monkeypatch.setattr(classifier_module, "train_reference_classifier", no_training)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cached = load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)
    assert cached.test_accuracy == trained.test_accuracy
    images = tiny_digits.test_images
    np.testing.assert_array_equal(cached.logits(images), trained.logits(images))


def test_cache_key_changes_with_training_settings(tiny_digits: Dataset, tmp_path: Path) -> None:
    other = TrainingSettings(epochs=2, batch_size=32)
    assert cache_paths(tiny_digits, tmp_path, TINY_SETTINGS) != cache_paths(
        tiny_digits, tmp_path, other
    )


def _garbage_weights(weights_path: Path, info_path: Path) -> None:
    weights_path.write_bytes(b"this is not a torch file")


def _foreign_state_dict(weights_path: Path, info_path: Path) -> None:
    """A readable state_dict of another shape, with the JSON checksum updated to match."""
    torch.save({"conv1.weight": torch.zeros(1)}, weights_path)
    info = json.loads(info_path.read_text())
    info["weights_sha256"] = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    info_path.write_text(json.dumps(info))


def _edited_settings(weights_path: Path, info_path: Path) -> None:
    info = json.loads(info_path.read_text())
    info["settings"]["epochs"] = 99
    info_path.write_text(json.dumps(info))


def _missing_json(weights_path: Path, info_path: Path) -> None:
    info_path.unlink()


@pytest.mark.parametrize(
    "spoil", [_garbage_weights, _foreign_state_dict, _edited_settings, _missing_json]
)
def test_bad_cache_warns_once_naming_the_file_and_is_rebuilt(
    tiny_digits: Dataset, tmp_path: Path, spoil
) -> None:
    fresh = load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)
    weights_path, info_path = cache_paths(tiny_digits, tmp_path, TINY_SETTINGS)
    spoil(weights_path, info_path)
    with pytest.warns(ClassifierCacheWarning) as caught:
        rebuilt = load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)
    messages = [str(w.message) for w in caught if w.category is ClassifierCacheWarning]
    assert len(messages) == 1 and "\n" not in messages[0]
    assert str(weights_path) in messages[0]
    images = tiny_digits.test_images
    np.testing.assert_array_equal(rebuilt.logits(images), fresh.logits(images))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)  # rewritten cache is valid again


def test_the_driver_tells_a_whole_cache_from_a_missing_or_damaged_one(
    tiny_digits: Dataset, tmp_path: Path
) -> None:
    # bench.runner skips the torch process that checks the cache when this says True.
    assert not reference_classifier_cached(tiny_digits, tmp_path, TINY_SETTINGS)
    load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)
    assert reference_classifier_cached(tiny_digits, tmp_path, TINY_SETTINGS)
    assert not reference_classifier_cached(
        tiny_digits, tmp_path, TrainingSettings(epochs=2, batch_size=32)
    )
    weights_path, info_path = cache_paths(tiny_digits, tmp_path, TINY_SETTINGS)
    weights_path.write_bytes(weights_path.read_bytes()[:-1])  # a torn weights file
    assert not reference_classifier_cached(tiny_digits, tmp_path, TINY_SETTINGS)
    load_or_train(tiny_digits, tmp_path, TINY_SETTINGS)  # rebuilt
    assert reference_classifier_cached(tiny_digits, tmp_path, TINY_SETTINGS)
    info_path.unlink()
    assert not reference_classifier_cached(tiny_digits, tmp_path, TINY_SETTINGS)


def test_the_cache_check_imports_no_framework() -> None:
    done = run_python(
        "-c",
        "import sys, metrics.classifier_cache; "
        "print(sorted(m for m in ('torch', 'tensorflow') if m in sys.modules))",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
