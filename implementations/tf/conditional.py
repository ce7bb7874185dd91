"""Conditional GAN (Mirza & Osindero 2014) in TensorFlow: the label joins z and x.

Both networks are vanilla's MLPs; the one-hot label is concatenated to the
generator's z and to the discriminator's flattened image. Training is
vanilla's step, with the batch's real labels given to both networks.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from implementations.api import BuildOptions, balanced_labels
from implementations.spec import GanSpec
from implementations.tf.vanilla import VanillaGAN


class ConditionalGAN(VanillaGAN):
    """Vanilla's networks and loss, conditioned on the one-hot label."""

    def one_hot(self, labels: tf.Tensor | None, n: tf.Tensor) -> tf.Tensor:
        """One-hot labels times spec.label_scale; no labels (the image alone) is all zeros."""
        if labels is None:
            return tf.zeros((n, self.spec.num_classes))
        return self.spec.label_scale * tf.one_hot(labels, self.spec.num_classes, dtype=tf.float32)

    def generator_input(self, z: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        return tf.concat([z, self.one_hot(labels, tf.shape(z)[0])], axis=1)

    def discriminator_input(self, images: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        # NHWC flattened in (H, W, C) order, as the spec's Flatten does.
        flat = tf.reshape(images, (tf.shape(images)[0], -1))
        return tf.concat([flat, self.one_hot(labels, tf.shape(images)[0])], axis=1)

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        if labels is None:
            labels = balanced_labels(n, self.spec.num_classes)
        return super().sample(n, labels, seed)


def build(spec: GanSpec, options: BuildOptions) -> ConditionalGAN:
    return ConditionalGAN(spec, options)
