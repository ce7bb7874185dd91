"""The data set's reference classifier: a small convnet whose features give an offline FID.

Two 3x3 conv layers (16, 32 channels, each ReLU + 2x2 max-pool), a 128-unit dense layer
(the penultimate features) and a linear layer to the class logits, trained with Adam on
the training split. It serves three metrics: FID in its feature space (always available,
unlike the Inception weights), the conditional accuracy of class-conditional samples, and
(recorded beside them) its own test accuracy, which says how far its judgement can be
trusted.

Numpy in, numpy out. Training is deterministic for a seed: initial weights and the
shuffling come from one torch.Generator, never the global RNG.
A trained classifier is cached without pickle: a state_dict file read back with
`torch.load(..., weights_only=True)` beside a JSON of its settings and test accuracy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import nn

from metrics.classifier_cache import (
    TrainingSettings,
    cache_identity,
    checked_info,
    paths_for,
)

DEFAULT_INFERENCE_BATCH = 512


class ClassifierCacheWarning(UserWarning):
    """A cached classifier was corrupt or did not match the request; it is being rebuilt."""


class ConvNet(nn.Module):
    """conv(16) -> pool -> conv(32) -> pool -> dense(128) = features -> dense(num_classes)."""

    CONV1_CHANNELS = 16
    CONV2_CHANNELS = 32
    FEATURE_DIMS = 128

    def __init__(self, image_shape: tuple[int, int, int], num_classes: int) -> None:
        super().__init__()
        height, width, channels = image_shape
        self.conv1 = nn.Conv2d(channels, self.CONV1_CHANNELS, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(self.CONV1_CHANNELS, self.CONV2_CHANNELS, kernel_size=3, padding=1)
        self.pool = nn.MaxPool2d(2)
        flat_dims = self.CONV2_CHANNELS * (height // 4) * (width // 4)
        self.dense = nn.Linear(flat_dims, self.FEATURE_DIMS)
        self.head = nn.Linear(self.FEATURE_DIMS, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return torch.relu(self.dense(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ReferenceClassifier:
    """A trained ConvNet behind a numpy API; `test_accuracy` is set by whoever measured it."""

    def __init__(
        self,
        network: ConvNet,
        image_shape: tuple[int, int, int],
        num_classes: int,
        settings: TrainingSettings,
        test_accuracy: float | None = None,
    ) -> None:
        self.network = network.eval()
        self.image_shape = tuple(image_shape)
        self.num_classes = num_classes
        self.settings = settings
        self.test_accuracy = test_accuracy

    def features(self, images: np.ndarray, batch_size: int = DEFAULT_INFERENCE_BATCH) -> np.ndarray:
        """(n, 128) penultimate activations, float64: the feature space of the classifier FID."""
        return self._run(images, self.network.features, ConvNet.FEATURE_DIMS, batch_size)

    def logits(self, images: np.ndarray, batch_size: int = DEFAULT_INFERENCE_BATCH) -> np.ndarray:
        """(n, num_classes) unnormalised class scores, float64."""
        return self._run(images, self.network, self.num_classes, batch_size)

    def predict(self, images: np.ndarray, batch_size: int = DEFAULT_INFERENCE_BATCH) -> np.ndarray:
        """(n,) int64 predicted labels."""
        return self.logits(images, batch_size).argmax(axis=1).astype(np.int64)

    def _run(
        self,
        images: np.ndarray,
        function: Callable[[torch.Tensor], torch.Tensor],
        width: int,
        batch_size: int,
    ) -> np.ndarray:
        images = _check_images(images, self.image_shape)
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size}; must be >= 1")
        outputs = [np.zeros((0, width))]
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                outputs.append(function(_to_nchw(images[start : start + batch_size])).numpy())
        return np.concatenate(outputs).astype(np.float64)


def train_reference_classifier(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    num_classes: int,
    seed: int = TrainingSettings.seed,
    epochs: int = TrainingSettings.epochs,
    batch_size: int = TrainingSettings.batch_size,
    learning_rate: float = TrainingSettings.learning_rate,
    torch_threads: int | None = 1,
) -> ReferenceClassifier:
    """Train the ConvNet with Adam and cross-entropy on NHWC images in [-1, 1].

    Deterministic given `seed` (weights and shuffling from one torch.Generator) on one
    machine and torch build; the last batch of an epoch may be smaller.
    `torch_threads` intra-op threads are used while training (None: torch's setting), then
    torch's setting is restored. One is the default: batches of 32 tiny images gain nothing
    from more, and on busy shared cores two threads were measured up to 50x slower.
    """
    settings = TrainingSettings(
        epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, seed=seed
    )
    if train_images.ndim != 4:
        raise ValueError(f"train images have shape {train_images.shape}; expected NHWC")
    if len(train_images) != len(train_labels):
        raise ValueError(f"{len(train_images)} train images but {len(train_labels)} labels")
    image_shape = tuple(int(s) for s in train_images.shape[1:])
    generator = torch.Generator().manual_seed(settings.seed)
    network = _initialised_network(image_shape, num_classes, generator)
    optimizer = torch.optim.Adam(network.parameters(), lr=settings.learning_rate)
    inputs = _to_nchw(train_images)
    targets = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    network.train()
    with _intra_op_threads(torch_threads):
        for _ in range(settings.epochs):
            order = torch.randperm(len(inputs), generator=generator)
            for start in range(0, len(order), settings.batch_size):
                chosen = order[start : start + settings.batch_size]
                loss = nn.functional.cross_entropy(network(inputs[chosen]), targets[chosen])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return ReferenceClassifier(network, image_shape, num_classes, settings)


def conditional_accuracy(
    classifier: ReferenceClassifier, samples: np.ndarray, requested_labels: np.ndarray
) -> float:
    """Share of conditional samples the classifier assigns to the label they were asked for."""
    requested_labels = np.asarray(requested_labels)
    if requested_labels.shape != (len(samples),):
        raise ValueError(
            f"{len(samples)} samples but requested labels of shape {requested_labels.shape}"
        )
    if len(samples) == 0:
        raise ValueError("no samples: conditional accuracy of an empty set is undefined")
    return float(np.mean(classifier.predict(samples) == requested_labels))


def load_or_train(
    dataset_name: str,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    cache_dir: Path,
    settings: TrainingSettings | None = None,
) -> ReferenceClassifier:
    """The data set's classifier from `cache_dir`, or trained, tested and cached there.

    Plain arrays in, so the metrics know no harness. The cache is keyed on the name, the
    training split's shape and a fingerprint of its labels (see `cache_paths`). A cache
    file that cannot be read or does not match (settings, architecture, shapes) is never
    trusted: one ClassifierCacheWarning names it and the classifier is retrained.
    """
    settings = settings or TrainingSettings()
    expected_info = cache_identity(dataset_name, train_images, train_labels, num_classes, settings)
    weights_path, info_path = paths_for(expected_info, dataset_name, cache_dir)
    if weights_path.exists() or info_path.exists():
        try:
            return _load_cached(weights_path, info_path, settings, expected_info)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            warnings.warn(
                f"classifier cache {weights_path} is unusable ({reason}); retraining",
                ClassifierCacheWarning,
                stacklevel=2,
            )
    started = time.perf_counter()
    classifier = train_reference_classifier(
        train_images,
        train_labels,
        num_classes,
        seed=settings.seed,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
    )
    train_s = time.perf_counter() - started
    classifier.test_accuracy = float(np.mean(classifier.predict(test_images) == test_labels))
    _save(classifier, weights_path, info_path, {**expected_info, "train_s": train_s})
    return classifier


def _load_cached(
    weights_path: Path,
    info_path: Path,
    settings: TrainingSettings,
    expected_info: dict,
) -> ReferenceClassifier:
    info = checked_info(weights_path, info_path, expected_info)
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"not a torch state_dict ({type(error).__name__})") from error
    image_shape = tuple(expected_info["image_shape"])
    num_classes = expected_info["num_classes"]
    network = ConvNet(image_shape, num_classes)
    network.load_state_dict(state)  # strict: missing keys or wrong shapes raise RuntimeError
    return ReferenceClassifier(
        network,
        image_shape,
        num_classes,
        settings,
        test_accuracy=float(info["test_accuracy"]),
    )


def _save(classifier: ReferenceClassifier, weights_path: Path, info_path: Path, info: dict) -> None:
    """Write weights then JSON, each via a per-process temporary file, so a crash or a
    concurrent writer leaves no half file (a stale JSON's checksum no longer matches)."""
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    partial = weights_path.with_suffix(f".pt.{os.getpid()}.partial")
    torch.save(classifier.network.state_dict(), partial)
    info = {
        **info,
        "test_accuracy": classifier.test_accuracy,
        "weights_sha256": hashlib.sha256(partial.read_bytes()).hexdigest(),
    }
    os.replace(partial, weights_path)
    partial_info = info_path.with_suffix(f".json.{os.getpid()}.partial")
    partial_info.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    os.replace(partial_info, info_path)


def _initialised_network(
    image_shape: tuple[int, int, int], num_classes: int, generator: torch.Generator
) -> ConvNet:
    """A ConvNet initialised as torch's defaults do, but from `generator`, not the global RNG."""
    with torch.device("meta"):  # no default initialisation, so the global RNG is untouched
        network = ConvNet(image_shape, num_classes)
    network = network.to_empty(device="cpu")
    with torch.no_grad():
        for layer in (network.conv1, network.conv2, network.dense, network.head):
            nn.init.kaiming_uniform_(layer.weight, a=5**0.5, generator=generator)
            bound = 1.0 / np.sqrt(layer.weight[0].numel())  # 1 / sqrt(fan_in)
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return network


@contextlib.contextmanager
def _intra_op_threads(count: int | None) -> Iterator[None]:
    """torch.set_num_threads(count) for the block, torch's previous setting restored after."""
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _check_images(images: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or tuple(images.shape[1:]) != tuple(image_shape):
        expected = ", ".join(str(size) for size in image_shape)
        raise ValueError(f"images have shape {images.shape}; this classifier takes (n, {expected})")
    return images


def _to_nchw(images: np.ndarray) -> torch.Tensor:
    """NHWC numpy in [-1, 1] -> NCHW float32 tensor (the classifier is trained on [-1, 1])."""
    return torch.as_tensor(np.ascontiguousarray(np.asarray(images, dtype=np.float32))).permute(
        0, 3, 1, 2
    )
