"""The protocol every GAN implementation satisfies, whatever its framework.

The harness and the metrics only ever talk to this protocol, with numpy
arrays (NHWC, float32, images in [-1, 1]) on the host side. Anything that
lives on the device (staged batches, loss scalars) is opaque to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, SupportsFloat, runtime_checkable

import numpy as np

from implementations.spec import GanSpec

Device = Literal["cpu", "cuda"]
CompileMode = Literal["default", "compiled", "cudagraphs"]
Precision = Literal["fp32", "bf16"]

DEVICES: tuple[str, ...] = ("cpu", "cuda")
COMPILE_MODES: tuple[str, ...] = ("default", "compiled", "cudagraphs")
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")


@dataclass(frozen=True)
class BuildOptions:
    """How to build one implementation: everything that is not the model itself."""

    seed: int  # initial weights and the training noise stream
    device: Device = "cpu"
    # "default": torch eager, tf `tf.function` graph; "compiled": torch.compile,
    # tf `tf.function(jit_compile=True)` (XLA); "cudagraphs": torch.compile with
    # mode="reduce-overhead" (CUDA graphs: one launch per step for launch-bound models;
    # torch on a GPU only, UnsupportedOperationError elsewhere).
    compile: CompileMode = "default"
    # "fp32", or "bf16" mixed precision: torch autocast, Keras's "mixed_bfloat16" policy;
    # weights, optimiser state and losses stay float32 in both.
    precision: Precision = "fp32"
    # TensorFloat-32 for float32 matmuls and convolutions on GPUs that have it. Set
    # explicitly in both frameworks: TensorFlow enables it by default, torch's matmul not.
    tf32: bool = False
    # Deterministic kernels only (torch.use_deterministic_algorithms, TensorFlow's
    # enable_op_determinism), so one seed gives bit-identical numbers run after run. Both
    # switches are process-wide; on a GPU they cost speed and a few ops refuse to run.
    deterministic: bool = False


@dataclass(frozen=True)
class RunFacts:
    """What a built implementation knows about where and how it runs, for the row."""

    device_name: str  # the accelerator's name as the framework reports it; "cpu" on the CPU
    peak_mem_mb: float | None  # peak allocator memory on an accelerator so far; None on the CPU
    compile_detail: str  # what the compile mode means in this framework
    optimizer_detail: str  # which optimiser implementation steps the weights (torch: fused...)
    determinism_settings: Mapping[str, str]  # the framework's switches as this run set them


class UnsupportedOperationError(Exception):
    """A protocol method that this variant does not define (e.g. classify on vanilla)."""


StepLosses = Mapping[str, SupportsFloat]
"""Losses of one train_step as device scalars; float() reads one back (a device sync)."""


@runtime_checkable
class GAN(Protocol):
    """One GAN variant in one framework."""

    framework: str
    variant: str
    spec: GanSpec
    options: BuildOptions

    def to_device(
        self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray
    ) -> tuple[Any, Any, Any]:
        """Stage one batch on the device once: (images, labels, labelled_mask) there.

        labelled_mask (bool, (n,)) says which labels a semi-supervised variant may
        read. It has no default, so no caller gets "every label visible" without
        writing it down (fails closed). The result is train_step's arguments.
        """

    def train_step(self, images: Any, labels: Any, labelled_mask: Any) -> StepLosses:
        """k discriminator updates and one generator update on a staged batch.

        Returns the losses as device scalars without reading them back, so a
        timed loop of train_steps never waits on the device.
        """

    def synchronize(self) -> None:
        """Block until all work queued on the device so far has finished."""

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        """n generated images, NHWC float32 in [-1, 1], from z drawn with `seed`."""

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """The discriminator's raw output (logits), shape (n,), inference mode."""

    def discriminator_features(self, images: np.ndarray) -> np.ndarray:
        """The discriminator's penultimate features, shape (n, features)."""

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Class logits (n, K); raises UnsupportedOperationError for unconditional variants."""

    def num_params(self) -> dict[str, int]:
        """Trainable parameter counts: {"generator": int, "discriminator": int}."""

    def get_weights(self) -> dict[str, np.ndarray]:
        """All parameters in the neutral layout of implementations.spec."""

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        """Load parameters given in the neutral layout; keys and shapes must match."""

    def run_facts(self) -> RunFacts:
        """Device, peak memory so far, compile and determinism settings: asked once per run."""


def latent_noise(n: int, latent_dim: int, seed: int) -> np.ndarray:
    """z for sample(): drawn on the host, so both twins see the same z for a seed."""
    return np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """0, 1, ..., K-1, 0, 1, ...: the labels of a labelled sample() when none are given.

    The one draw the twins, the evaluation and the FLOPs count share, so a labelled
    variant's samples and its grid (row r = class r) agree everywhere.
    """
    return np.arange(n) % num_classes


def check_weights(
    weights: Mapping[str, np.ndarray], expected: Mapping[str, tuple[int, ...]]
) -> None:
    """Raise ValueError naming missing, unexpected or mis-shaped parameters."""
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        raise ValueError(f"weights do not match the spec: missing {missing}, unexpected {extra}")
    for key, shape in expected.items():
        if tuple(np.shape(weights[key])) != tuple(shape):
            raise ValueError(f"weight {key!r} has shape {np.shape(weights[key])}; expected {shape}")
