"""The torch build of tests.plugins.recording: ssgan, with every staged batch recorded."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.torch.ssgan import SemiSupervisedGAN
from tests.plugins.names import RECORD_ENV


def image_hash(image: np.ndarray) -> str:
    """Names an image by its float32 bytes (the digits splits share no image)."""
    return hashlib.sha1(np.ascontiguousarray(image, dtype=np.float32).tobytes()).hexdigest()


class RecordedSemiSupervisedGAN(SemiSupervisedGAN):
    def to_device(self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray):
        line = {
            "loss": self.spec.loss,
            "images": [image_hash(image) for image in images],
            "labels": np.asarray(labels).tolist(),
            "labelled": np.asarray(labelled_mask).tolist(),
        }
        with open(os.environ[RECORD_ENV], "a") as record:
            record.write(json.dumps(line) + "\n")
        return super().to_device(images, labels, labelled_mask)


def build(spec: GanSpec, options: BuildOptions) -> RecordedSemiSupervisedGAN:
    return RecordedSemiSupervisedGAN(spec, options)
