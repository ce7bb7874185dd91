"""Implementations for the cluster tests (tests/test_cluster_*.py).

Loaded in worker processes through GANBENCH_PLUGINS=tests.plugins.cluster (the
Ray and Slurm executors pass every GANBENCH_* variable to the runs).

- `gpu_probe`: a run on device cuda on a machine without a GPU cannot train, but its
  row still records the CUDA_VISIBLE_DEVICES the engine gave it (bench.worker's
  identity fields). The build waits PROBE_HOLD_S, so that runs asking for a GPU each
  overlap and must hold different GPUs, then fails with a known message.
- `steady`: the real torch vanilla GAN, STEADY_STEP_S slower per step, so a run is
  still training when a test acts on it; at its first step it writes its process id
  into the folder GANBENCH_TRAINING_MARKS names (when set), so a test knows it trains.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from implementations.api import BuildOptions
from implementations.registry import register
from implementations.spec import GanSpec, register_spec, vanilla_spec
from implementations.torch.vanilla import VanillaGAN
from tests.plugins.names import MARKS_ENV, PROBE_ERROR

PROBE_HOLD_S = 3.0
STEADY_STEP_S = 0.12


def build_gpu_probe(spec: GanSpec, options: BuildOptions) -> VanillaGAN:
    time.sleep(PROBE_HOLD_S)
    raise RuntimeError(PROBE_ERROR)


class SteadyGAN(VanillaGAN):
    def __init__(self, spec: GanSpec, options: BuildOptions):
        super().__init__(spec, options)
        self.marked = False

    def train_step(self, images, labels, labelled_mask):
        if not self.marked and os.environ.get(MARKS_ENV):
            (Path(os.environ[MARKS_ENV]) / str(os.getpid())).write_text("training\n")
            self.marked = True
        losses = super().train_step(images, labels, labelled_mask)
        time.sleep(STEADY_STEP_S)
        return losses


def build_steady(spec: GanSpec, options: BuildOptions) -> SteadyGAN:
    return SteadyGAN(spec, options)


def _spec_builder(variant: str):
    def make(image_shape, num_classes, preset):
        return dataclasses.replace(vanilla_spec(image_shape, num_classes, preset), variant=variant)

    return make


for _variant in ("gpu_probe", "steady"):
    register_spec(_variant, _spec_builder(_variant))
    register("torch", _variant, f"tests.plugins.cluster:build_{_variant}")
