"""Semi-supervised GAN (Salimans et al. 2016) in PyTorch: K class logits, feature matching.

Section 5 of "Improved Techniques for Training GANs": D is a K-class
classifier whose implicit (K+1)-th "fake" class has its logit fixed at 0, so
with l = D's K logits, D(x) = Z / (Z + 1) for Z = sum_k exp(l_k), and the
real-vs-fake logit is logsumexp(l). D minimises the supervised cross-entropy
of the labelled examples plus the unsupervised GAN loss; G minimises feature
matching (section 3.1) on D's last hidden layer.

Only the labels that labelled_mask marks are ever read: examples are selected
by weighting with the mask, never by indexing with a label or a boolean mask,
so shapes stay static (no device sync, no recompilation). The unsupervised
terms see the unlabelled examples of the batch (all of it when it has none);
the generated batch is as large as the whole batch, a static size.
With spec.loss == "semi_supervised_baseline" only D's supervised term is
trained: the same classifier on the same labels alone, for comparison.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import logsumexp

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.torch.common import TorchGAN

BASELINE_LOSS = "semi_supervised_baseline"


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The mean of `values` over the batch axis, example i counted weights[i] times."""
    weights = weights.reshape(-1, *([1] * (values.dim() - 1)))
    return (values * weights).sum(0) / weights.sum()


def unlabelled_weights(labelled_mask: torch.Tensor) -> torch.Tensor:
    """1 for the examples the unsupervised terms see: the unlabelled ones, or all if none is."""
    unlabelled = (~labelled_mask).float()
    return torch.where(unlabelled.sum() > 0, unlabelled, torch.ones_like(unlabelled))


def supervised_loss(
    class_logits: torch.Tensor, labels: torch.Tensor, labelled_mask: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of the labelled examples, a mean over them (0 when there are none)."""
    # Unlabelled slots carry -1: a class index of 0 stands in, and their weight is 0.
    safe_labels = torch.where(labelled_mask, labels, torch.zeros_like(labels))
    per_example = F.cross_entropy(class_logits, safe_labels, reduction="none")
    weights = labelled_mask.float()
    return (per_example * weights).sum() / weights.sum().clamp(min=1.0)


def unsupervised_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, real_weights: torch.Tensor
) -> torch.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], each term a mean, with D(x) = Z / (Z + 1).

    Stable forms: log D(x) = lse(l) - softplus(lse(l)), log(1 - D(x)) = -softplus(lse(l)).
    """
    real_lse = torch.logsumexp(real_logits, dim=1)
    fake_lse = torch.logsumexp(fake_logits, dim=1)
    real_log_d = real_lse - F.softplus(real_lse)
    fake_log_one_minus_d = -F.softplus(fake_lse)
    return -weighted_mean(real_log_d, real_weights) - fake_log_one_minus_d.mean()


def feature_matching_loss(
    real_features: torch.Tensor, fake_features: torch.Tensor, real_weights: torch.Tensor
) -> torch.Tensor:
    """||mean f(x) - mean f(G(z))||^2 on D's last hidden layer; the real side is a constant."""
    real_mean = weighted_mean(real_features, real_weights).detach()
    fake_mean = fake_features.mean(0)
    return (real_mean - fake_mean).square().sum()


class SemiSupervisedGAN(TorchGAN):
    """D a K-class classifier with an implicit fake class; G trained by feature matching."""

    def train_step(
        self, images: torch.Tensor, labels: torch.Tensor, labelled_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if self.spec.loss == BASELINE_LOSS:
            return self.supervised_step(images, labels, labelled_mask)
        batch_size = images.shape[0]
        real_weights = unlabelled_weights(labelled_mask)
        # Discriminator: supervised on the labelled examples, unsupervised on the rest.
        with torch.no_grad():
            fake = self.g_forward(self.noise(batch_size))
        real_logits = self.d_forward(images)
        fake_logits = self.d_forward(fake)
        d_supervised_loss = supervised_loss(real_logits, labels, labelled_mask)
        d_unsupervised_loss = unsupervised_loss(real_logits, fake_logits, real_weights)
        d_loss = d_supervised_loss + d_unsupervised_loss
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        # Generator: feature matching through a frozen discriminator.
        self.discriminator.requires_grad_(False)
        with torch.no_grad():
            real_features = self.d_forward_with_features(images)[1]
        fake = self.g_forward(self.noise(batch_size))
        fake_features = self.d_forward_with_features(fake)[1]
        g_loss = feature_matching_loss(real_features, fake_features, real_weights)
        self.g_optimizer.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_optimizer.step()
        self.discriminator.requires_grad_(True)
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_supervised_loss": d_supervised_loss.detach(),
            "d_unsupervised_loss": d_unsupervised_loss.detach(),
        }

    def supervised_step(
        self, images: torch.Tensor, labels: torch.Tensor, labelled_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The baseline: D's cross-entropy on the labelled examples alone; G stays untouched."""
        real_logits = self.d_forward(images)
        d_loss = supervised_loss(real_logits, labels, labelled_mask)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
        return {"d_loss": d_loss.detach(), "g_loss": torch.zeros((), device=self.device)}

    def classify(self, images: np.ndarray) -> np.ndarray:
        return self._discriminator_outputs(images)[0]

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """The real-vs-fake logit logsumexp(l): D(x) = sigmoid of it."""
        return logsumexp(self.classify(images), axis=1).astype(np.float32)


def build(spec: GanSpec, options: BuildOptions) -> SemiSupervisedGAN:
    return SemiSupervisedGAN(spec, options)
