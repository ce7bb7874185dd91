"""Implementations that fail on purpose, for the runner's fault tests.

Loaded in worker processes through GANBENCH_PLUGINS=tests.plugins.faulty.
Each is the real torch vanilla GAN with one fault injected into train_step (or, for
nan_samples, into the generated images) after `FAULT_AFTER_STEPS` good steps, so the
fault happens mid-training.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time

import torch

from implementations.api import BuildOptions
from implementations.registry import register
from implementations.spec import GanSpec, register_spec, vanilla_spec
from implementations.torch.vanilla import VanillaGAN

FAULT_AFTER_STEPS = 25


class FaultyGAN(VanillaGAN):
    fault = "none"

    def __init__(self, spec: GanSpec, options: BuildOptions):
        super().__init__(spec, options)
        self.steps_done = 0

    def train_step(self, images, labels, labelled_mask):
        losses = super().train_step(images, labels, labelled_mask)
        self.steps_done += 1
        if self.steps_done > FAULT_AFTER_STEPS:
            if self.fault == "raise":
                raise RuntimeError("injected failure in train_step")
            if self.fault == "nan":
                return {**losses, "d_loss": torch.tensor(float("nan"))}
            if self.fault == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.fault == "hang":
                time.sleep(3600)
        return losses

    def sample(self, n, labels=None, seed=0):
        images = super().sample(n, labels, seed)
        if self.fault == "nan_samples" and self.steps_done > FAULT_AFTER_STEPS:
            images[0, 0, 0, 0] = float("nan")
        return images


def _builder(fault: str):
    def build(spec: GanSpec, options: BuildOptions) -> FaultyGAN:
        gan = FaultyGAN(spec, options)
        gan.fault = fault
        return gan

    return build


build_raise = _builder("raise")
build_nan = _builder("nan")
build_sigkill = _builder("sigkill")
build_hang = _builder("hang")
build_nan_samples = _builder("nan_samples")


def _spec_builder(variant: str):
    def make(image_shape, num_classes, preset):
        return dataclasses.replace(vanilla_spec(image_shape, num_classes, preset), variant=variant)

    return make


for _fault in ("raise", "nan", "sigkill", "hang", "nan_samples"):
    register_spec(f"faulty_{_fault}", _spec_builder(f"faulty_{_fault}"))
    register("torch", f"faulty_{_fault}", f"tests.plugins.faulty:build_{_fault}")
