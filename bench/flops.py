"""FLOPs of one training step, counted (not timed) on the torch twin.

torch's FlopCounterMode counts the matmuls and convolutions of one `train_step` (forward
and backward of every network it touches, all D steps and the G step); elementwise work
and the optimiser's update are not counted, as in the usual model-FLOPs convention. The
TensorFlow twin is the same model (the parity tests prove it), so the count holds for
both. It is deterministic: a change that adds work shows up here with no timing noise.
"""

from __future__ import annotations

import numpy as np

from implementations.spec import GanSpec


def train_step_flops(gan_spec: GanSpec, batch_size: int, seed: int = 0) -> int:
    """FLOPs of one train_step at `batch_size` (a multiply-add counts as 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    from implementations import registry
    from implementations.api import BuildOptions, balanced_labels

    gan = registry.build("torch", gan_spec.variant, gan_spec, BuildOptions(seed=seed))
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, (batch_size, *gan_spec.image_shape)).astype(np.float32)
    labels = balanced_labels(batch_size, gan_spec.num_classes)
    semi_supervised = gan_spec.label_use == "semi_supervised"
    mask = np.arange(batch_size) < batch_size // 2 if semi_supervised else None
    staged = gan.to_device(images, labels, mask)
    with FlopCounterMode(display=False) as counter:
        gan.train_step(*staged)
    return int(counter.get_total_flops())
