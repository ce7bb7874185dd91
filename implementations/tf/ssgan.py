"""Semi-supervised GAN (Salimans et al. 2016) in TensorFlow: K class logits, feature matching.

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
import tensorflow as tf
from scipy.special import logsumexp

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.tf.common import TfGAN

BASELINE_LOSS = "semi_supervised_baseline"


def weighted_mean(values: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """The mean of `values` over the batch axis, example i counted weights[i] times."""
    weights = tf.reshape(weights, [-1] + [1] * (len(values.shape) - 1))
    return tf.reduce_sum(values * weights, axis=0) / tf.reduce_sum(weights)


def unlabelled_weights(labelled_mask: tf.Tensor) -> tf.Tensor:
    """1 for the examples the unsupervised terms see: the unlabelled ones, or all if none is."""
    unlabelled = tf.cast(tf.logical_not(labelled_mask), tf.float32)
    return tf.where(tf.reduce_sum(unlabelled) > 0, unlabelled, tf.ones_like(unlabelled))


def supervised_loss(
    class_logits: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
) -> tf.Tensor:
    """Cross-entropy of the labelled examples, a mean over them (0 when there are none)."""
    # Unlabelled slots carry -1: a class index of 0 stands in, and their weight is 0.
    safe_labels = tf.where(labelled_mask, labels, tf.zeros_like(labels))
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(safe_labels, class_logits)
    weights = tf.cast(labelled_mask, tf.float32)
    return tf.reduce_sum(per_example * weights) / tf.maximum(tf.reduce_sum(weights), 1.0)


def unsupervised_loss(
    real_logits: tf.Tensor, fake_logits: tf.Tensor, real_weights: tf.Tensor
) -> tf.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], each term a mean, with D(x) = Z / (Z + 1).

    Stable forms: log D(x) = lse(l) - softplus(lse(l)), log(1 - D(x)) = -softplus(lse(l)).
    """
    real_lse = tf.reduce_logsumexp(real_logits, axis=1)
    fake_lse = tf.reduce_logsumexp(fake_logits, axis=1)
    real_log_d = real_lse - tf.nn.softplus(real_lse)
    fake_log_one_minus_d = -tf.nn.softplus(fake_lse)
    return -weighted_mean(real_log_d, real_weights) - tf.reduce_mean(fake_log_one_minus_d)


def feature_matching_loss(
    real_features: tf.Tensor, fake_features: tf.Tensor, real_weights: tf.Tensor
) -> tf.Tensor:
    """||mean f(x) - mean f(G(z))||^2 on D's last hidden layer; the real side is a constant."""
    real_mean = tf.stop_gradient(weighted_mean(real_features, real_weights))
    fake_mean = tf.reduce_mean(fake_features, axis=0)
    return tf.reduce_sum(tf.square(real_mean - fake_mean))


class SemiSupervisedGAN(TfGAN):
    """D a K-class classifier with an implicit fake class; G trained by feature matching."""

    def train_step(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        if self.spec.loss == BASELINE_LOSS:
            return self.supervised_step(images, labels, labelled_mask)
        batch_size = images.shape[0]
        real_weights = unlabelled_weights(labelled_mask)
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        # Discriminator: supervised on the labelled examples, unsupervised on the rest.
        fake = tf.stop_gradient(self.generator(self.noise(batch_size), training=True))
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(images, training=True)
            fake_logits = self.discriminator(fake, training=True)
            d_supervised_loss = supervised_loss(real_logits, labels, labelled_mask)
            d_unsupervised_loss = unsupervised_loss(real_logits, fake_logits, real_weights)
            d_loss = d_supervised_loss + d_unsupervised_loss
        d_gradients = tape.gradient(d_loss, d_variables)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_variables, strict=True))
        # Generator: feature matching through a frozen discriminator.
        real_features = self.discriminator.forward_with_features(images, training=True)[1]
        with tf.GradientTape() as tape:
            fake = self.generator(self.noise(batch_size), training=True)
            fake_features = self.discriminator.forward_with_features(fake, training=True)[1]
            g_loss = feature_matching_loss(real_features, fake_features, real_weights)
        g_gradients = tape.gradient(g_loss, g_variables)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_variables, strict=True))
        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_supervised_loss": d_supervised_loss,
            "d_unsupervised_loss": d_unsupervised_loss,
        }

    def supervised_step(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The baseline: D's cross-entropy on the labelled examples alone; G stays untouched."""
        d_variables = self.discriminator.trainable_variables
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(images, training=True)
            d_loss = supervised_loss(real_logits, labels, labelled_mask)
        d_gradients = tape.gradient(d_loss, d_variables)
        self.d_optimizer.apply_gradients(zip(d_gradients, d_variables, strict=True))
        return {"d_loss": d_loss, "g_loss": tf.zeros(())}

    def classify(self, images: np.ndarray) -> np.ndarray:
        return self._discriminator_outputs(images)[0]

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """The real-vs-fake logit logsumexp(l): D(x) = sigmoid of it."""
        return logsumexp(self.classify(images), axis=1).astype(np.float32)


def build(spec: GanSpec, options: BuildOptions) -> SemiSupervisedGAN:
    return SemiSupervisedGAN(spec, options)
