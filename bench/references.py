"""What good and bad look like in a run's own metrics: the real-data floor and the noise ceiling.

A FID of 600 means nothing until it stands beside the FID of real images and of noise in
the same features against the same split. So every row carries two references, scored by
the same `Evaluator.image_metrics` as its own samples, with as many images:

- `real`: `eval_samples` images drawn with replacement from the training split (an ideal
  generator that reproduces the training data), with their true labels. Its FID is the
  floor a generator can reach at this sample count; its classifier accuracy is the most
  `cond_accuracy` can be, given the reference classifier's own errors.
- `noise`: `eval_samples` images of uniform noise in [-1, 1] (an untrained generator's
  output is no better than noise, and unlike one it is the same in both frameworks), with
  balanced labels, as a conditional run asks for them.

They depend on the data set, the sample count, the reference classifier and whether
Inception features are on, never on the run: they are computed once and cached in the
cache folder beside the reference classifier, keyed by all of those.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from bench import catalogue
from bench.evaluation import KID_SUBSET_SIZE, KID_SUBSETS, Evaluator

KINDS = ("real", "noise")
DRAW_SEED = 0  # the training images drawn, the noise, and KID's subsets: one fixed seed
CACHE_VERSION = 1  # bump when what a reference means changes: old cache files are not read


@dataclass(frozen=True)
class Reference:
    """One reference scored in a run's metrics; None where the run's evaluation has none."""

    kind: str  # one of KINDS
    samples: int  # images scored, = the run's eval_samples
    parzen_ll: float  # nats, on the test split
    fid_classifier: float
    kid_classifier: float
    classifier_accuracy: float  # share the reference classifier reads as the images' labels
    fid_inception: float | None = None
    kid_inception: float | None = None

    def row_values(self) -> dict[str, float | None]:
        """The row's flat `reference_<kind>` field: metric name -> value."""
        values = asdict(self)
        del values["kind"]
        return values

    @classmethod
    def from_row_values(cls, kind: str, values: dict[str, float | None]) -> Reference:
        known = {f.name for f in fields(cls)} - {"kind"}
        return cls(kind=kind, **{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]


def real_images(
    train_images: np.ndarray, train_labels: np.ndarray, count: int, seed: int = DRAW_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """`count` training images drawn with replacement, and their labels."""
    chosen = np.random.default_rng(seed).integers(0, len(train_images), count)
    return train_images[chosen], np.asarray(train_labels)[chosen]


def noise_images(
    image_shape: tuple[int, int, int], num_classes: int, count: int, seed: int = DRAW_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """`count` images of uniform noise in [-1, 1], and balanced labels 0, 1, ..., K-1, 0, ..."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, size=(count, *image_shape)).astype(np.float32)
    return images, np.arange(count) % num_classes


def score(evaluator: Evaluator, kind: str, images: np.ndarray, labels: np.ndarray) -> Reference:
    """A reference scored exactly as a run's samples are."""
    values = evaluator.image_metrics(images, labels, DRAW_SEED)
    return Reference(
        kind=kind,
        samples=len(images),
        parzen_ll=values[catalogue.PARZEN_LL.name],
        fid_classifier=values[catalogue.FID_CLASSIFIER.name],
        kid_classifier=values[catalogue.KID_CLASSIFIER.name],
        classifier_accuracy=values[catalogue.COND_ACCURACY.name],
        fid_inception=values.get(catalogue.FID_INCEPTION.name),
        kid_inception=values.get(catalogue.KID_INCEPTION.name),
    )


def compute_references(evaluator: Evaluator) -> tuple[Reference, Reference]:
    """(real, noise) for the evaluator's data set and sample count, computed now."""
    dataset, count = evaluator.dataset, evaluator.settings.samples
    real = real_images(dataset.train_images, dataset.train_labels, count)
    noise = noise_images(dataset.image_shape, dataset.num_classes, count)
    return score(evaluator, "real", *real), score(evaluator, "noise", *noise)


def load_or_compute(evaluator: Evaluator, cache_dir: Path) -> tuple[Reference, Reference]:
    """(real, noise) from the cache folder, or computed and cached there (atomically).

    A cache file that cannot be read or does not match is recomputed and replaced.
    """
    path = cache_path(evaluator, cache_dir)
    try:
        cached = json.loads(path.read_text())
        return (
            Reference.from_row_values("real", cached["real"]),
            Reference.from_row_values("noise", cached["noise"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # absent or unreadable: recompute
    real, noise = compute_references(evaluator)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".json.{os.getpid()}.partial")
    text = json.dumps(
        {"identity": _identity(evaluator), "real": real.row_values(), "noise": noise.row_values()},
        indent=1,
        sort_keys=True,
    )
    partial.write_text(text + "\n")
    os.replace(partial, path)
    return real, noise


def cache_path(evaluator: Evaluator, cache_dir: Path) -> Path:
    """references-<data set>-<hash of everything the references depend on>.json."""
    key = hashlib.sha256(json.dumps(_identity(evaluator), sort_keys=True).encode()).hexdigest()
    return Path(cache_dir) / f"references-{evaluator.dataset.name}-{key[:12]}.json"


def _identity(evaluator: Evaluator) -> dict[str, object]:
    """Everything a reference depends on: the splits' bytes, the count, the feature spaces."""
    dataset = evaluator.dataset
    arrays = hashlib.sha256()
    for array in (
        dataset.train_images,
        dataset.train_labels,
        dataset.valid_images,
        dataset.test_images,
    ):
        arrays.update(np.ascontiguousarray(array).tobytes())
    classifier = hashlib.sha256()
    for name, tensor in sorted(evaluator.classifier.network.state_dict().items()):
        classifier.update(name.encode())
        classifier.update(tensor.detach().cpu().numpy().tobytes())
    return {
        "version": CACHE_VERSION,
        "dataset": dataset.name,
        "splits_sha256": arrays.hexdigest(),
        "samples": evaluator.settings.samples,
        "classifier_sha256": classifier.hexdigest(),
        "inception": evaluator.inception is not None,
        "kid": [KID_SUBSETS, KID_SUBSET_SIZE],
        "seed": DRAW_SEED,
    }
