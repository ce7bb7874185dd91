"""Quality of one run at its evaluation points: the metrics/ functions, applied to a GAN.

The evaluator is built once per run (reference classifier, real-image features, the
probe's labelled subset), then `evaluate()` is called between timing windows, outside
the clock. One evaluation draws `eval_samples` images from G with a fixed z (the run's
seed), so the history compares the same z over training, and computes:

- Parzen log-likelihood (Goodfellow 2014 protocol) on the test split, images in [0, 1];
- FID and KID in the reference classifier's features (always) and in InceptionV3 pool3
  (when the pytorch-fid weights are on this machine), real side = the test split;
- `cond_accuracy` for a variant whose G takes a label (share read as the label asked for);
- `ssl_accuracy` for a variant whose D is a K-way classifier (ssgan);
- `probe_accuracy`, a linear probe on D's features of the run's N labelled training
  images, for a variant whose D does not take the label as input (conditional's does:
  its features would be read with the answer given, so the probe is null with a note).

A metric that does not apply or cannot be computed is absent from the result and its
reason is in `notes`: the row then holds null and the reason, never a made-up number.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench.batches import labelled_subset
from bench.catalogue import (
    COND_ACCURACY,
    FID_CLASSIFIER,
    FID_INCEPTION,
    KID_CLASSIFIER,
    KID_INCEPTION,
    PARZEN_LL,
    PARZEN_SE,
    PROBE_ACCURACY,
    SSL_ACCURACY,
)
from bench.config import default_cache_dir
from bench.datasets import Dataset
from implementations.api import GAN, UnsupportedOperationError, balanced_labels
from implementations.spec import GanSpec
from metrics.classifier import (
    ReferenceClassifier,
    TrainingSettings,
    conditional_accuracy,
    load_or_train,
)
from metrics.fid import fid_from_features, kid_from_features
from metrics.parzen import parzen_log_likelihood
from metrics.probe import linear_probe_accuracy
from metrics.semisup import classification_accuracy

if TYPE_CHECKING:  # pytorch-fid is an extra: imported only when the Inception FID is asked for
    from metrics.inception import InceptionFeatures

GRID_SIDE = 10  # the sample grid is GRID_SIDE x GRID_SIDE images
KID_SUBSETS = 100  # subsets for KID's mean and std (Binkowski et al. 2018 use 100)
KID_SUBSET_SIZE = 1000  # clipped to the smaller set (the test split, on digits)


class NonFiniteSamplesError(RuntimeError):
    """The generator produced NaN or inf: the run has diverged at this step."""

    def __init__(self, step: int) -> None:
        super().__init__(f"non-finite generated images at step {step}")
        self.step = step


@dataclass(frozen=True)
class EvaluationSettings:
    samples: int = 10_000  # generated images per evaluation (Goodfellow 2014: 10,000)
    inception: bool = True  # Inception FID when its weights are present
    inception_weights: Path | None = None  # None: the torch hub cache
    probe_labels: int = 100  # N labelled training images the probe (and ssgan) may use
    seed: int = 0  # z of the evaluation samples and the probe's labelled subset
    device: str = "cpu"
    cache_dir: Path | None = None  # reference classifiers; None: config.default_cache_dir()


@dataclass
class Evaluation:
    """One evaluation point: metric name -> value, and metric name -> why it is missing."""

    step: int
    train_s: float
    values: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    sample_grid_png: str | None = None

    def history_entry(self) -> dict[str, Any]:
        return {"step": self.step, "train_s": self.train_s, **self.values}


class Evaluator:
    """Everything a run's evaluations share, prepared once before training."""

    def __init__(self, dataset: Dataset, gan_spec: GanSpec, settings: EvaluationSettings):
        if settings.samples < 2:
            raise ValueError(f"eval_samples = {settings.samples}; must be >= 2")
        self.dataset = dataset
        self.spec = gan_spec
        self.settings = settings
        self.classifier = load_reference_classifier(
            dataset, settings.cache_dir or default_cache_dir()
        )
        self.real_classifier_features = self.classifier.features(dataset.test_images)
        self.test_unit = _unit_flat(dataset.test_images)
        self.valid_unit = _unit_flat(dataset.valid_images)
        self.probe_indices = labelled_subset(
            dataset.train_labels, settings.probe_labels, seed=settings.seed
        )
        self.inception, self.inception_reason = self._inception()
        self.real_inception_features = (
            self.inception.features(dataset.test_images) if self.inception else None
        )

    def _inception(self) -> tuple[InceptionFeatures | None, str]:
        if not self.settings.inception:
            return None, "Inception FID is off in this suite (inception_fid = false)"
        try:
            from metrics.inception import InceptionFeatures
        except ModuleNotFoundError as error:
            return None, pytorch_fid_missing_reason(error)
        found, reason = InceptionFeatures.available(self.settings.inception_weights)
        if not found:
            return None, reason
        return InceptionFeatures(self.settings.inception_weights, self.settings.device), ""

    @property
    def conditional_generator(self) -> bool:
        return COND_ACCURACY.applies(self.spec.label_use)

    @property
    def discriminator_reads_labels(self) -> bool:
        return not PROBE_ACCURACY.applies(self.spec.label_use)

    def evaluate(self, gan: GAN, step: int, train_s: float) -> Evaluation:
        """All metrics that apply to this GAN, at training step `step`."""
        result = Evaluation(step=step, train_s=train_s)
        labels = (
            balanced_labels(self.settings.samples, self.dataset.num_classes)
            if self.conditional_generator
            else None
        )
        samples = gan.sample(self.settings.samples, labels, seed=self.settings.seed)
        if not np.isfinite(samples).all():
            raise NonFiniteSamplesError(step)
        result.sample_grid_png = sample_grid_png(samples, labels, self.dataset.num_classes)
        values, notes = result.values, result.notes
        values.update(self.image_metrics(samples, labels, self.settings.seed))
        if self.inception is None:
            notes[FID_INCEPTION.name] = self.inception_reason
        if labels is None:
            notes[COND_ACCURACY.name] = f"{self.spec.variant}'s generator takes no label"
        values.update(self._classifier_metrics(gan, notes))
        return result

    def image_metrics(
        self, images: np.ndarray, labels: np.ndarray | None, seed: int
    ) -> dict[str, float]:
        """The metrics of a set of images alone, as if a generator had made them.

        Parzen LL, FID and KID against the test split, and with `labels` the share the
        classifier reads as them (cond_accuracy). A run's samples and the references
        (bench/references.py) are scored here alike: same features, same split. `seed`
        draws KID's subsets.
        """
        values: dict[str, float] = {}
        parzen = parzen_log_likelihood(
            _unit_flat(images), self.test_unit, self.valid_unit, device=self.settings.device
        )
        values.update(
            {
                PARZEN_LL.name: parzen.ll,
                PARZEN_SE.name: parzen.se,
                "parzen_sigma": parzen.sigma,  # the bandwidth and sample count: settings
                "parzen_samples": parzen.num_samples,  # of the estimate, not metrics
            }
        )
        features = self.classifier.features(images)
        values[FID_CLASSIFIER.name] = fid_from_features(features, self.real_classifier_features)
        values[KID_CLASSIFIER.name], values[f"{KID_CLASSIFIER.name}_std"] = self._kid(
            features, self.real_classifier_features, seed
        )
        if self.inception is not None and self.real_inception_features is not None:
            inception_features = self.inception.features(images)
            values[FID_INCEPTION.name] = fid_from_features(
                inception_features, self.real_inception_features
            )
            values[KID_INCEPTION.name], values[f"{KID_INCEPTION.name}_std"] = self._kid(
                inception_features, self.real_inception_features, seed
            )
        if labels is not None:
            values[COND_ACCURACY.name] = conditional_accuracy(self.classifier, images, labels)
        return values

    def _kid(self, features: np.ndarray, real: np.ndarray, seed: int) -> tuple[float, float]:
        return kid_from_features(
            features,
            real,
            num_subsets=KID_SUBSETS,
            subset_size=KID_SUBSET_SIZE,
            seed=seed,
        )

    def _classifier_metrics(self, gan: GAN, notes: dict[str, str]) -> dict[str, float]:
        """ssl_accuracy where D classifies; probe_accuracy where D's features stand alone."""
        values: dict[str, float] = {}
        try:
            logits = gan.classify(self.dataset.test_images)
            values[SSL_ACCURACY.name] = classification_accuracy(logits, self.dataset.test_labels)
        except UnsupportedOperationError:
            notes[SSL_ACCURACY.name] = f"{self.spec.variant}'s discriminator is not a classifier"
        if self.discriminator_reads_labels:
            notes[PROBE_ACCURACY.name] = (
                f"{self.spec.variant}'s discriminator takes the label as input: "
                "a probe of its features would be given the answer"
            )
        else:
            values[PROBE_ACCURACY.name] = linear_probe_accuracy(
                gan.discriminator_features(self.dataset.train_images[self.probe_indices]),
                self.dataset.train_labels[self.probe_indices],
                gan.discriminator_features(self.dataset.test_images),
                self.dataset.test_labels,
                seed=self.settings.seed,
            )
        return values


def pytorch_fid_missing_reason(error: ModuleNotFoundError) -> str:
    """Why fid_inception is null on a machine without the `fid` extra."""
    return (
        f"the Inception FID needs pytorch-fid, which cannot be imported here ({error}); "
        "pip install -e '.[fid]'"
    )


def load_reference_classifier(
    dataset: Dataset, cache_dir: Path, settings: TrainingSettings | None = None
) -> ReferenceClassifier:
    """The data set's reference classifier, cached in `cache_dir` (metrics/ takes arrays)."""
    return load_or_train(
        dataset.name,
        dataset.train_images,
        dataset.train_labels,
        dataset.test_images,
        dataset.test_labels,
        dataset.num_classes,
        cache_dir,
        settings,
    )


def evaluation_windows(timing_windows: int, eval_points: int) -> set[int]:
    """Timed windows (1-based) after which to evaluate: evenly spaced, the last one always."""
    if not 1 <= eval_points <= timing_windows:
        raise ValueError(f"eval_points = {eval_points}; must be in 1..{timing_windows}")
    return {round(timing_windows * k / eval_points) for k in range(1, eval_points + 1)}


def sample_grid_png(samples: np.ndarray, labels: np.ndarray | None, num_classes: int) -> str:
    """A base64 PNG of up to GRID_SIDE^2 samples; with labels, row r shows class r."""
    from matplotlib import image as mpl_image

    if labels is not None:
        rows = [np.flatnonzero(labels == c)[:GRID_SIDE] for c in range(min(num_classes, 10))]
        chosen = np.concatenate(rows)
    else:
        chosen = np.arange(min(len(samples), GRID_SIDE * GRID_SIDE))
    images = (np.clip(samples[chosen], -1.0, 1.0) + 1.0) / 2.0
    height, width, channels = images.shape[1:]
    columns = GRID_SIDE
    count = -(-len(images) // columns) * columns
    padded = np.ones((count, height, width, channels), dtype=np.float32)
    padded[: len(images)] = images
    grid = (
        padded.reshape(count // columns, columns, height, width, channels)
        .transpose(0, 2, 1, 3, 4)
        .reshape(count // columns * height, columns * width, channels)
    )
    buffer = io.BytesIO()
    if channels == 1:
        mpl_image.imsave(buffer, grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
    else:
        mpl_image.imsave(buffer, grid, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _unit_flat(images: np.ndarray) -> np.ndarray:
    """NHWC in [-1, 1] -> (N, H*W*C) in [0, 1], the Parzen protocol's scale."""
    images = np.asarray(images, dtype=np.float64)
    return ((images + 1.0) / 2.0).reshape(len(images), -1)
