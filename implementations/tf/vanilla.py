"""Vanilla GAN (Goodfellow et al. 2014) in TensorFlow: MLP G and D, non-saturating loss.

Algorithm 1 of the paper: k discriminator steps, then one generator step that
maximises log D(G(z)) (the non-saturating form the paper recommends in
section 3) instead of minimising log(1 - D(G(z))).
"""

from __future__ import annotations

import tensorflow as tf

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.tf.common import TfGAN


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """-[log D(x) + log(1 - D(G(z)))], each term a mean over the batch."""
    real_loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(real_logits), real_logits)
    )
    fake_loss = tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.zeros_like(fake_logits), fake_logits)
    )
    return real_loss + fake_loss


def generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(z)): the non-saturating generator loss."""
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(tf.ones_like(fake_logits), fake_logits)
    )


class VanillaGAN(TfGAN):
    """Generator and discriminator trained with the non-saturating loss.

    dcgan, lsgan and conditional reuse this train_step: they change the
    networks (spec), the losses (the two class attributes) or what the
    networks see (generator_input / discriminator_input).
    """

    d_loss_function = staticmethod(discriminator_loss)
    g_loss_function = staticmethod(generator_loss)

    def train_step(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        batch_size = tf.shape(images)[0]
        real_input = self.discriminator_input(images, labels)
        d_variables = self.discriminator.trainable_variables
        g_variables = self.generator.trainable_variables
        # Discriminator: k steps on the same real batch, fresh z each time.
        for _ in range(self.spec.d_steps_per_g_step):
            fake = tf.stop_gradient(
                self.generator(self.generator_input(self.noise(batch_size), labels), training=True)
            )
            with tf.GradientTape() as tape:
                real_logits = self.discriminator(real_input, training=True)
                fake_logits = self.discriminator(
                    self.discriminator_input(fake, labels), training=True
                )
                d_loss = self.d_loss_function(real_logits, fake_logits)
            d_gradients = tape.gradient(d_loss, d_variables)
            self.d_optimizer.apply_gradients(zip(d_gradients, d_variables, strict=True))
        # Generator: one step through a frozen discriminator.
        with tf.GradientTape() as tape:
            fake = self.generator(
                self.generator_input(self.noise(batch_size), labels), training=True
            )
            fake_logits = self.discriminator(self.discriminator_input(fake, labels), training=True)
            g_loss = self.g_loss_function(fake_logits)
        g_gradients = tape.gradient(g_loss, g_variables)
        self.g_optimizer.apply_gradients(zip(g_gradients, g_variables, strict=True))
        return {"d_loss": d_loss, "g_loss": g_loss}


def build(spec: GanSpec, options: BuildOptions) -> VanillaGAN:
    return VanillaGAN(spec, options)
