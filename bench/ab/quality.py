"""`bench ab --quality`: one evaluation per side, same steps and seed, compared exactly.

Each side trains a fresh model for the same steps on the same batches from the same
seed and writes its samples (and, where D classifies, its test-set logits). The driver
computes the metrics of both with its own metric code, so only the models differ. CPU
runs use deterministic kernels: identical code gives bit-identical samples, and then
bit-identical metrics; anything else is reported with its size. One seed gives no
spread, so a difference is reported, not judged better or worse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.datasets import Dataset


@dataclass(frozen=True)
class MetricPair:
    name: str
    base: float
    head: float

    @property
    def difference(self) -> float:
        return self.head - self.base


@dataclass(frozen=True)
class QualityComparison:
    steps: int
    samples: int
    identical: bool  # the generated samples are bit-identical
    max_abs_sample_difference: float
    metrics: tuple[MetricPair, ...]

    def describe(self) -> str:
        head = f"quality after {self.steps} steps, {self.samples} samples: "
        if self.identical:
            return head + "bit-identical samples and metrics"
        moved = ", ".join(
            f"{m.name} {m.base:.6g} -> {m.head:.6g} ({m.difference:+.3g})" for m in self.metrics
        )
        return head + f"samples differ (max |diff| {self.max_abs_sample_difference:.3g}); {moved}"


def compare_quality(
    base_file: Path, head_file: Path, dataset: Dataset, cache_dir: Path, steps: int
) -> QualityComparison:
    """Both sides' metrics from their sample files, and whether the samples are identical."""
    base, head = np.load(base_file), np.load(head_file)
    identical = (
        base["samples"].shape == head["samples"].shape
        and base["samples"].tobytes() == head["samples"].tobytes()
    )
    difference = (
        float(np.max(np.abs(base["samples"] - head["samples"])))
        if base["samples"].shape == head["samples"].shape
        else float("inf")
    )
    base_metrics, head_metrics = (
        _metrics(base, dataset, cache_dir),
        _metrics(head, dataset, cache_dir),
    )
    pairs = tuple(
        MetricPair(name, base_metrics[name], head_metrics[name])
        for name in base_metrics
        if name in head_metrics
    )
    return QualityComparison(steps, len(base["samples"]), identical, difference, pairs)


def _metrics(arrays: np.lib.npyio.NpzFile, dataset: Dataset, cache_dir: Path) -> dict[str, float]:
    from bench.catalogue import COND_ACCURACY, FID_CLASSIFIER, SSL_ACCURACY
    from bench.evaluation import load_reference_classifier
    from metrics.classifier import conditional_accuracy
    from metrics.fid import fid_from_features
    from metrics.semisup import classification_accuracy

    classifier = load_reference_classifier(dataset, cache_dir)
    samples = arrays["samples"]
    values = {
        FID_CLASSIFIER.name: float(
            fid_from_features(
                classifier.features(samples), classifier.features(dataset.test_images)
            )
        )
    }
    if "sample_labels" in arrays:
        values[COND_ACCURACY.name] = float(
            conditional_accuracy(classifier, samples, arrays["sample_labels"])
        )
    if "test_logits" in arrays:
        values[SSL_ACCURACY.name] = float(
            classification_accuracy(arrays["test_logits"], dataset.test_labels)
        )
    return values
