"""Where the reference classifier is cached, and whether a cached one can be used: no torch.

Kept apart from metrics.classifier (which needs torch) so that the driver, which imports
no framework, can tell that the cache is already good and skip the process that would
otherwise start torch to check it (bench.runner): ~4 s of every `bench run`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Bump when the architecture or the training loop changes: old cache files are rebuilt.
ARCHITECTURE_VERSION = 1
CACHE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class TrainingSettings:
    epochs: int = 20  # passes over the training split
    batch_size: int = 32  # images per Adam step
    learning_rate: float = 1e-3  # Adam step size
    seed: int = 0  # initial weights and shuffling


def cache_identity(
    dataset_name: str,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    num_classes: int,
    settings: TrainingSettings,
) -> dict:
    """Everything a cached model depends on; a fingerprint of the labels stands for the split."""
    return {
        "format_version": CACHE_FORMAT_VERSION,
        "architecture_version": ARCHITECTURE_VERSION,
        "dataset": dataset_name,
        "image_shape": [int(size) for size in np.shape(train_images)[1:]],
        "num_classes": num_classes,
        "num_train": len(train_labels),
        "train_labels_sha256": hashlib.sha256(
            np.ascontiguousarray(train_labels, dtype=np.int64).tobytes()
        ).hexdigest(),
        "settings": asdict(settings),
    }


def paths_for(identity: dict, dataset_name: str, cache_dir: Path) -> tuple[Path, Path]:
    """(weights .pt, info .json) named after the data set and a hash of the identity."""
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]
    stem = f"classifier-{dataset_name}-{key}"
    return Path(cache_dir) / f"{stem}.pt", Path(cache_dir) / f"{stem}.json"


def cache_paths(
    dataset_name: str,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    num_classes: int,
    cache_dir: Path,
    settings: TrainingSettings,
) -> tuple[Path, Path]:
    """(weights .pt, info .json) named after the data set and a hash of what shapes the model."""
    identity = cache_identity(dataset_name, train_images, train_labels, num_classes, settings)
    return paths_for(identity, dataset_name, cache_dir)


def checked_info(weights_path: Path, info_path: Path, expected_info: dict) -> dict:
    """The cache's info JSON, once it matches `expected_info` and the weights' checksum.

    Raises OSError (a file missing or unreadable) or ValueError (another identity, a
    checksum that differs, not JSON): the file was not written whole by this version.
    """
    info = json.loads(info_path.read_text())
    mismatched = [key for key in expected_info if info.get(key) != expected_info[key]]
    if mismatched:
        raise ValueError(f"{info_path.name} differs in {', '.join(mismatched)}")
    digest = hashlib.sha256(weights_path.read_bytes()).hexdigest()
    if digest != info.get("weights_sha256"):
        raise ValueError(f"checksum {digest[:12]} differs from {info_path.name}")
    return info


def is_cached(
    dataset_name: str,
    train_images: np.ndarray,
    train_labels: np.ndarray,
    num_classes: int,
    cache_dir: Path,
    settings: TrainingSettings | None = None,
) -> bool:
    """True when a classifier for this data is cached whole: its info matches and the
    weights file has the checksum the info records (it was written after training)."""
    identity = cache_identity(
        dataset_name, train_images, train_labels, num_classes, settings or TrainingSettings()
    )
    weights_path, info_path = paths_for(identity, dataset_name, cache_dir)
    try:
        checked_info(weights_path, info_path, identity)
    except (OSError, ValueError):
        return False
    return True
