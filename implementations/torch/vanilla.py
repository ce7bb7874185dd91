"""Vanilla GAN (Goodfellow et al. 2014) in PyTorch: MLP G and D, non-saturating loss.

Algorithm 1 of the paper: k discriminator steps, then one generator step that
maximises log D(G(z)) (the non-saturating form the paper recommends in
section 3) instead of minimising log(1 - D(G(z))).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.torch.common import TorchGAN


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], each term a mean over the batch."""
    real_loss = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real_loss + fake_loss


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """-log D(G(z)): the non-saturating generator loss."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


class VanillaGAN(TorchGAN):
    """Generator and discriminator trained with the non-saturating loss.

    dcgan, lsgan and conditional reuse this train_step: they change the
    networks (spec), the losses (the two class attributes) or what the
    networks see (generator_input / discriminator_input).
    """

    d_loss_function = staticmethod(discriminator_loss)
    g_loss_function = staticmethod(generator_loss)

    def train_step(
        self, images: torch.Tensor, labels: torch.Tensor, labelled_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        batch_size = images.shape[0]
        real_input = self.discriminator_input(images, labels)
        # Discriminator: k steps on the same real batch, fresh z each time.
        for _ in range(self.spec.d_steps_per_g_step):
            with torch.no_grad():
                fake = self.g_forward(self.generator_input(self.noise(batch_size), labels))
            real_logits = self.d_forward(real_input)
            fake_logits = self.d_forward(self.discriminator_input(fake, labels))
            d_loss = self.d_loss_function(real_logits, fake_logits)
            self.d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_optimizer.step()
        # Generator: one step through a frozen discriminator.
        self.discriminator.requires_grad_(False)
        fake = self.g_forward(self.generator_input(self.noise(batch_size), labels))
        fake_logits = self.d_forward(self.discriminator_input(fake, labels))
        g_loss = self.g_loss_function(fake_logits)
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.discriminator.requires_grad_(True)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}


def build(spec: GanSpec, options: BuildOptions) -> VanillaGAN:
    return VanillaGAN(spec, options)
