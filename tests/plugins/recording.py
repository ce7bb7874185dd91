"""ssgan under another name, whose staged batches are written down: a witness for the
label budget (tests/test_label_budget.py).

Loaded through GANBENCH_PLUGINS=tests.plugins.recording. `recorded_ssgan` is ssgan's spec
and torch implementation unchanged, except that every batch handed to `to_device` (the
only way into `train_step`) is appended to the JSON-lines file named by RECORD_ENV: one
line per batch with the spec's loss (the GAN or its supervised-only baseline), a hash per
image, the labels and the labelled mask. This module imports no framework.
"""

from __future__ import annotations

import dataclasses

from implementations.registry import register
from implementations.spec import GanSpec, ImageShape, register_spec, ssgan_spec

VARIANT = "recorded_ssgan"


def recorded_ssgan_spec(image_shape: ImageShape, num_classes: int, preset: str) -> GanSpec:
    return dataclasses.replace(ssgan_spec(image_shape, num_classes, preset), variant=VARIANT)


register_spec(VARIANT, recorded_ssgan_spec)
register("torch", VARIANT, "tests.plugins.recording_torch:build")
