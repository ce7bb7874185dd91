"""An implementation that is slower on purpose, for the regression check's end-to-end test.

Loaded through GANBENCH_PLUGINS=tests.plugins.slowed. `slowed` is the real
torch vanilla GAN whose train_step sleeps GANBENCH_SLOWED_SLEEP_MS
milliseconds after each step (0 or unset: no sleep). The same variant run
with and without the sleep has one identity, so `python -m bench compare`
holds a slowed run against an unslowed one: a change that makes training
slower and nothing else, as a bad commit would.
"""

from __future__ import annotations

import dataclasses
import os
import time

from implementations.api import BuildOptions
from implementations.registry import register
from implementations.spec import GanSpec, register_spec, vanilla_spec
from implementations.torch.vanilla import VanillaGAN
from tests.plugins.names import SLEEP_ENV


class SlowedGAN(VanillaGAN):
    def __init__(self, spec: GanSpec, options: BuildOptions):
        super().__init__(spec, options)
        self.sleep_s = float(os.environ.get(SLEEP_ENV) or 0) / 1000.0

    def train_step(self, images, labels, labelled_mask):
        losses = super().train_step(images, labels, labelled_mask)
        if self.sleep_s > 0:
            time.sleep(self.sleep_s)
        return losses


def build(spec: GanSpec, options: BuildOptions) -> SlowedGAN:
    return SlowedGAN(spec, options)


def _spec(image_shape, num_classes, preset):
    return dataclasses.replace(vanilla_spec(image_shape, num_classes, preset), variant="slowed")


register_spec("slowed", _spec)
register("torch", "slowed", "tests.plugins.slowed:build")
