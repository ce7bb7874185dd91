"""Conditional GAN (Mirza & Osindero 2014) in PyTorch: the label joins z and x.

Both networks are vanilla's MLPs; the one-hot label is concatenated to the
generator's z and to the discriminator's flattened image. Training is
vanilla's step, with the batch's real labels given to both networks.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from implementations.api import BuildOptions, balanced_labels
from implementations.spec import GanSpec
from implementations.torch.vanilla import VanillaGAN


class ConditionalGAN(VanillaGAN):
    """Vanilla's networks and loss, conditioned on the one-hot label."""

    def one_hot(self, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        """One-hot labels times spec.label_scale; no labels (the image alone) is all zeros."""
        if labels is None:
            return torch.zeros((n, self.spec.num_classes), device=self.device)
        return self.spec.label_scale * F.one_hot(labels, self.spec.num_classes).to(torch.float32)

    def generator_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([z, self.one_hot(labels, z.shape[0])], dim=1)

    def discriminator_input(
        self, images: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        # NHWC flattened in (H, W, C) order, as the spec's Flatten does.
        flat = images.reshape(images.shape[0], -1)
        return torch.cat([flat, self.one_hot(labels, images.shape[0])], dim=1)

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        if labels is None:
            labels = balanced_labels(n, self.spec.num_classes)
        return super().sample(n, labels, seed)


def build(spec: GanSpec, options: BuildOptions) -> ConditionalGAN:
    return ConditionalGAN(spec, options)
